"""Registers the GAN under ``"gan"``; its class-conditional digits weights ship in ``weights/``."""

from __future__ import annotations

from typing import Any

from genproto.data import TOY2D_NAMES
from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto_gan.model import GAN, capabilities

#: The factory's options. The first three fix the architecture (and so which weights fit);
#: the rest are training choices, kept as options so the ablations can be rerun.
OPTIONS = (
    Option("dataset", str, "digits", "what to model: the 8x8 digits or a toy 2-D density",
           choices=("digits", *TOY2D_NAMES)),
    Option("latent_dim", int, 64, "size of the latent z", minimum=1, maximum=4096),
    Option("hidden", int, 256, "width of the generator's and discriminator's layers",
           minimum=1, maximum=8192),
    Option("loss", str, "hinge", "the adversarial loss", choices=("hinge", "nonsaturating")),
    Option("spectral_norm", bool, True, "spectral normalisation of the discriminator"),
    Option("lr_ratio", float, 4.0,
           "discriminator / generator learning rate (two time-scales; 1 = one time-scale)",
           minimum=0.0, exclusive_minimum=True, maximum=100.0),
    Option("ema_decay", float, 0.999,
           "decay of the EMA of the generator's weights that samples (0 = no averaging)",
           minimum=0.0, maximum=0.99999),
)
SHIPPED = Shipped("genproto_gan", "weights/digits",
                  {"dataset": "digits", "latent_dim": 64, "hidden": 256, "spectral_norm": True})


@hookimpl
def register_models(register: Any) -> None:
    register("gan", GAN, capabilities=capabilities, options=OPTIONS, shipped=SHIPPED,
             description="class-conditional GAN on 8x8 digits (projection discriminator, "
             "spectral norm, two time-scales, EMA generator); no likelihood; one generator pass")
