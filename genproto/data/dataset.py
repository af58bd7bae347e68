"""The :class:`Dataset` value every loader in ``genproto.data`` returns.

A data set is a tensor of events ``x`` (shape ``(N, *event.shape)``, dtype
``event.dtype``), optional class labels ``y`` and the :class:`EventSpace` the
events live in, so a model can be built for it without guessing. The
constructor checks that the four agree (shape, dtype, value range), the way
``torch.distributions`` validates its arguments by default: a loader cannot
hand out a data set whose declaration is false.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch

from genproto.errors import DataError
from genproto.protocol import EventKind, EventSpace

__all__ = ["Dataset"]


def _tensor(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, torch.Tensor):
        raise DataError(
            f"Dataset field {attribute.name!r}",
            value=value,
            allowed="a torch.Tensor",
            fix="Convert with torch.as_tensor(...)",
        )


def _optional_tensor(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _tensor(instance, attribute, value)


@attrs.frozen(eq=False, repr=False)
class Dataset:
    """N events, their optional labels, and the space the events live in.

    Attributes:
        x: the events, shape ``(N, *event.shape)``: int64 levels ``0 .. levels-1``
            for a discrete event space, finite float32 values for a continuous one.
        y: class labels ``0 .. num_classes-1``, int64, shape ``(N,)``; ``None``
            for an unlabelled data set.
        name: a short name such as ``"digits/train"`` or ``"toy2d/two_moons"``.
        event: the space of one event.
        num_classes: the number of classes when ``y`` is given, else ``None``.

    The instance is frozen but its tensors are ordinary tensors; loaders hand
    out fresh ones on every call, so mutating them in place never affects
    another load. Equality is identity (comparing tensors elementwise is not a
    value comparison).
    """

    x: torch.Tensor = attrs.field(validator=_tensor)
    y: torch.Tensor | None = attrs.field(validator=_optional_tensor)
    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    event: EventSpace = attrs.field(validator=attrs.validators.instance_of(EventSpace))
    num_classes: int | None = None

    def __attrs_post_init__(self) -> None:
        # 1. x: shape (N, *event.shape) with N >= 1, dtype event.dtype.
        where = f"data set {self.name!r}"
        expected = ("N", *self.event.shape)
        if tuple(self.x.shape[1:]) != self.event.shape or self.x.shape[0] < 1:
            raise DataError(
                f"{where}: x shape",
                value=tuple(self.x.shape),
                allowed=f"({', '.join(str(d) for d in expected)}) with N >= 1",
                fix="Reshape x so that its first dimension indexes samples",
            )
        if self.x.dtype != self.event.dtype:
            raise DataError(
                f"{where}: x dtype",
                value=self.x.dtype,
                allowed=f"{self.event.dtype} for a {self.event.kind.value} event space",
                fix=f"Convert with x.to({self.event.dtype})",
            )
        # 2. x values: levels 0 .. levels-1, or finite reals.
        if self.event.kind is EventKind.DISCRETE and self.event.levels is not None:
            low, high = int(self.x.min()), int(self.x.max())
            if low < 0 or high >= self.event.levels:
                raise DataError(
                    f"{where}: x values range",
                    value=(low, high),
                    allowed=f"levels 0..{self.event.levels - 1}",
                    fix="Declare more levels or clip x",
                )
        elif not bool(torch.isfinite(self.x).all()):
            raise DataError(
                f"{where}: x has NaN or infinite values",
                allowed="finite float32 values",
                fix="Drop or impute the non-finite entries",
            )
        # 3. y and num_classes: both given or both None; y int64 (N,) in 0..num_classes-1.
        if (self.y is None) != (self.num_classes is None):
            raise DataError(
                f"{where}: num_classes",
                value=self.num_classes,
                allowed="an int >= 1 exactly when y is given, None otherwise",
                fix="Pass num_classes together with y",
            )
        if self.y is not None:
            n = self.x.shape[0]
            if self.y.dtype != torch.int64 or tuple(self.y.shape) != (n,):
                raise DataError(
                    f"{where}: y",
                    value=f"{self.y.dtype} tensor of shape {tuple(self.y.shape)}",
                    allowed=f"an int64 tensor of shape ({n},)",
                    fix="Give one integer label per sample",
                )
            k = self.num_classes
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise DataError(f"{where}: num_classes", value=k, allowed="an int >= 1")
            low, high = int(self.y.min()), int(self.y.max())
            if low < 0 or high >= k:
                raise DataError(
                    f"{where}: y values range",
                    value=(low, high),
                    allowed=f"labels 0..{k - 1}",
                    fix="Relabel the classes as 0..num_classes-1",
                )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        classes = "" if self.num_classes is None else f", num_classes={self.num_classes}"
        return (
            f"Dataset(name={self.name!r}, n={len(self)}, event={self.event.describe()!r}{classes})"
        )
