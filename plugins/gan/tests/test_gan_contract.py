"""genproto's contract suite on the shipped GAN: one test per property (genproto.testing)."""

from genproto_gan.plugin import build

from genproto.testing import contract_tests

globals().update(contract_tests(factory=build))
