"""genproto-vdm: a variational diffusion model (Kingma et al. 2021) trained for likelihood."""

from genproto_vdm.digits import VDM, capabilities
from genproto_vdm.model import VariationalDiffusion
from genproto_vdm.points import PointsVDM

__all__ = ["VDM", "PointsVDM", "VariationalDiffusion", "capabilities"]
