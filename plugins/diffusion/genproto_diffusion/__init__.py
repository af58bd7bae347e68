"""genproto-diffusion: a denoising diffusion model for genproto (see ``model.py``), and a masked
discrete diffusion of the Census names (``names.py``)."""

from genproto_diffusion.model import Diffusion, DigitsDiffusion, ToyDiffusion
from genproto_diffusion.names import NamesDiffusion

__all__ = ["Diffusion", "DigitsDiffusion", "NamesDiffusion", "ToyDiffusion"]
__version__ = "0.1.0"
