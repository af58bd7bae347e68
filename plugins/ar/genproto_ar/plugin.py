"""The hook implementation: registers :class:`~genproto_ar.model.PixelAR` as ``"ar"``."""

from __future__ import annotations

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.options import Option

OPTIONS = (
    Option("dataset", str, "digits", "training data: the 8x8 digits (17 grey levels)",
           choices=("digits",)),
    Option("layers", int, 4, "transformer blocks", minimum=1, maximum=24),
    Option("width", int, 64, "model width (a multiple of heads)", minimum=8, maximum=1024),
    Option("heads", int, 4, "attention heads", minimum=1, maximum=32),
    Option("dropout", float, 0.1, "dropout while training (rounded to 1/256)",
           minimum=0.0, maximum=0.5),
    Option("pretrained", bool, True,
           "load the shipped weights (only for the default configuration)"),
)


def _factory(**options: Any) -> Any:
    from genproto_ar.model import PixelAR  # import torch code only when a model is built

    return PixelAR(**options)


@hookimpl
def register_models(register: Any) -> None:
    from genproto_ar.model import capabilities

    register(
        "ar",
        _factory,
        capabilities=capabilities(),
        options=OPTIONS,
        description="autoregressive transformer over the 64 pixels (exact likelihood, "
        "KV-cache sampling, temperature/top-k)",
    )
