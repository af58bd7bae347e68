"""genproto's contract suite on the shipped GAN: one test per property (genproto.testing)."""

import genproto
from genproto.testing import contract_tests


def _shipped() -> genproto.Model:
    return genproto.registry.get("gan")


globals().update(contract_tests(factory=_shipped))
