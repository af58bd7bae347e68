"""Registers the diffusion model under ``"diffusion"`` (genproto's score-based paradigm).

``dataset="digits"`` (the default) is class-conditional on the 8x8 digits and ships trained
weights; a toy 2-D name (``"eight_gaussians"``, ...) gives an unconditional model on that
density whose likelihood is the probability-flow ODE estimate; ``"eight_gaussians"`` ships
weights too. Other configurations train with ``genproto train diffusion -M ...``.
"""

from __future__ import annotations

from typing import Any

from genproto.data import TOY2D_NAMES
from genproto.errors import OptionError
from genproto.hookspecs import hookimpl
from genproto.options import Option
from genproto_diffusion.model import Diffusion, DigitsDiffusion, ToyDiffusion, capabilities

__all__ = ["OPTIONS", "build", "register_models"]

DEFAULTS = {
    "digits": {"hidden": 256, "blocks": 3, "seed": 0},
    "eight_gaussians": {"hidden": 128, "blocks": 3, "seed": 0},
}

OPTIONS = (
    Option("dataset", str, "digits", "what to model: the digits or a toy 2-D density",
           choices=("digits", *TOY2D_NAMES)),
    Option("hidden", int, None, "hidden units of the denoiser (default: 256 digits, 128 toy)",
           minimum=8, maximum=4096, nullable=True),
    Option("blocks", int, None, "residual blocks of the denoiser (default: 3)",
           minimum=1, maximum=64, nullable=True),
    Option("seed", int, 0, "initialisation seed", minimum=0),
    Option("pretrained", bool, True, "load the shipped weights (digits, eight_gaussians)"),
)


def build(dataset: str = "digits", hidden: int | None = None, blocks: int | None = None,
          seed: int = 0, pretrained: bool = True) -> Diffusion:
    """The factory behind ``genproto.registry.get("diffusion", **options)``."""
    model: Diffusion
    if dataset == "digits":
        hidden, blocks = hidden or 256, blocks or 3
        model = DigitsDiffusion(hidden=hidden, blocks=blocks, seed=seed)
    else:
        hidden, blocks = hidden or 128, blocks or 3
        model = ToyDiffusion(dataset=dataset, hidden=hidden, blocks=blocks, seed=seed)
    config = {"hidden": hidden, "blocks": blocks, "seed": seed}
    if pretrained:
        if DEFAULTS.get(dataset) != config:
            raise OptionError(
                "model 'diffusion' option 'pretrained'", option="pretrained", value=True,
                allowed="True only for dataset='digits' or 'eight_gaussians' at default sizes "
                "and seed",
                fix="Pass pretrained=False and train it: genproto train diffusion -o DIR "
                f"-M dataset={dataset} -M pretrained=False",
            )
        model.load_packaged_weights("genproto_diffusion", "weights", dataset)
    return model


@hookimpl
def register_models(register: Any) -> None:
    register(
        "diffusion",
        build,
        capabilities=capabilities(),
        options=OPTIONS,
        description="denoising diffusion (DDPM training, DDIM/DDPM sampling, classifier-free "
        "guidance, variational bound; probability-flow ODE likelihood on toy 2-D data)",
    )
