"""genproto's contract suite on the shipped names VAE (``dataset="names"``).

No ``tiny=`` configuration: 27^16 events cannot be enumerated; the sum-to-at-most-one check
over names of 0..2 letters lives in test_vae_names.py, as do ELBO <= IWAE and the truth.
"""

from __future__ import annotations

import genproto
from genproto.testing import contract_tests


def _names() -> object:
    return genproto.registry.get("vae", dataset="names")


globals().update(contract_tests(factory=_names))
