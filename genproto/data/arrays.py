"""Load a user's own data from a NumPy ``.npy`` or ``.npz`` file into a :class:`Dataset`.

The file is read with ``allow_pickle=False`` always: a data file can never run
code. What the arrays become:

* **integer** (or boolean) ``x`` -> a discrete event space, int64 values,
  ``levels = max(x) + 1`` but at least 2 (so all-zero data still declares a
  binary space). Values must be ``>= 0``.
* **floating** ``x`` -> a continuous event space, float32 values, all finite.
* anything else (strings, objects, complex numbers) is refused.

``x`` must have shape ``(N, *event)`` with at least 2 dimensions (scalars are
``(N, 1)``). Labels are optional, one non-negative integer per sample;
``num_classes = max(y) + 1``.

A ``.npy`` file holds ``x`` only. In a ``.npz`` file ``x`` is under the key
``"x"`` and labels, if any, under ``"y"`` or ``"labels"``; ``key`` and
``labels_key`` name other keys.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from genproto.data.dataset import Dataset
from genproto.errors import DataError, DataFileNotFoundError, InvalidArgumentError
from genproto.protocol import EventSpace

__all__ = ["load_array"]

_LABEL_KEYS = ("y", "labels")
_SAVE_HINT = "np.savez(path, x=x, y=labels) to keep labels"


def _read_npy(path: Path) -> npt.NDArray[np.generic]:
    try:
        with path.open("rb") as handle:
            array: npt.NDArray[np.generic] = np.lib.format.read_array(handle, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:  # a bad header, truncated data, objects
        raise _unreadable(path, error) from error
    return array


def _read_npz(
    path: Path, key: str | None, labels_key: str | None
) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.generic] | None]:
    """The ``x`` array and the optional label array of an ``.npz`` file."""
    if not zipfile.is_zipfile(path):
        raise _unreadable(path, "not a zip archive")
    try:
        with np.load(path, allow_pickle=False) as npz:
            x_key, y_key = _keys(path, sorted(npz.files), key, labels_key)
            x = npz[x_key]
            y = None if y_key is None else npz[y_key]
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:  # e.g. object arrays
        raise _unreadable(path, error) from error
    return x, y


def _keys(
    path: Path, available: list[str], key: str | None, labels_key: str | None
) -> tuple[str, str | None]:
    """The keys of ``x`` and of the labels (``None``: no labels) among ``available``."""
    listed = f"keys in the file: {', '.join(map(repr, available)) or 'none'}"
    x_key = "x" if key is None else key
    if x_key not in available:
        raise DataError(
            f"{path.name}: no array under key {x_key!r}",
            value=x_key,
            allowed=listed,
            fix="Pass key=<the data key>" if key is None else "Pass one of those keys",
        )
    if labels_key is not None:
        if labels_key not in available:
            raise DataError(
                f"{path.name}: no labels under key {labels_key!r}",
                value=labels_key,
                allowed=listed,
                fix="Pass one of those keys as labels_key, or leave it None",
            )
        return x_key, labels_key
    found = [k for k in _LABEL_KEYS if k in available and k != x_key]
    if len(found) > 1:
        raise DataError(
            f"{path.name}: ambiguous labels",
            value=found,
            allowed="at most one of the keys 'y' and 'labels'",
            fix="Pass labels_key= to choose one",
        )
    return x_key, found[0] if found else None


def _unreadable(path: Path, reason: object) -> DataError:
    if isinstance(reason, ValueError) and "allow_pickle" in str(reason):
        # numpy refuses object arrays without pickle; say so as a dtype error.
        return DataError(
            f"{path.name}: array dtype",
            value="object",
            allowed="an integer, boolean or floating dtype (object arrays are never unpickled)",
            fix="Convert to numbers before saving, e.g. x.astype(np.float32)",
        )
    return DataError(
        f"cannot read {str(path)!r} as a NumPy {path.suffix} file ({reason})",
        allowed="numeric arrays saved with np.save / np.savez",
        fix=f"Re-save the data: np.save(path, x), or {_SAVE_HINT}",
    )


def _events(x: npt.NDArray[np.generic], name: str) -> tuple[torch.Tensor, EventSpace]:
    """Validate ``x`` and convert it to a tensor and its event space."""
    # 1. shape (N, *event): at least 2 dims, none empty
    if x.ndim < 2 or 0 in x.shape:
        raise DataError(
            f"{name}: x shape",
            value=x.shape,
            allowed="(N, *event) with at least 2 dimensions, none of size 0",
            fix="For scalar data reshape to (N, 1) with x.reshape(-1, 1)",
        )
    kind = x.dtype.kind
    # 2. integers -> discrete levels 0..max
    if kind in "biu":
        if kind != "b" and int(x.min()) < 0:
            raise DataError(
                f"{name}: x has negative values",
                value=int(x.min()),
                allowed="integer levels >= 0",
                fix="Shift the data with x - x.min(), or save it as float for continuous data",
            )
        if kind == "u" and int(x.max()) > np.iinfo(np.int64).max:
            raise DataError(
                f"{name}: x values overflow int64", value=int(x.max()), allowed="<= 2**63 - 1"
            )
        levels = max(int(x.max()) + 1, 2)
        return torch.from_numpy(x.astype(np.int64)), EventSpace.discrete(x.shape[1:], levels)
    # 3. floats -> continuous float32, finite
    if kind == "f":
        finite = np.isfinite(x)
        if not finite.all():
            raise DataError(
                f"{name}: x has NaN or infinite values",
                value=float(x[~finite][0]),
                allowed="finite values",
                fix="Drop or impute the non-finite entries before saving",
            )
        limit = float(np.finfo(np.float32).max)
        if float(np.abs(x).max()) > limit:
            raise DataError(
                f"{name}: x values overflow float32",
                value=float(np.abs(x).max()),
                allowed=f"finite values of magnitude <= {limit:.4g}",
                fix="Rescale the data (e.g. standardise it) before saving",
            )
        return torch.from_numpy(x.astype(np.float32)), EventSpace.continuous(x.shape[1:])
    raise DataError(
        f"{name}: x dtype",
        value=str(x.dtype),
        allowed="an integer, boolean or floating dtype",
        fix="Convert to numbers, e.g. x.astype(np.float32)",
    )


def _labels(y: npt.NDArray[np.generic], n: int, name: str) -> tuple[torch.Tensor, int]:
    """Validate labels ``y`` for ``n`` samples; return them as int64 and the class count."""
    if y.dtype.kind not in "iu":
        raise DataError(
            f"{name}: labels dtype",
            value=str(y.dtype),
            allowed="an integer dtype",
            fix="Convert with labels.astype(np.int64)",
        )
    if y.shape != (n,):
        raise DataError(
            f"{name}: labels shape",
            value=y.shape,
            allowed=f"({n},): one label per sample of x",
            fix="Give exactly one label per sample, as a 1-D array",
        )
    if int(y.min()) < 0:
        raise DataError(
            f"{name}: labels have negative values",
            value=int(y.min()),
            allowed="class labels 0..num_classes-1",
            fix="Relabel the classes as 0, 1, 2, ...",
        )
    return torch.from_numpy(y.astype(np.int64)), int(y.max()) + 1


def load_array(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    labels_key: str | None = None,
) -> Dataset:
    """Read ``x`` (and optional labels) from a ``.npy`` or ``.npz`` file as a :class:`Dataset`.

    Args:
        path: a ``.npy`` file holding ``x`` only, or a ``.npz`` file.
        key: the ``.npz`` key of ``x`` (default ``"x"``).
        labels_key: the ``.npz`` key of the labels (default: ``"y"`` or ``"labels"``
            if present, else no labels).

    Returns:
        A data set named after the file: discrete (int64) for integer data,
        continuous (float32) for floating data.

    Raises:
        DataFileNotFoundError: ``path`` does not exist.
        DataError: an unsupported extension, a missing key, a bad shape, dtype or
            value in ``x`` or the labels.
        InvalidArgumentError: ``key`` or ``labels_key`` given for a ``.npy`` file.
    """
    file = Path(path)
    if not file.exists():
        raise DataFileNotFoundError(
            "data file not found",
            value=str(file),
            allowed="an existing .npy or .npz file",
            fix="Check the path (relative paths start at the current directory)",
        )
    if not file.is_file():
        raise DataError(
            "data path is not a file",
            value=str(file),
            allowed="a .npy or .npz file",
            fix="Point at the file inside that directory",
        )
    suffix = file.suffix.lower()
    if suffix == ".npy":
        for arg, value in (("key", key), ("labels_key", labels_key)):
            if value is not None:
                raise InvalidArgumentError(
                    f"load_array() argument {arg!r} for the .npy file {file.name!r}",
                    value=value,
                    allowed="None: a .npy file holds one array and no keys",
                    fix=f"Save x alone with np.save, or use {_SAVE_HINT} and load the .npz",
                )
        raw_x, raw_y = _read_npy(file), None
    elif suffix == ".npz":
        raw_x, raw_y = _read_npz(file, key, labels_key)
    else:
        raise DataError(
            f"unsupported data file extension of {file.name!r}",
            value=file.suffix,
            allowed="'.npy' or '.npz'",
            fix=f"Convert the data with np.save(path, x), or {_SAVE_HINT}",
        )
    x, event = _events(raw_x, file.name)
    if raw_y is None:
        return Dataset(x=x, y=None, name=file.stem, event=event)
    y, num_classes = _labels(raw_y, len(x), file.name)
    return Dataset(x=x, y=y, name=file.stem, event=event, num_classes=num_classes)
