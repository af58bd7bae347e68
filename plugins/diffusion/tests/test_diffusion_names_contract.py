"""genproto's contract suite on the shipped names configuration of ``diffusion``.

The 27^16 rows are too many to sum, so the suite notes that normalisation is not checked (the
names tests sum the bound over every name of up to two letters instead); it checks the declared
cost of K = 32 evaluations, that samples do not depend on the batch size, the class condition,
the bound's values and typed errors for bad input.
"""

from __future__ import annotations

import genproto
from genproto.testing import contract_tests


def _names() -> genproto.GenerativeModel:
    return genproto.registry.get("diffusion", dataset="names")


globals().update(contract_tests(factory=_names))
