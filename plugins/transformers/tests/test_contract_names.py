"""genproto's contract suite on the shipped ``names`` model."""

import genproto
from genproto.testing import contract_tests


def _shipped() -> genproto.Model:
    return genproto.registry.get("names", device="cpu")


globals().update(contract_tests(factory=_shipped))
