"""Registers the GAN under ``"gan"``: the class-conditional digits GAN, the unconditional toy 2-D
GAN and the class-conditional text GAN of the Census names (``dataset="names"``,
:mod:`genproto_gan.names`). Weights ship for digits, ``grid25``, ``two_moons`` and ``names`` in
``weights/<dataset>``.
"""

from __future__ import annotations

from typing import Any

from genproto.data import TOY2D_NAMES
from genproto.errors import OptionError
from genproto.hookspecs import hookimpl
from genproto.model import Model
from genproto.options import Option, Shipped
from genproto.protocol import Capabilities
from genproto_gan import model, names
from genproto_gan.model import GAN, PRETRAINED, TOY_HIDDEN

DATASETS: tuple[str, ...] = ("digits", *TOY2D_NAMES, "names")
#: Options of the image/points GAN that the names GAN (WGAN-GP, no spectral norm, one
#: learning rate) does not take, with their defaults; and the names GAN's own.
NOT_ON_NAMES: dict[str, Any] = {"loss": "hinge", "spectral_norm": True, "lr_ratio": 4.0}
NAMES_ONLY: dict[str, Any] = {"n_critic": None}

#: The factory's options. ``dataset``, ``latent_dim`` and ``hidden`` fix the architecture (and
#: so which weights fit); the rest are training choices, kept as options so ablations rerun.
OPTIONS = (
    Option("dataset", str, "digits", "what to model: the 8x8 digits, a toy 2-D density, or the "
           "Census names (class-conditional text GAN)", choices=DATASETS),
    Option("latent_dim", int, 64, "size of the latent z", minimum=1, maximum=4096),
    Option("hidden", int, None, "width of the generator's and discriminator's layers "
           f"(default: 256 on digits, {TOY_HIDDEN} on toy 2-D, {names.NAMES_HIDDEN} channels "
           "on names)", minimum=1, maximum=8192, nullable=True),
    Option("loss", str, "hinge", "the adversarial loss (digits, toy 2-D; names: WGAN-GP)",
           choices=("hinge", "nonsaturating")),
    Option("spectral_norm", bool, True,
           "spectral normalisation of the discriminator (digits, toy 2-D)"),
    Option("lr_ratio", float, 4.0,
           "discriminator / generator learning rate (two time-scales; 1 = one time-scale; "
           "digits, toy 2-D)", minimum=0.0, exclusive_minimum=True, maximum=100.0),
    Option("n_critic", int, None, "critic steps per generator step (names; default "
           f"{names.NAMES_N_CRITIC})", minimum=1, maximum=100, nullable=True),
    Option("ema_decay", float, 0.999,
           "decay of the EMA of the generator's weights that samples (0 = no averaging)",
           minimum=0.0, maximum=0.99999),
)
SHIPPED = (
    *(Shipped("genproto_gan", ("weights", name),
              {"dataset": name, "latent_dim": 64,
               "hidden": (None, 256 if name == "digits" else TOY_HIDDEN), "spectral_norm": True})
      for name in PRETRAINED),
    Shipped("genproto_gan", ("weights", "names"),
            {"dataset": "names", "latent_dim": 64, "hidden": (None, names.NAMES_HIDDEN)}),
)


def capabilities(dataset: str = "digits") -> Capabilities:
    """What ``gan`` declares on ``dataset``: no likelihood, one generator pass."""
    return names.names_capabilities() if dataset == "names" else model.capabilities(dataset)


def _refuse(dataset: str, given: dict[str, Any], defaults: dict[str, Any], why: str) -> None:
    for option, default in defaults.items():
        if given[option] != default:
            raise OptionError(f"model 'gan' option {option!r} on dataset {dataset!r}",
                              option=option, value=given[option],
                              allowed=f"{default!r}, the default ({why})",
                              fix=f"Leave {option!r} out on dataset {dataset!r}")


def build(*, dataset: str = "digits", latent_dim: int = 64, hidden: int | None = None,
          loss: str = "hinge", spectral_norm: bool = True, lr_ratio: float = 4.0,
          n_critic: int | None = None, ema_decay: float = 0.999) -> Model:
    """The factory: the digits / toy 2-D GAN or the names GAN, refusing the other's options."""
    given = {"loss": loss, "spectral_norm": spectral_norm, "lr_ratio": lr_ratio,
             "n_critic": n_critic}
    if dataset == "names":
        _refuse(dataset, given, NOT_ON_NAMES,
                "the names GAN is trained with WGAN-GP: no spectral norm, one learning rate")
        return names.NamesGAN(latent_dim=latent_dim, hidden=hidden, n_critic=n_critic,
                              ema_decay=ema_decay)
    _refuse(dataset, given, NAMES_ONLY, "n_critic is the names GAN's WGAN-GP schedule")
    return GAN(dataset=dataset, latent_dim=latent_dim, hidden=hidden, loss=loss,
               spectral_norm=spectral_norm, lr_ratio=lr_ratio, ema_decay=ema_decay)


@hookimpl
def register_models(register: Any) -> None:
    register("gan", build, capabilities=capabilities, options=OPTIONS, shipped=SHIPPED,
             description="GAN: class-conditional on 8x8 digits (projection discriminator, "
             "spectral norm, two time-scales, EMA generator), unconditional on toy 2-D, and a "
             "class-conditional WGAN-GP text GAN of the Census names; no likelihood; one "
             "generator pass")
