"""genproto-diffusion: a denoising diffusion model for genproto (see ``model.py``)."""

from genproto_diffusion.model import Diffusion, DigitsDiffusion, ToyDiffusion

__all__ = ["Diffusion", "DigitsDiffusion", "ToyDiffusion"]
__version__ = "0.1.0"
