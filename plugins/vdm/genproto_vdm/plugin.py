"""Registers the variational diffusion model under ``"vdm"``.

``dataset="digits"`` (the default) is the class-conditional model of the 8x8 digits
(:mod:`genproto_vdm.digits`); a toy 2-D name gives an unconditional model of that density
(:mod:`genproto_vdm.points`), whose likelihoods can be held against the exact one.
``likelihood="bound"`` (the default) declares the continuous-time variational bound,
``likelihood="ode"`` the probability-flow ODE estimate of the same weights: one trained model,
both of the cheatsheet's routes to a diffusion likelihood. ``digits``, ``grid25`` and
``two_moons`` ship weights at their default sizes.
"""

from __future__ import annotations

from typing import Any

from genproto.data import TOY2D_NAMES
from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto.protocol import Capabilities
from genproto_vdm import digits, points
from genproto_vdm.model import LIKELIHOODS, VariationalDiffusion

OPTIONS = (
    Option("dataset", str, "digits", "what to model: the digits, or a toy 2-D density",
           choices=("digits", *TOY2D_NAMES)),
    Option("likelihood", str, "bound", "what log_likelihood returns: the variational bound, or "
           "the probability-flow ODE estimate (same weights)", choices=LIKELIHOODS),
    Option("hidden", int, None, f"width of the denoiser's residual stream (default: "
           f"{digits.HIDDEN} digits, {points.HIDDEN} toy)", minimum=8, maximum=4096,
           nullable=True),
    Option("blocks", int, None, f"residual blocks of the denoiser (default: {digits.BLOCKS})",
           minimum=1, maximum=64, nullable=True),
    Option("local", int, None, f"channels of the digits denoiser's convolutional branch (0: "
           f"none; default {digits.LOCAL}; toy models have none)", minimum=0, maximum=1024,
           nullable=True),
    Option("init_seed", int, 0, "seed of the networks' initialisation", minimum=0),
)
#: The toy densities whose weights ship (those of ``genproto compare --data points``).
SHIPPED_POINTS = ("grid25", "two_moons")
SHIPPED = (
    Shipped("genproto_vdm", ("weights", "digits"),
            {"dataset": "digits", "hidden": (None, digits.HIDDEN),
             "blocks": (None, digits.BLOCKS), "local": (None, digits.LOCAL), "init_seed": 0}),
    *(Shipped("genproto_vdm", ("weights", name),
              {"dataset": name, "hidden": (None, points.HIDDEN), "blocks": (None, points.BLOCKS),
               "local": (None, 0), "init_seed": 0})
      for name in SHIPPED_POINTS),
)


def _capabilities(dataset: str = "digits", likelihood: str = "bound", **_: Any) -> Capabilities:
    if dataset == "digits":
        return digits.capabilities(likelihood)
    return points.capabilities(dataset, likelihood)


def build(dataset: str = "digits", likelihood: str = "bound", hidden: int | None = None,
          blocks: int | None = None, local: int | None = None, init_seed: int = 0
          ) -> VariationalDiffusion:
    """The factory: the digits VDM, or the VDM of a toy 2-D density."""
    if dataset == "digits":
        return digits.VDM(hidden=hidden or digits.HIDDEN, blocks=blocks or digits.BLOCKS,
                          local=digits.LOCAL if local is None else local,
                          likelihood=likelihood, init_seed=init_seed)
    if local:
        from genproto.errors import InvalidArgumentError

        raise InvalidArgumentError("vdm option 'local' on a toy 2-D density", value=local,
                                   allowed="0 or None: the convolutional branch reads the 8x8 "
                                   "grid of the digits", fix="Leave 'local' out")
    return points.PointsVDM(dataset, hidden=hidden or points.HIDDEN,
                            blocks=blocks or points.BLOCKS, likelihood=likelihood,
                            init_seed=init_seed)


@hookimpl
def register_models(register: Any) -> None:
    register("vdm", build, capabilities=_capabilities, options=OPTIONS, shipped=SHIPPED,
             description="variational diffusion model (Kingma et al. 2021): continuous-time bound "
             "with a learned noise schedule and a discrete (digits) or Gaussian (2-D points) "
             "decoder; probability-flow ODE estimate with likelihood='ode'")
