"""genproto-gan: the adversarial paradigm for genproto.

A class-conditional GAN on the 8x8 digits (:mod:`genproto_gan.model`), registered
as ``"gan"`` (:mod:`genproto_gan.plugin`), with trained weights in ``weights/digits``.
"""

from genproto_gan.model import GAN, capabilities

__all__ = ["GAN", "capabilities"]
__version__ = "0.1.0"
