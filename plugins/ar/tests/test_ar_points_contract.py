"""genproto's contract suite on the shipped grid25 configuration of ``ar``.

On the plane the suite runs its exact-likelihood checks: the integral of exp(log p) is 1
(quadrature at two resolutions), and the sampler agrees with the density (the identity
E_p[r/p] = 1, cell frequencies, the distribution of log p(X)); the declared cost of 2 evaluations
a sample is counted, samples do not depend on the batch size, and bad input is a typed error.
"""

from __future__ import annotations

import genproto
from genproto.testing import contract_tests


def _grid25() -> object:
    return genproto.registry.get("ar", dataset="grid25")


globals().update(contract_tests(factory=_grid25))
