"""genproto-gan: the adversarial paradigm for genproto.

A class-conditional GAN on the 8x8 digits and an unconditional one on toy 2-D densities
(:mod:`genproto_gan.model`), and a class-conditional WGAN-GP text GAN of the Census names
(:mod:`genproto_gan.names`), registered as ``"gan"`` (:mod:`genproto_gan.plugin`), with trained
weights in ``weights/<dataset>``.
"""

from genproto_gan.model import GAN, capabilities
from genproto_gan.names import NamesGAN

__all__ = ["GAN", "NamesGAN", "capabilities"]
__version__ = "0.1.0"
