"""Registers the conditional VAE under the paradigm's short name ``vae``.

Weights ship for the digits and for the toy 2-D ``grid25`` and ``two_moons``, at the default sizes.
"""

from __future__ import annotations

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto_vae.model import DATASETS, DECODERS, DEFAULTS, PRETRAINED, VAE, capabilities

OPTIONS = (
    Option("dataset", str, "digits", "training data: the 8x8 digits (class-conditional) "
           "or a toy 2-D density (unconditional)", choices=DATASETS),
    Option("latent_dim", int, DEFAULTS["latent_dim"], "latent dimension d", minimum=1,
           maximum=256, aliases=("latent",)),
    Option("hidden", int, DEFAULTS["hidden"], "hidden width of the encoder and decoder MLPs",
           minimum=8, maximum=4096),
    Option("decoder", str, DEFAULTS["decoder"], "p(x|z,c) per pixel: a categorical over the 17 "
           "levels, or a discretised logistic (Salimans et al. 2017)", choices=DECODERS),
)

SHIPPED = tuple(Shipped("genproto_vae", ("weights", name), {**DEFAULTS, "dataset": name})
                for name in PRETRAINED)


@hookimpl
def register_models(register: Any) -> None:
    register("vae", VAE, capabilities=capabilities, options=OPTIONS,
             shipped=SHIPPED,
             description="conditional VAE (Kingma & Welling 2014; Sohn et al. 2015): ELBO "
             "training, ELBO/IWAE bounds, one decoder pass per sample")
