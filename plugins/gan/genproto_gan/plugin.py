"""Registers the GAN with genproto under the name ``"gan"`` (the ``register_models`` hook).

``genproto.registry.get("gan")`` builds the class-conditional digits GAN with the
weights shipped in ``weights/digits/``; other configurations (a toy 2-D density,
other sizes) are built untrained with ``pretrained=False`` and trained with
``genproto train gan -M dataset=two_moons -M pretrained=false -o DIR``.
"""

from __future__ import annotations

from typing import Any

from genproto.data import TOY2D_NAMES
from genproto.errors import OptionError
from genproto.hookspecs import hookimpl
from genproto.options import Option
from genproto_gan.model import GAN, capabilities

__all__ = ["OPTIONS", "build", "register_models"]

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
    Option("pretrained", bool, True, "load the shipped weights (default configuration only)"),
)

#: The options the shipped weights were trained with (those that change the networks).
SHIPPED = {"dataset": "digits", "latent_dim": 64, "hidden": 256, "spectral_norm": True}


def build(*, pretrained: bool = True, **options: Any) -> GAN:
    """The factory behind ``registry.get("gan", **options)``."""
    model = GAN(**options)
    if not pretrained:
        return model
    differing = {k: options[k] for k, v in SHIPPED.items() if options.get(k, v) != v}
    if differing:
        name, value = next(iter(differing.items()))
        raise OptionError(
            f"model 'gan' option {name!r}: no shipped weights for this configuration",
            option=name,
            value=value,
            allowed=f"{SHIPPED[name]!r} with pretrained=True",
            fix="Pass pretrained=False and train it: genproto train gan "
            + " ".join(f"-M {k}={v}" for k, v in differing.items())
            + " -M pretrained=false -o DIR",
        )
    model.load_packaged_weights("genproto_gan", "weights", "digits")
    return model


@hookimpl
def register_models(register: Any) -> None:
    register(
        "gan",
        build,
        capabilities=capabilities(),
        options=OPTIONS,
        description="class-conditional GAN on 8x8 digits (projection discriminator, spectral "
        "norm, two time-scales, EMA generator); no likelihood; one generator pass",
    )
