"""genproto-ar: the autoregressive paradigm, a transformer over the 64 pixels of a digit.

``genproto.registry.get("ar")`` builds :class:`~genproto_ar.model.PixelAR` with the shipped
weights; see :mod:`genproto_ar.model` for the maths.
"""

from genproto_ar.model import PixelAR

__all__ = ["PixelAR"]
__version__ = "0.1.0"
