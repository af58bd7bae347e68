"""Registers latent diffusion under ``"latent_diffusion"``: genproto's first hybrid.

The autoencoder is the installed ``vae`` model, fetched from genproto's registry when the
model is built (its pretrained weights: the autoencoder is trained first and frozen); the
diffusion prior comes from genproto_diffusion. The declared capabilities are composed from
the two parts' by ``genproto.hybrid.latent_hybrid``.
"""

from __future__ import annotations

from typing import Any

from genproto import registry
from genproto.errors import OptionError, PluginError
from genproto.hookspecs import hookimpl
from genproto.options import Option
from genproto_latent_diffusion.model import DEFAULTS, LatentDiffusion, capabilities
from genproto_vae.model import VAE

__all__ = ["OPTIONS", "build", "register_models"]

OPTIONS = (
    Option("hidden", int, DEFAULTS["hidden"], "hidden units of the latent denoiser",
           minimum=8, maximum=4096),
    Option("blocks", int, DEFAULTS["blocks"], "residual blocks of the latent denoiser",
           minimum=1, maximum=64),
    Option("seed", int, DEFAULTS["seed"], "initialisation seed of the denoiser", minimum=0),
    Option("pretrained", bool, True, "load the shipped weights (default configuration only)"),
)


def build(*, hidden: int = DEFAULTS["hidden"], blocks: int = DEFAULTS["blocks"],
          seed: int = DEFAULTS["seed"], pretrained: bool = True) -> LatentDiffusion:
    """The factory behind ``genproto.registry.get("latent_diffusion", ...)``."""
    asked = {"hidden": hidden, "blocks": blocks, "seed": seed}
    if pretrained and asked != DEFAULTS:
        options = " ".join(f"-M {k}={v}" for k, v in asked.items())
        raise OptionError(
            "no shipped weights for this latent diffusion configuration", option="pretrained",
            value=True, allowed=f"pretrained=True only with {DEFAULTS}",
            fix=f"Pass pretrained=False and train it: genproto train latent_diffusion {options} "
            "-M pretrained=False -o DIR",
        )
    # The frozen first stage: the VAE plugin's shipped autoencoder, through the registry.
    vae = registry.default().get("vae")
    if not isinstance(vae, VAE):
        raise PluginError(
            f"latent_diffusion needs the genproto-vae plugin's model under 'vae', got "
            f"{type(vae).__name__}", value=type(vae).__name__, allowed="genproto_vae.VAE",
            fix="pip install genproto-vae (and no other plugin registering 'vae')",
        )
    model = LatentDiffusion(vae, **asked)
    if pretrained:
        model.load_packaged_weights("genproto_latent_diffusion", "weights", "digits")
    return model


@hookimpl
def register_models(register: Any) -> None:
    register(
        "latent_diffusion",
        build,
        capabilities=capabilities(),
        options=OPTIONS,
        description="latent diffusion (Rombach et al. 2022): the vae plugin's frozen autoencoder "
        "+ a DDPM/DDIM prior on its 16-d latents; K + 1 evaluations, composed ELBO bound",
    )
