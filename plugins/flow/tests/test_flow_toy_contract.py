"""genproto's contract suite on the shipped toy flow (eight_gaussians, unconditional, exact).

On a 2-D continuous space the suite runs its exact-likelihood checks: the integral of
exp(log p) over the plane is 1 (quadrature at two resolutions), and the sampler agrees with the
density (the identity E_p[r/p] = 1, cell frequencies, the distribution of log p(X)).
"""

from __future__ import annotations

import genproto
from genproto.testing import contract_tests


def _eight_gaussians() -> object:
    return genproto.registry.get("flow", dataset="eight_gaussians")


globals().update(contract_tests(factory=_eight_gaussians))
