"""Registers the diffusion model under ``"diffusion"`` (genproto's score-based paradigm).

``dataset="digits"`` (the default) is class-conditional on the 8x8 digits; a toy 2-D name gives
an unconditional model whose likelihood is the probability-flow ODE estimate; ``"names"`` is the
class-conditional masked (absorbing-state) discrete diffusion of the Census names
(:mod:`genproto_diffusion.names`). ``digits``, ``eight_gaussians``, ``grid25``, ``two_moons``
and ``names`` ship weights at their default sizes.
"""

from __future__ import annotations

from typing import Any

from genproto.data import TOY2D_NAMES
from genproto.hookspecs import hookimpl
from genproto.model import Model
from genproto.options import Option, Shipped
from genproto.protocol import Capabilities
from genproto_diffusion import model, names

OPTIONS = (
    Option("dataset", str, "digits", "what to model: the digits, a toy 2-D density, or the "
           "Census names (masked discrete diffusion)", choices=("digits", *TOY2D_NAMES, "names")),
    Option("hidden", int, None, "hidden units of the denoiser (default: 256 digits, 128 toy, "
           f"width {names.HIDDEN} names)", minimum=8, maximum=4096, nullable=True),
    Option("blocks", int, None, "residual blocks of the denoiser (default: 3; transformer "
           f"blocks on names: {names.LAYERS})", minimum=1, maximum=64, nullable=True),
    Option("init_seed", int, 0, "seed of the denoiser's initialisation", minimum=0,
           aliases=("seed",)),
)
SHIPPED = (
    *(Shipped("genproto_diffusion", ("weights", dataset),
              {"dataset": dataset, "hidden": (None, hidden), "blocks": (None, 3), "init_seed": 0})
      for dataset, hidden in (("digits", 256), ("eight_gaussians", 128), ("grid25", 128),
                              ("two_moons", 128))),
    Shipped("genproto_diffusion", ("weights", "names"),
            {"dataset": "names", "hidden": (None, names.HIDDEN), "blocks": (None, names.LAYERS),
             "init_seed": 0}),
)


def capabilities(dataset: str = "digits") -> Capabilities:
    """What ``diffusion`` declares on ``dataset``."""
    return names.capabilities() if dataset == "names" else model.capabilities(dataset)


def build(dataset: str = "digits", hidden: int | None = None, blocks: int | None = None,
          init_seed: int = 0) -> Model:
    """The factory: the digits or toy model (:func:`genproto_diffusion.model.build`), or the
    names diffusion (:func:`genproto_diffusion.names.build`)."""
    if dataset == "names":
        return names.build(hidden=hidden, blocks=blocks, init_seed=init_seed)
    return model.build(dataset=dataset, hidden=hidden, blocks=blocks, init_seed=init_seed)


@hookimpl
def register_models(register: Any) -> None:
    register("diffusion", build, capabilities=capabilities, options=OPTIONS, shipped=SHIPPED,
             description="denoising diffusion (DDPM training, DDIM/DDPM sampling, classifier-free "
             "guidance, variational bound; probability-flow ODE likelihood on toy 2-D data; masked "
             "discrete diffusion of the Census names)")
