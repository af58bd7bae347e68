"""genproto-ar: the autoregressive paradigm, on digits and on 2-D points.

``genproto.registry.get("ar")`` builds :class:`~genproto_ar.model.PixelAR`, a transformer over the
64 pixels of a digit, with the shipped weights; ``genproto.registry.get("ar", dataset="grid25")``
(or ``"two_moons"``) builds :class:`~genproto_ar.points.PointsAR`, the chain rule
p(x1) p(x2 | x1) with mixture-of-Gaussian conditionals. See the two modules for the maths.
"""

from genproto_ar.model import PixelAR
from genproto_ar.points import PointsAR

__all__ = ["PixelAR", "PointsAR"]
__version__ = "0.1.0"
