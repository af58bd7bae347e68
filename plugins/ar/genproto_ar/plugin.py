"""Registers ``"ar"``: the pixel transformer on digits, the points model on a toy 2-D density,
the character model of the Census names.

``dataset="digits"`` (the default) builds :class:`~genproto_ar.model.PixelAR`, a
class-conditional transformer over 64 pixels; a toy 2-D name builds
:class:`~genproto_ar.points.PointsAR`, the chain rule p(x1) p(x2 | x1) with mixture-of-Gaussian
conditionals; ``"names"`` builds :class:`~genproto_ar.names.NamesAR`, a class-conditional GRU
over the characters of a name. ``layers``/``width``/``heads``/``dropout`` size the transformer,
``hidden``/``components`` the points network and ``hidden`` the names GRU; each configuration
refuses the others' sizes. Weights ship for digits, grid25, two_moons and names at their default
sizes.
"""

from __future__ import annotations

from typing import Any

from genproto.data import TOY2D_NAMES
from genproto.errors import OptionError
from genproto.hookspecs import hookimpl
from genproto.model import Model
from genproto.options import Option, Shipped
from genproto.protocol import Capabilities
from genproto_ar import model, names, points

DATASETS: tuple[str, ...] = ("digits", *TOY2D_NAMES, "names")
DIGITS_SIZES = ("layers", "width", "heads", "dropout")
POINTS_SIZES = ("hidden", "components")
NAMES_SIZES = ("hidden",)
OPTIONS = (
    Option("dataset", str, "digits", "training data: the 8x8 digits (17 grey levels, "
           "class-conditional), a toy 2-D density (unconditional, exact density on R^2) or the "
           "Census names (letters, conditional on the list)", choices=DATASETS),
    Option("layers", int, 4, "transformer blocks (digits)", minimum=1, maximum=24),
    Option("width", int, 64, "model width, a multiple of heads (digits)", minimum=8,
           maximum=1024),
    Option("heads", int, 4, "attention heads (digits)", minimum=1, maximum=32),
    Option("dropout", float, 0.1, "dropout while training, rounded to 1/256 (digits)",
           minimum=0.0, maximum=0.5),
    Option("hidden", int, None, f"hidden units of the points network's {points.DEPTH} layers "
           f"(toy 2-D; default {points.HIDDEN}) or of the names GRU (default {names.HIDDEN})",
           minimum=4, maximum=4096, nullable=True),
    Option("components", int, None, "Gaussians in each coordinate's conditional (toy 2-D; "
           f"default {points.COMPONENTS})", minimum=1, maximum=256, nullable=True),
)
SHIPPED = (
    Shipped("genproto_ar", "weights/digits", model.DEFAULTS),
    *(Shipped("genproto_ar", ("weights", name),
              {"dataset": name, "hidden": (None, points.HIDDEN),
               "components": (None, points.COMPONENTS)})
      for name in points.PRETRAINED),
    Shipped("genproto_ar", ("weights", "names"),
            {"dataset": "names", "hidden": (None, names.HIDDEN)}),
)


def capabilities(dataset: str = "digits") -> Capabilities:
    """What ``ar`` declares on ``dataset``: 64 evaluations on digits, 2 on points, at most 15
    on names."""
    if dataset == "digits":
        return model.capabilities()
    return names.capabilities() if dataset == "names" else points.capabilities(dataset)


def _sizes(dataset: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The size options ``dataset``'s network takes, and every other size option's default."""
    if dataset == "digits":
        return DIGITS_SIZES, {"hidden": None, "components": None}
    others = {k: v for k, v in model.DEFAULTS.items() if k in DIGITS_SIZES}
    if dataset == "names":
        return NAMES_SIZES, {**others, "components": None}
    return POINTS_SIZES, others


def build(*, dataset: str = "digits", layers: int = 4, width: int = 64, heads: int = 4,
          dropout: float = 0.1, hidden: int | None = None,
          components: int | None = None) -> Model:
    """The factory: the digits transformer, the points model or the names GRU, refusing the
    others' sizes."""
    given = {"layers": layers, "width": width, "heads": heads, "dropout": dropout,
             "hidden": hidden, "components": components}
    own, others = _sizes(dataset)
    for name, default in others.items():
        if given[name] != default:
            raise OptionError(
                f"model 'ar' option {name!r} on dataset {dataset!r}", option=name,
                value=given[name], allowed=f"{default!r}, the default ({name!r} sizes "
                f"another dataset's network)",
                fix=f"Leave {name!r} out; on {dataset!r} the network is sized by "
                f"{', '.join(own)}")
    if dataset == "digits":
        return model.PixelAR(dataset=dataset, layers=layers, width=width, heads=heads,
                             dropout=dropout)
    if dataset == "names":
        return names.NamesAR(hidden=hidden)
    return points.PointsAR(dataset=dataset, hidden=hidden, components=components)


@hookimpl
def register_models(register: Any) -> None:
    register("ar", build, capabilities=capabilities, options=OPTIONS, shipped=SHIPPED,
             description="autoregressive: a transformer over the 64 pixels (KV-cache sampling, "
             "temperature/top-k), the chain rule p(x1) p(x2 | x1) over 2-D points, or a GRU "
             "over the letters of a Census name given its list; exact likelihood")
