"""The genproto contract suite on the shipped diffusion models (digits and the toy ring)."""

import genproto
from genproto.testing import contract_tests


def _digits() -> genproto.Model:
    return genproto.registry.get("diffusion")


globals().update(contract_tests(factory=_digits))
