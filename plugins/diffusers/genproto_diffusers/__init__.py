"""genproto-diffusers: any local diffusers UNet and scheduler behind the protocol.

``genproto.registry.get("diffusers", path="DIR")`` wraps the UNet and scheduler saved in
``DIR`` (:class:`~genproto_diffusers.model.DiffusersModel`); ``registry.get("digits-unet")``
is the shipped class-conditional UNet of the 8x8 digits. No network access, ever.
"""

from genproto_diffusers.model import DiffusersModel

__all__ = ["DiffusersModel"]
__version__ = "0.1.0"
