"""genproto's contract suite on the shipped VDM of grid25, its bound (the default route); the
suite's ``truth`` property holds the bound against the exact density."""

import genproto
from genproto.testing import contract_tests


def _grid25() -> genproto.Model:
    return genproto.registry.get("vdm", dataset="grid25")


globals().update(contract_tests(factory=_grid25))
