"""genproto-vdm: a variational diffusion model (Kingma et al. 2021) trained for likelihood."""

from genproto_vdm.model import VDM, capabilities

__all__ = ["VDM", "capabilities"]
