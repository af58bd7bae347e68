"""Registers ``"ar"``: the pixel transformer on digits, the points model on a toy 2-D density.

``dataset="digits"`` (the default) builds :class:`~genproto_ar.model.PixelAR`, a
class-conditional transformer over 64 pixels; a toy 2-D name builds
:class:`~genproto_ar.points.PointsAR`, the chain rule p(x1) p(x2 | x1) with mixture-of-Gaussian
conditionals. ``layers``/``width``/``heads``/``dropout`` size the transformer and ``hidden``/
``components`` the points network; each configuration refuses the other's sizes. Weights ship
for digits, grid25 and two_moons at their default sizes.
"""

from __future__ import annotations

from typing import Any

from genproto.data import TOY2D_NAMES
from genproto.errors import OptionError
from genproto.hookspecs import hookimpl
from genproto.model import Model
from genproto.options import Option, Shipped
from genproto.protocol import Capabilities
from genproto_ar import model, points

DATASETS: tuple[str, ...] = ("digits", *TOY2D_NAMES)
DIGITS_ONLY = ("layers", "width", "heads", "dropout")
POINTS_ONLY = ("hidden", "components")
OPTIONS = (
    Option("dataset", str, "digits", "training data: the 8x8 digits (17 grey levels, "
           "class-conditional) or a toy 2-D density (unconditional, exact density on R^2)",
           choices=DATASETS),
    Option("layers", int, 4, "transformer blocks (digits)", minimum=1, maximum=24),
    Option("width", int, 64, "model width, a multiple of heads (digits)", minimum=8,
           maximum=1024),
    Option("heads", int, 4, "attention heads (digits)", minimum=1, maximum=32),
    Option("dropout", float, 0.1, "dropout while training, rounded to 1/256 (digits)",
           minimum=0.0, maximum=0.5),
    Option("hidden", int, None, f"hidden units of the points network's {points.DEPTH} layers "
           f"(toy 2-D; default {points.HIDDEN})", minimum=4, maximum=4096, nullable=True),
    Option("components", int, None, "Gaussians in each coordinate's conditional (toy 2-D; "
           f"default {points.COMPONENTS})", minimum=1, maximum=256, nullable=True),
)
SHIPPED = (
    Shipped("genproto_ar", "weights/digits", model.DEFAULTS),
    *(Shipped("genproto_ar", ("weights", name),
              {"dataset": name, "hidden": (None, points.HIDDEN),
               "components": (None, points.COMPONENTS)})
      for name in points.PRETRAINED),
)


def capabilities(dataset: str = "digits") -> Capabilities:
    """What ``ar`` declares on ``dataset``: 64 evaluations on digits, 2 on points."""
    return model.capabilities() if dataset == "digits" else points.capabilities(dataset)


def build(*, dataset: str = "digits", layers: int = 4, width: int = 64, heads: int = 4,
          dropout: float = 0.1, hidden: int | None = None,
          components: int | None = None) -> Model:
    """The factory: the digits transformer or the points model, refusing the other's sizes."""
    given = {"layers": layers, "width": width, "heads": heads, "dropout": dropout,
             "hidden": hidden, "components": components}
    digits = dataset == "digits"
    for name in POINTS_ONLY if digits else DIGITS_ONLY:
        default = None if digits else model.DEFAULTS[name]
        if given[name] != default:
            own = ", ".join(DIGITS_ONLY if digits else POINTS_ONLY)
            raise OptionError(
                f"model 'ar' option {name!r} on dataset {dataset!r}", option=name,
                value=given[name], allowed=f"{default!r}, the default ({name!r} sizes the "
                f"{'points network' if digits else 'digits transformer'})",
                fix=f"Leave {name!r} out; on {dataset!r} the network is sized by {own}")
    if digits:
        return model.PixelAR(dataset=dataset, layers=layers, width=width, heads=heads,
                             dropout=dropout)
    return points.PointsAR(dataset=dataset, hidden=hidden, components=components)


@hookimpl
def register_models(register: Any) -> None:
    register("ar", build, capabilities=capabilities, options=OPTIONS, shipped=SHIPPED,
             description="autoregressive: a transformer over the 64 pixels (KV-cache sampling, "
             "temperature/top-k) or the chain rule p(x1) p(x2 | x1) over 2-D points; exact "
             "likelihood")
