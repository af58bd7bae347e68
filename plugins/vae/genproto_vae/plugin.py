"""Registers the conditional VAE under the paradigm's short name ``vae``.

``dataset="digits"`` (the default) and the toy 2-D densities build :class:`~genproto_vae.model.VAE`
(MLP encoder and decoder, one decoder pass a sample); ``dataset="names"`` builds
:class:`~genproto_vae.names.NamesVAE`, Bowman et al.'s sequence VAE of the Census names (GRU
encoder and autoregressive GRU decoder), which has no pixel decoder to choose. Weights ship for
the digits, the toy ``grid25`` and ``two_moons``, and the names, at the default sizes.
"""

from __future__ import annotations

from typing import Any

from genproto.errors import OptionError
from genproto.hookspecs import hookimpl
from genproto.model import Model
from genproto.options import Option, Shipped
from genproto.protocol import Capabilities
from genproto_vae import model, names

DATASETS: tuple[str, ...] = (*model.DATASETS, "names")

OPTIONS = (
    Option("dataset", str, "digits", "training data: the 8x8 digits (class-conditional), "
           "a toy 2-D density (unconditional) or the Census names (conditional on the list)",
           choices=DATASETS),
    Option("latent_dim", int, model.DEFAULTS["latent_dim"], "latent dimension d", minimum=1,
           maximum=256, aliases=("latent",)),
    Option("hidden", int, model.DEFAULTS["hidden"], "hidden width of the encoder and decoder "
           "(MLPs; GRUs on names)", minimum=8, maximum=4096),
    Option("decoder", str, model.DEFAULTS["decoder"], "p(x|z,c) per pixel: a categorical over "
           "the 17 levels, or a discretised logistic (Salimans et al. 2017); digits only",
           choices=model.DECODERS),
)

SHIPPED = (
    *(Shipped("genproto_vae", ("weights", name), {**model.DEFAULTS, "dataset": name})
      for name in model.PRETRAINED),
    Shipped("genproto_vae", ("weights", "names"),
            {**model.DEFAULTS, **names.NAMES_DEFAULTS, "dataset": "names"}),
)


def capabilities(dataset: str = "digits") -> Capabilities:
    """What ``vae`` declares on ``dataset``: one decoder pass, or at most 16 on names."""
    return names.names_capabilities() if dataset == "names" else model.capabilities(dataset)


def build(*, dataset: str = "digits", latent_dim: int = model.DEFAULTS["latent_dim"],
          hidden: int = model.DEFAULTS["hidden"],
          decoder: str = model.DEFAULTS["decoder"]) -> Model:
    """The factory: the MLP VAE, or the sequence VAE on ``dataset="names"``."""
    if dataset != "names":
        return model.VAE(dataset=dataset, latent_dim=latent_dim, hidden=hidden, decoder=decoder)
    if decoder != model.DEFAULTS["decoder"]:
        raise OptionError("model 'vae' option 'decoder' on dataset 'names'", option="decoder",
                          value=decoder, allowed=f"{model.DEFAULTS['decoder']!r}, the default "
                          "('decoder' chooses the digits' pixel distribution)",
                          fix="Leave 'decoder' out; the names decoder is a GRU over characters")
    return names.NamesVAE(latent_dim=latent_dim, hidden=hidden)


@hookimpl
def register_models(register: Any) -> None:
    register("vae", build, capabilities=capabilities, options=OPTIONS, shipped=SHIPPED,
             description="conditional VAE (Kingma & Welling 2014; Sohn et al. 2015): ELBO "
             "training, ELBO/IWAE bounds; one decoder pass per sample on digits and points, "
             "an autoregressive GRU decoder on names (Bowman et al. 2016)")
