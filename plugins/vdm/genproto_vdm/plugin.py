"""Registers the variational diffusion model under ``"vdm"``.

``likelihood="bound"`` (the default) declares the continuous-time variational bound,
``likelihood="ode"`` the probability-flow ODE estimate of the same weights: one trained model,
both of the cheatsheet's routes to a diffusion likelihood.
"""

from __future__ import annotations

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto.protocol import Capabilities
from genproto_vdm.model import BLOCKS, HIDDEN, LIKELIHOODS, LOCAL, VDM, capabilities

OPTIONS = (
    Option("likelihood", str, "bound", "what log_likelihood returns: the variational bound, or "
           "the probability-flow ODE estimate (same weights)", choices=LIKELIHOODS),
    Option("hidden", int, HIDDEN, "width of the denoiser's residual stream", minimum=8,
           maximum=4096),
    Option("blocks", int, BLOCKS, "residual blocks of the denoiser", minimum=1, maximum=64),
    Option("local", int, LOCAL, "channels of the denoiser's convolutional branch (0: none)",
           minimum=0, maximum=1024),
    Option("init_seed", int, 0, "seed of the networks' initialisation", minimum=0),
)
SHIPPED = Shipped("genproto_vdm", ("weights", "digits"),
                  {"hidden": HIDDEN, "blocks": BLOCKS, "local": LOCAL, "init_seed": 0})


def _capabilities(likelihood: str = "bound", **_: Any) -> Capabilities:
    return capabilities(likelihood)


@hookimpl
def register_models(register: Any) -> None:
    register("vdm", VDM, capabilities=_capabilities, options=OPTIONS, shipped=SHIPPED,
             description="variational diffusion model (Kingma et al. 2021): continuous-time bound "
             "with a learned noise schedule and a discrete decoder; probability-flow ODE "
             "estimate with likelihood='ode'")
