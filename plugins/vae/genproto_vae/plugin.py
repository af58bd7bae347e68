"""Registers the conditional VAE with genproto under the paradigm's short name ``vae``."""

from __future__ import annotations

from typing import Any

from genproto.errors import OptionError
from genproto.hookspecs import hookimpl
from genproto.options import Option
from genproto_vae.model import DATASETS, DECODERS, DEFAULTS, VAE, capabilities, load_pretrained

OPTIONS = (
    Option("dataset", str, "digits", "training data: the 8x8 digits (class-conditional) "
           "or a toy 2-D density (unconditional)", choices=DATASETS),
    Option("latent", int, DEFAULTS["latent"], "latent dimension d", minimum=1, maximum=256),
    Option("hidden", int, DEFAULTS["hidden"], "hidden width of the encoder and decoder MLPs",
           minimum=8, maximum=4096),
    Option("decoder", str, DEFAULTS["decoder"], "p(x|z,c) per pixel: a categorical over the 17 "
           "levels, or a discretised logistic (Salimans et al. 2017)", choices=DECODERS),
    Option("pretrained", bool, True, "load the shipped weights (default configuration only)"),
)


def build(*, dataset: str = "digits", latent: int = DEFAULTS["latent"],
          hidden: int = DEFAULTS["hidden"], decoder: str = DEFAULTS["decoder"],
          pretrained: bool = True) -> VAE:
    """The factory behind ``genproto.registry.get("vae", ...)``."""
    model = VAE(dataset=dataset, latent=latent, hidden=hidden, decoder=decoder)
    if pretrained:
        asked = {"dataset": dataset, "latent": latent, "hidden": hidden, "decoder": decoder}
        if asked != DEFAULTS:
            options = " ".join(f"-M {k}={v}" for k, v in asked.items())
            raise OptionError(
                "no shipped weights for this VAE configuration", option="pretrained",
                value=True, allowed=f"pretrained=True only with {DEFAULTS}",
                fix=f"Pass pretrained=False and train it: genproto train vae {options} "
                "-M pretrained=False -o DIR",
            )
        load_pretrained(model)
    return model


@hookimpl
def register_models(register: Any) -> None:
    register(
        "vae",
        build,
        capabilities=capabilities(),
        options=OPTIONS,
        description="conditional VAE (Kingma & Welling 2014; Sohn et al. 2015): ELBO training, "
        "ELBO/IWAE bounds, one decoder pass per sample",
    )
