"""Registers the coupling flow under the paradigm's short name ``flow``."""

from __future__ import annotations

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto_flow.model import DATASETS, PRETRAINED, CouplingFlow, capabilities, sizes

DIGITS, TOY = sizes("digits"), sizes("eight_gaussians")  # default (depth, hidden)
OPTIONS = (
    Option("dataset", str, "digits", "training data: the 8x8 digits (class-conditional, "
           "dequantised: likelihood is a bound) or a toy 2-D density (unconditional, exact)",
           choices=DATASETS),
    Option("depth", int, None, f"flow steps (actnorm, mixing, coupling); default {DIGITS[0]} "
           f"on digits, {TOY[0]} on toy 2-D (grid25: {sizes('grid25')[0]})",
           minimum=1, maximum=64, nullable=True),
    Option("hidden", int, None, f"hidden width of each coupling network; default {DIGITS[1]} "
           f"on digits, {TOY[1]} on toy 2-D (grid25: {sizes('grid25')[1]})",
           minimum=4, maximum=4096, nullable=True),
)
SHIPPED = tuple(  # at the data's default sizes, given or left None
    Shipped("genproto_flow", ("weights", name), {"dataset": name, "depth": (None, sizes(name)[0]),
                                                 "hidden": (None, sizes(name)[1])})
    for name in PRETRAINED
)


@hookimpl
def register_models(register: Any) -> None:
    register("flow", CouplingFlow, capabilities=capabilities, options=OPTIONS, shipped=SHIPPED,
             description="RealNVP/Glow coupling flow (Dinh et al. 2017; Kingma & Dhariwal 2018): "
             "exact maximum likelihood, a dequantisation bound on digits, one inverse pass")
