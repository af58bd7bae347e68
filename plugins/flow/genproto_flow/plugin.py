"""Registers the coupling flow with genproto under the paradigm's short name ``flow``."""

from __future__ import annotations

from typing import Any

from genproto.errors import OptionError
from genproto.hookspecs import hookimpl
from genproto.options import Option
from genproto_flow.model import (
    DATASETS,
    DIGITS_SIZES,
    PRETRAINED,
    TOY_SIZES,
    CouplingFlow,
    capabilities,
    load_pretrained,
    sizes,
)

OPTIONS = (
    Option("dataset", str, "digits", "training data: the 8x8 digits (class-conditional, "
           "dequantised: likelihood is a bound) or a toy 2-D density (unconditional, exact)",
           choices=DATASETS),
    Option("depth", int, None, f"flow steps (actnorm, mixing, coupling); default "
           f"{DIGITS_SIZES[0]} on digits, {TOY_SIZES[0]} on toy 2-D", minimum=1, maximum=64,
           nullable=True),
    Option("hidden", int, None, f"hidden width of each coupling network; default "
           f"{DIGITS_SIZES[1]} on digits, {TOY_SIZES[1]} on toy 2-D", minimum=4, maximum=4096,
           nullable=True),
    Option("pretrained", bool, True, "load the shipped weights (digits and eight_gaussians "
           "at their default sizes only)"),
)


def build(*, dataset: str = "digits", depth: int | None = None, hidden: int | None = None,
          pretrained: bool = True) -> CouplingFlow:
    """The factory behind ``genproto.registry.get("flow", ...)``."""
    model = CouplingFlow(dataset=dataset, depth=depth, hidden=hidden)
    if pretrained:
        if dataset not in PRETRAINED or (model.depth, model.hidden) != sizes(dataset):
            asked = f"-M dataset={dataset}"
            asked += "" if depth is None else f" -M depth={depth}"
            asked += "" if hidden is None else f" -M hidden={hidden}"
            raise OptionError(
                "no shipped weights for this flow configuration", option="pretrained",
                value=True, allowed=f"pretrained=True only with dataset in {PRETRAINED} at "
                "the default depth and hidden",
                fix=f"Pass pretrained=False and train it: genproto train flow {asked} -o DIR",
            )
        load_pretrained(model)
    return model


@hookimpl
def register_models(register: Any) -> None:
    register(
        "flow",
        build,
        capabilities=capabilities(),
        options=OPTIONS,
        description="RealNVP/Glow coupling flow (Dinh et al. 2017; Kingma & Dhariwal 2018): "
        "exact maximum likelihood, a dequantisation bound on digits, one inverse pass per sample",
    )
