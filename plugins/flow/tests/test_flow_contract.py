"""genproto's contract suite on the shipped digits flow (class-conditional, likelihood a bound).

The toy 2-D flow is checked in its own file (test_flow_toy_contract.py): as a ``tiny=`` here it
would be refused, since the suite requires the tiny configuration to declare the same likelihood
kind (the toy flow's is exact, the digits flow's a bound) and the same conditioning.
"""

from __future__ import annotations

import genproto
from genproto.testing import contract_tests


def _shipped() -> object:
    return genproto.registry.get("flow")


globals().update(contract_tests(factory=_shipped))
