"""Registers latent diffusion under ``"latent_diffusion"``: genproto's first hybrid.

The autoencoder is the installed ``vae`` model, fetched from genproto's registry when the model
is built (see :func:`~genproto_latent_diffusion.model.build`); the capabilities are composed from
the two parts' by ``genproto.hybrid.latent_hybrid``.
"""

from __future__ import annotations

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto_latent_diffusion.model import DEFAULTS, build, capabilities

OPTIONS = (
    Option("hidden", int, DEFAULTS["hidden"], "hidden units of the latent denoiser",
           minimum=8, maximum=4096),
    Option("blocks", int, DEFAULTS["blocks"], "residual blocks of the latent denoiser",
           minimum=1, maximum=64),
    Option("init_seed", int, DEFAULTS["init_seed"], "seed of the latent denoiser's "
           "initialisation", minimum=0, aliases=("seed",)),
)


@hookimpl
def register_models(register: Any) -> None:
    register("latent_diffusion", build, capabilities=capabilities(), options=OPTIONS,
             shipped=Shipped("genproto_latent_diffusion", "weights/digits", DEFAULTS),
             description="latent diffusion (Rombach et al. 2022): the vae plugin's frozen "
             "autoencoder + a DDPM/DDIM prior on its 16-d latents; K + 1 evaluations, composed "
             "ELBO bound")
