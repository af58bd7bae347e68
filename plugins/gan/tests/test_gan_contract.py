"""genproto's contract suite on the shipped GAN: one test per property (genproto.testing)."""

from genproto.testing import contract_tests
from genproto_gan.plugin import build

globals().update(contract_tests(factory=build))
