"""genproto's contract suite on the shipped VDM: the bound (default) and the ODE estimate."""

import genproto
from genproto.testing import contract_tests


def _bound() -> genproto.Model:
    return genproto.registry.get("vdm")


globals().update(contract_tests(factory=_bound))
