"""Input checks shared by the metrics: digit images, labels, feature matrices.

Each function returns the value in canonical form (int64 levels, int64 labels,
float64 features) or raises the typed error from :mod:`genproto.errors` that
names the argument, the bad value, what is allowed and the fix.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from genproto.errors import ArgumentTypeError, InputError, InputTypeError, InvalidArgumentError

__all__ = [
    "LEVELS",
    "NUM_CLASSES",
    "check_features",
    "check_labels",
    "check_levels",
    "check_num_classes",
]

#: Grey levels of a digit pixel (0..16) and digit classes (0..9).
LEVELS = 17
NUM_CLASSES = 10


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_integer_tensor(x: torch.Tensor) -> bool:
    return not (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool)


def check_levels(x: Any, what: str) -> torch.Tensor:
    """Digit images: an integer tensor of shape ``(N, 8, 8)``, N >= 1, levels ``0..16``."""
    allowed = "an integer tensor of shape (N, 8, 8) with N >= 1 and levels 0..16"
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(what, value=x, allowed=allowed, fix="Convert with torch.as_tensor(x)")
    if not _is_integer_tensor(x):
        raise InputTypeError(
            f"dtype of {what}",
            value=str(x.dtype),
            allowed=allowed,
            fix="Pass levels, not pixel intensities: (x * 16).round().long() for x in [0, 1]",
        )
    if x.ndim != 3 or tuple(x.shape[1:]) != (8, 8) or x.shape[0] < 1:
        raise InputError(
            f"shape of {what}",
            value=tuple(x.shape),
            allowed=allowed,
            fix="Add a leading batch dimension for one image (x[None]), or reshape to (N, 8, 8)",
        )
    low, high = int(x.min()), int(x.max())
    if low < 0 or high >= LEVELS:
        raise InputError(
            f"values of {what}",
            value=low if low < 0 else high,
            allowed=f"levels 0..{LEVELS - 1}",
            fix="Clip with x.clamp(0, 16)",
        )
    return x.to(torch.int64)


def check_labels(
    labels: Any, n: int, what: str, *, num_classes: int = NUM_CLASSES, broadcast: bool = False
) -> torch.Tensor:
    """Class labels: an integer tensor of shape ``(n,)`` in ``0..num_classes-1``.

    With ``broadcast=True`` one int stands for all ``n`` labels.
    """
    allowed = f"an integer tensor of shape ({n},) with labels 0..{num_classes - 1}"
    if broadcast:
        allowed += ", or one int for all"
    if broadcast and _is_int(labels):
        labels = torch.full((n,), int(labels), dtype=torch.int64)
    if not isinstance(labels, torch.Tensor):
        raise InputTypeError(what, value=labels, allowed=allowed, fix="Convert with torch.tensor")
    if not _is_integer_tensor(labels):
        raise InputTypeError(
            f"dtype of {what}", value=str(labels.dtype), allowed=allowed, fix="Convert with .long()"
        )
    if tuple(labels.shape) != (n,):
        raise InputError(
            f"shape of {what}",
            value=tuple(labels.shape),
            allowed=allowed,
            fix="Give exactly one label per sample",
        )
    if n:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise InputError(
                f"values of {what}", value=low if low < 0 else high, allowed=allowed
            )
    return labels.to(torch.int64)


def check_num_classes(num_classes: Any) -> int:
    """An int >= 1."""
    if not _is_int(num_classes):
        raise ArgumentTypeError("argument 'num_classes'", value=num_classes, allowed="an int >= 1")
    if int(num_classes) < 1:
        raise InvalidArgumentError(
            "argument 'num_classes'", value=num_classes, allowed="an int >= 1"
        )
    return int(num_classes)


def check_features(features: Any, what: str) -> torch.Tensor:
    """A feature matrix: a real tensor of shape ``(N, F)``, N >= 2, all finite; as float64."""
    allowed = "a real tensor of shape (N, F) with N >= 2 rows and finite values"
    if not isinstance(features, torch.Tensor):
        raise InputTypeError(
            what, value=features, allowed=allowed, fix="Convert with torch.as_tensor(features)"
        )
    if features.is_complex() or features.dtype == torch.bool:
        raise InputTypeError(
            f"dtype of {what}", value=str(features.dtype), allowed=allowed,
            fix="Convert with .double()",
        )
    if features.ndim != 2 or features.shape[1] < 1:
        raise InputError(
            f"shape of {what}",
            value=tuple(features.shape),
            allowed=allowed,
            fix="Flatten each sample's features into one row: features.flatten(1)",
        )
    if features.shape[0] < 2:
        raise InputError(
            f"number of rows of {what}",
            value=int(features.shape[0]),
            allowed="at least 2 rows (a covariance needs two samples)",
            fix="Pass more samples; Frechet distances are only meaningful with hundreds",
        )
    out = features.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(out).all()):
        bad = int((~torch.isfinite(out)).any(1).nonzero()[0, 0])
        raise InputError(
            f"{what} holds NaN or inf (first in row {bad})",
            allowed="finite values",
            fix="Drop or repair the non-finite rows",
        )
    return out
