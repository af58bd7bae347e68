"""genproto's contract suite on the shipped ``ar`` model: one test per property (genproto.testing).

No ``tiny=`` configuration: the model's event space is fixed at 8x8 pixels with 17 levels, too
large to enumerate, so the suite's normalisation sub-check is skipped; test_ar_model.py checks
that every one of the 64 conditionals sums to one instead.
"""

import genproto
from genproto.testing import contract_tests


def _shipped() -> genproto.Model:
    return genproto.registry.get("ar")


globals().update(contract_tests(factory=_shipped))
