"""genproto's contract suite on the shipped VAE.

No ``tiny=`` configuration: the toy 2-D VAE is unconditional, which the conditioning property
rejects for a conditional model, and the digits VAE has no enumerable event space; the bound
checks live in test_vae_model.py (ELBO <= IWAE_10 <= IWAE_100 < 0 on test digits).
"""

from __future__ import annotations

import genproto
from genproto.testing import contract_tests


def _shipped() -> object:
    return genproto.registry.get("vae")


globals().update(contract_tests(factory=_shipped))
