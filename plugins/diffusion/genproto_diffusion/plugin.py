"""Registers the diffusion model under ``"diffusion"`` (genproto's score-based paradigm).

``dataset="digits"`` (the default) is class-conditional on the 8x8 digits; a toy 2-D name gives
an unconditional model whose likelihood is the probability-flow ODE estimate. ``digits``,
``eight_gaussians``, ``grid25`` and ``two_moons`` ship weights at their default sizes.
"""

from __future__ import annotations

from typing import Any

from genproto.data import TOY2D_NAMES
from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto_diffusion.model import build, capabilities

OPTIONS = (
    Option("dataset", str, "digits", "what to model: the digits or a toy 2-D density",
           choices=("digits", *TOY2D_NAMES)),
    Option("hidden", int, None, "hidden units of the denoiser (default: 256 digits, 128 toy)",
           minimum=8, maximum=4096, nullable=True),
    Option("blocks", int, None, "residual blocks of the denoiser (default: 3)",
           minimum=1, maximum=64, nullable=True),
    Option("init_seed", int, 0, "seed of the denoiser's initialisation", minimum=0,
           aliases=("seed",)),
)
SHIPPED = tuple(
    Shipped("genproto_diffusion", ("weights", dataset),
            {"dataset": dataset, "hidden": (None, hidden), "blocks": (None, 3), "init_seed": 0})
    for dataset, hidden in (("digits", 256), ("eight_gaussians", 128), ("grid25", 128),
                            ("two_moons", 128))
)


@hookimpl
def register_models(register: Any) -> None:
    register("diffusion", build, capabilities=capabilities, options=OPTIONS, shipped=SHIPPED,
             description="denoising diffusion (DDPM training, DDIM/DDPM sampling, classifier-free "
             "guidance, variational bound; probability-flow ODE likelihood on toy 2-D data)")
