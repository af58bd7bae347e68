"""The 8x8 handwritten digits, shipped with genproto as ``digits.npz``.

The data are the 1,797 images of the UCI "Optical Recognition of Handwritten
Digits" test set (E. Alpaydin and C. Kaynak, 1998, CC BY 4.0,
https://doi.org/10.24432/C50P49), in the copy that scikit-learn distributes;
``DIGITS_LICENSE.txt`` gives the attribution and ``_build_digits.py`` the
conversion. Each image counts the "on" pixels of a 32x32 bitmap in 4x4 blocks,
so every pixel is an integer ``0..16``: a discrete event space of 17 levels on
an 8x8 grid, small enough to train every paradigm on a laptop CPU.

The split is fixed and stored in the file (stratified by class, about 80/20):

=====  ======  ====================================================
split  images  per class (digits 0..9)
=====  ======  ====================================================
train  1,438   142 146 142 146 145 146 145 143 139 144
test   359     36 36 35 37 36 36 36 36 35 36
all    1,797   178 182 177 183 181 182 181 179 174 180
=====  ======  ====================================================

The file is read once (``importlib.resources``) and cached read-only; every
call to :func:`load_digits` returns fresh int64 tensors.
"""

from __future__ import annotations

import difflib
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import torch

from genproto.data._shipped import shipped_arrays
from genproto.data.dataset import Dataset
from genproto.errors import InvalidArgumentError
from genproto.protocol import EventSpace

__all__ = ["DIGITS_EVENT", "DigitsSplit", "load_digits"]

DigitsSplit = Literal["train", "test", "all"]

#: 17 grey levels (0..16) on an 8x8 grid.
DIGITS_EVENT = EventSpace.discrete((8, 8), 17)
_NUM_CLASSES = 10
_SPLITS: tuple[str, ...] = get_args(DigitsSplit)


def _arrays() -> dict[str, npt.NDArray[np.generic]]:
    """The arrays of ``digits.npz``, read once and made read-only."""
    return shipped_arrays("digits.npz")


def load_digits(split: DigitsSplit = "train") -> Dataset:
    """The 8x8 digits of one split, as int64 levels ``0..16`` with int64 labels ``0..9``.

    Args:
        split: ``"train"`` (1,438 images), ``"test"`` (359) or ``"all"`` (1,797,
            in the original order).

    Returns:
        A :class:`Dataset` named ``"digits/<split>"`` with ``x`` of shape
        ``(N, 8, 8)``, ``y`` of shape ``(N,)``, ``num_classes=10`` and event
        space ``EventSpace.discrete((8, 8), 17)``. The tensors are new on every
        call.

    Raises:
        InvalidArgumentError: ``split`` is not one of the three names.
    """
    if not isinstance(split, str) or split not in _SPLITS:
        close = difflib.get_close_matches(split, _SPLITS, n=1) if isinstance(split, str) else []
        raise InvalidArgumentError(
            "load_digits() argument 'split'",
            value=split,
            allowed=" | ".join(repr(s) for s in _SPLITS),
            fix=f"Did you mean {close[0]!r}?" if close else "Pass one of the allowed names",
        )
    arrays = _arrays()
    images, labels = arrays["images"], arrays["labels"]  # (1797, 8, 8), (1797,) uint8
    if split != "all":
        rows = arrays[f"{split}_index"].astype(np.intp)  # (N,)
        images, labels = images[rows], labels[rows]
    # astype copies, so the tensors never share memory with the cache or each other.
    x = torch.from_numpy(images.astype(np.int64))  # (N, 8, 8)
    y = torch.from_numpy(labels.astype(np.int64))  # (N,)
    return Dataset(x=x, y=y, name=f"digits/{split}", event=DIGITS_EVENT, num_classes=_NUM_CLASSES)
