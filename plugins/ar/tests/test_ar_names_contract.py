"""genproto's contract suite on the shipped names configuration of ``ar``.

No ``tiny=`` configuration: the event space, 16 tokens of 27, is far too large to enumerate, so
the suite's normalisation sub-check is skipped; test_ar_names.py checks instead that the
probabilities of an exhaustive split of the space (every name of at most one letter, every
two-letter prefix) sum to one. The suite checks the counted cost (at most 15 evaluations a
sample), samples that do not depend on the batch size, the class marginal and typed errors.
"""

from __future__ import annotations

import genproto
from genproto.testing import contract_tests


def _names() -> object:
    return genproto.registry.get("ar", dataset="names")


globals().update(contract_tests(factory=_names))
