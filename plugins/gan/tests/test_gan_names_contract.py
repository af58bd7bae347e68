"""genproto's contract suite on the shipped names configuration of ``gan`` (the text GAN).

No likelihood, so the suite checks that ``log_likelihood`` is a typed error; samples are
canonical rows of the names event, one counted generator evaluation a sample, the same rows
whatever the batch size, and bad input (a class 3, bad options) is a typed error.
"""

from __future__ import annotations

import genproto
from genproto.protocol import GenerativeModel
from genproto.testing import contract_tests


def _names() -> GenerativeModel:
    return genproto.registry.get("gan", dataset="names")


globals().update(contract_tests(factory=_names))
