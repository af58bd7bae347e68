"""Registers :class:`~genproto_ar.model.PixelAR` as ``"ar"``; its weights ship in ``weights/``."""

from __future__ import annotations

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto_ar.model import DEFAULTS, PixelAR, capabilities

OPTIONS = (
    Option("dataset", str, "digits", "training data: the 8x8 digits (17 grey levels)",
           choices=("digits",)),
    Option("layers", int, 4, "transformer blocks", minimum=1, maximum=24),
    Option("width", int, 64, "model width (a multiple of heads)", minimum=8, maximum=1024),
    Option("heads", int, 4, "attention heads", minimum=1, maximum=32),
    Option("dropout", float, 0.1, "dropout while training (rounded to 1/256)",
           minimum=0.0, maximum=0.5),
)


@hookimpl
def register_models(register: Any) -> None:
    register("ar", PixelAR, capabilities=capabilities(), options=OPTIONS,
             shipped=Shipped("genproto_ar", "weights/digits", DEFAULTS),
             description="autoregressive transformer over the 64 pixels (exact likelihood, "
             "KV-cache sampling, temperature/top-k)")
