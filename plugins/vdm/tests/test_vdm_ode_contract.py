"""genproto's contract suite on the shipped VDM of two_moons through its probability-flow ODE
route (``likelihood="ode"``, declared an estimate); ``truth`` holds it against the density."""

import genproto
from genproto.testing import contract_tests


def _two_moons_ode() -> genproto.Model:
    return genproto.registry.get("vdm", dataset="two_moons", likelihood="ode")


globals().update(contract_tests(factory=_two_moons_ode))
