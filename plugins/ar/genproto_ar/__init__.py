"""genproto-ar: the autoregressive paradigm, on digits, on 2-D points and on the Census names.

``genproto.registry.get("ar")`` builds :class:`~genproto_ar.model.PixelAR`, a transformer over the
64 pixels of a digit, with the shipped weights; ``genproto.registry.get("ar", dataset="grid25")``
(or ``"two_moons"``) builds :class:`~genproto_ar.points.PointsAR`, the chain rule
p(x1) p(x2 | x1) with mixture-of-Gaussian conditionals; ``dataset="names"`` builds
:class:`~genproto_ar.names.NamesAR`, a GRU over the characters of a Census name given its list.
See the three modules for the maths.
"""

from genproto_ar.model import PixelAR
from genproto_ar.names import NamesAR
from genproto_ar.points import PointsAR

__all__ = ["NamesAR", "PixelAR", "PointsAR"]
__version__ = "0.1.0"
