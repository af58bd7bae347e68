"""Registers the GAN under ``"gan"``; weights ship for the class-conditional digits and for the
unconditional toy 2-D ``grid25`` and ``two_moons``, in ``weights/<dataset>``."""

from __future__ import annotations

from typing import Any

from genproto.data import TOY2D_NAMES
from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto_gan.model import GAN, PRETRAINED, TOY_HIDDEN, capabilities

#: The factory's options. The first three fix the architecture (and so which weights fit);
#: the rest are training choices, kept as options so the ablations can be rerun.
OPTIONS = (
    Option("dataset", str, "digits", "what to model: the 8x8 digits or a toy 2-D density",
           choices=("digits", *TOY2D_NAMES)),
    Option("latent_dim", int, 64, "size of the latent z", minimum=1, maximum=4096),
    Option("hidden", int, None, "width of the generator's and discriminator's layers "
           f"(default: 256 on digits, {TOY_HIDDEN} on toy 2-D)", minimum=1, maximum=8192,
           nullable=True),
    Option("loss", str, "hinge", "the adversarial loss", choices=("hinge", "nonsaturating")),
    Option("spectral_norm", bool, True, "spectral normalisation of the discriminator"),
    Option("lr_ratio", float, 4.0,
           "discriminator / generator learning rate (two time-scales; 1 = one time-scale)",
           minimum=0.0, exclusive_minimum=True, maximum=100.0),
    Option("ema_decay", float, 0.999,
           "decay of the EMA of the generator's weights that samples (0 = no averaging)",
           minimum=0.0, maximum=0.99999),
)
SHIPPED = tuple(
    Shipped("genproto_gan", ("weights", name),
            {"dataset": name, "latent_dim": 64,
             "hidden": (None, 256 if name == "digits" else TOY_HIDDEN), "spectral_norm": True})
    for name in PRETRAINED
)


@hookimpl
def register_models(register: Any) -> None:
    register("gan", GAN, capabilities=capabilities, options=OPTIONS, shipped=SHIPPED,
             description="class-conditional GAN on 8x8 digits (projection discriminator, "
             "spectral norm, two time-scales, EMA generator); no likelihood; one generator pass")
