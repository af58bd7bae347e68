"""Declared options and their validation.

A plugin declares the options its factory (``registry.get(name, **options)``)
and its ``sample`` accept as :class:`Option` values. genproto validates what a
user passes against them before the plugin sees it, so a typo or an
out-of-range value fails with an error naming the option, the bad value and
the allowed ones, instead of a ``TypeError`` from deep inside a constructor.
Unknown options are errors, never ignored. A renamed option keeps its old names as
``aliases``: checkpoints store factory options by name, so a checkpoint saved before
the rename still loads (the value is stored under the new name when it is saved again).

A plugin whose package ships trained weights declares them as :class:`Shipped`
values at registration; the registry then owns the ``pretrained`` factory
option (see :mod:`genproto.registry`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from genproto.errors import OptionError, OptionTypeError

__all__ = ["Option", "Shipped", "validate_options"]

_TYPES = (bool, int, float, str)


def _names(names: str | Sequence[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)


@attrs.frozen
class Option:
    """One option: its name, type, default and allowed values.

    Attributes:
        name: the keyword.
        type: ``bool``, ``int``, ``float`` or ``str``. An ``int`` is accepted for a
            ``float`` option; a ``bool`` is never accepted for a number.
        default: the value used when the option is not given (``None`` allowed
            when ``nullable``).
        help: one line for ``genproto info``.
        choices: the allowed values, if they form a finite set.
        minimum, maximum: bounds for numbers; ``exclusive_minimum`` makes the lower
            bound strict (``temperature > 0``).
        nullable: whether ``None`` is an allowed value.
        aliases: deprecated former names, accepted in place of ``name`` (so that
            checkpoints and scripts written before a rename keep working).
    """

    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    nullable: bool = False
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_names)

    def __attrs_post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"Option {self.name!r}: type must be one of bool/int/float/str")
        if self.default is not None or not self.nullable:
            self.validate(self.default, where="default")

    def allowed(self) -> str:
        """A human description of the allowed values."""
        if self.choices is not None:
            text = " | ".join(repr(c) for c in self.choices)
        else:
            text = self.type.__name__
            low = None if self.minimum is None else f"{self.minimum:g}"
            high = None if self.maximum is None else f"{self.maximum:g}"
            if low is not None and high is not None:
                text += f" in {'(' if self.exclusive_minimum else '['}{low}, {high}]"
            elif low is not None:
                text += f" {'>' if self.exclusive_minimum else '>='} {low}"
            elif high is not None:
                text += f" <= {high}"
        if self.nullable:
            text += " or None"
        return text

    def validate(self, value: Any, *, where: str) -> Any:
        """Return ``value`` (an ``int`` widened to ``float`` where needed) or raise."""
        what = f"{where} option {self.name!r}"
        if value is None and self.nullable:
            return None
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not self.type and not (
            self.type is not bool and isinstance(value, self.type) and not isinstance(value, bool)
        ):
            raise OptionTypeError(
                what, option=self.name, value=value, allowed=self.allowed(), fix=self.help or None
            )
        if self.choices is not None and value not in self.choices:
            raise OptionError(what, option=self.name, value=value, allowed=self.allowed())
        if isinstance(value, float) and not math.isfinite(value):
            raise OptionError(what, option=self.name, value=value, allowed=self.allowed())
        if isinstance(value, int | float) and not isinstance(value, bool):
            too_low = self.minimum is not None and (
                value <= self.minimum if self.exclusive_minimum else value < self.minimum
            )
            too_high = self.maximum is not None and value > self.maximum
            if too_low or too_high:
                raise OptionError(what, option=self.name, value=value, allowed=self.allowed())
        return value


def validate_options(
    given: Mapping[str, Any], declared: Sequence[Option], *, where: str
) -> dict[str, Any]:
    """Check ``given`` against ``declared``; return every declared option's value.

    Raises:
        OptionError: an unknown option (with close matches) or a value out of range.
        OptionTypeError: a value of the wrong type.
    """
    specs = {o.name: o for o in declared}
    given = _canonical(given, declared, where=where)
    for key in given:
        if key not in specs:
            close = difflib.get_close_matches(key, list(specs), n=3)
            hint = f"Did you mean {', '.join(repr(c) for c in close)}?" if close else None
            raise OptionError(
                f"unknown {where} option {key!r}",
                option=key,
                allowed=", ".join(f"{o.name} ({o.allowed()})" for o in declared) or "no options",
                fix=hint or f"Run `genproto info` to see the {where} options",
            )
    return {
        name: spec.validate(given[name], where=where) if name in given else spec.default
        for name, spec in specs.items()
    }


def _read_only(options: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(options))


def _path(parts: str | Sequence[str]) -> tuple[str, ...]:
    return tuple(parts.split("/")) if isinstance(parts, str) else tuple(parts)


@attrs.frozen
class Shipped:
    """Trained weights packaged inside a plugin, and the configuration they fit.

    Declared at registration (``register(..., shipped=Shipped(...))``, one value or a
    sequence of them); the registry then adds the ``pretrained`` factory option, loads
    the weights through ``Model.load_packaged_weights`` when it is True, and refuses a
    configuration no shipped checkpoint fits with a
    :class:`~genproto.errors.NoShippedWeights` error that says how to train it.

    Attributes:
        package: the import name of the package that holds the checkpoint, e.g.
            ``"genproto_vae"``.
        path: the checkpoint folder inside the package, e.g. ``("weights", "digits")``
            (``"weights/digits"`` is accepted too).
        options: the factory options the weights were trained with. Options not named
            are free (training choices such as a loss); a tuple lists every accepted
            value, e.g. ``{"hidden": (None, 256)}`` where ``None`` means "the default, 256".
    """

    package: str
    path: tuple[str, ...] = attrs.field(converter=_path)
    options: Mapping[str, Any] = attrs.field(converter=_read_only, hash=False)

    def accepted(self, name: str) -> tuple[Any, ...]:
        """The values of option ``name`` these weights fit."""
        value = self.options[name]
        return value if isinstance(value, tuple) else (value,)

    def differing(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The options in ``values`` that these weights do not fit (empty: they fit)."""
        return {
            name: values[name]
            for name in self.options
            if name in values and not any(_same(values[name], a) for a in self.accepted(name))
        }

    def describe(self) -> str:
        """``dataset='digits', hidden=None|256`` for messages."""
        return ", ".join(
            f"{name}={'|'.join(repr(a) for a in self.accepted(name))}" for name in self.options
        )


def _same(value: Any, accepted: Any) -> bool:
    """Equal, where a bool equals only the same bool (``True`` is not ``1``)."""
    if isinstance(value, bool) or isinstance(accepted, bool):
        return value is accepted
    return bool(value == accepted)


def _canonical(
    given: Mapping[str, Any], declared: Sequence[Option], *, where: str
) -> Mapping[str, Any]:
    """``given`` with every alias replaced by its option's name; both at once is an error."""
    renamed = {alias: o.name for o in declared for alias in o.aliases}
    if not renamed or not any(key in renamed for key in given):
        return given
    out: dict[str, Any] = {}
    for key, value in given.items():
        name = renamed.get(key, key)
        if name in out:
            raise OptionError(
                f"{where} option {name!r} given twice (once as its former name {key!r})"
                if key != name else f"{where} option {name!r} given twice",
                option=name, value=value, allowed=f"one of {name!r} and its former names",
                fix=f"Pass {name!r} only",
            )
        out[name] = value
    return out
