"""One-off script that builds ``genproto/data/digits.npz`` from scikit-learn's digits CSV.

Run once, by a maintainer, when the shipped file has to be rebuilt::

    python -m genproto.data._build_digits /path/to/sklearn/datasets/data/digits.csv.gz

The input is the copy of the UCI "Optical Recognition of Handwritten Digits"
test set (``optdigits.tes``, E. Alpaydin and C. Kaynak, 1998, CC BY 4.0,
https://doi.org/10.24432/C50P49) that ships inside scikit-learn's wheel: 1,797
rows, each 64 pixel counts ``0..16`` (an 8x8 image, row by row) followed by the
label ``0..9``. It is read with numpy only; scikit-learn is neither imported
here nor needed at runtime.

The output (``np.savez_compressed``) holds:

* ``images``: uint8, ``(1797, 8, 8)``, the pixels unchanged;
* ``labels``: uint8, ``(1797,)``, the labels unchanged;
* ``train_index``, ``test_index``: uint16, sorted row indices of a fixed
  stratified split (see :func:`stratified_split`): 1,438 train and 359 test rows.

The split is stored, not recomputed at load time, so it never changes when
numpy changes its random streams. Rebuilding on another numpy may draw a
different split; keep the shipped file unless the data itself must change.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from genproto.errors import DataError

__all__ = ["SPLIT_SEED", "TEST_FRACTION", "build", "main", "read_csv", "stratified_split"]

#: Seed of the local ``np.random.default_rng`` that draws the split.
SPLIT_SEED = 20261129
#: Share of each class that goes to the test split (rounded per class).
TEST_FRACTION = 0.2

_ROWS, _PIXELS, _LEVELS, _CLASSES = 1797, 64, 17, 10


def read_csv(path: str | Path) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Read the (optionally gzipped) CSV; return ``images (N, 8, 8)`` and ``labels (N,)``.

    Raises:
        DataError: the file does not have 1,797 rows of 65 integers in range.
    """
    table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)  # (N, 65)
    if table.shape != (_ROWS, _PIXELS + 1):
        raise DataError(
            f"digits CSV {str(path)!r} shape",
            value=table.shape,
            allowed=f"({_ROWS}, {_PIXELS + 1}): 64 pixels and a label per row",
            fix="Pass sklearn/datasets/data/digits.csv.gz from a scikit-learn wheel",
        )
    pixels, labels = table[:, :_PIXELS], table[:, _PIXELS]
    if pixels.min() < 0 or pixels.max() >= _LEVELS:
        raise DataError(
            "digits CSV pixel range",
            value=(int(pixels.min()), int(pixels.max())),
            allowed=f"0..{_LEVELS - 1}",
            fix="Check that the file is the UCI optdigits data",
        )
    if labels.min() < 0 or labels.max() >= _CLASSES:
        raise DataError(
            "digits CSV label range",
            value=(int(labels.min()), int(labels.max())),
            allowed=f"0..{_CLASSES - 1}",
            fix="Check that the file is the UCI optdigits data",
        )
    images = pixels.reshape(_ROWS, 8, 8).astype(np.uint8)  # (N, 8, 8), row-major as in the CSV
    return images, labels.astype(np.uint8)


def stratified_split(
    labels: npt.NDArray[np.integer], *, test_fraction: float = TEST_FRACTION,
    seed: int = SPLIT_SEED, dtype: type[np.unsignedinteger[Any]] = np.uint16,
) -> tuple[npt.NDArray[np.unsignedinteger[Any]], npt.NDArray[np.unsignedinteger[Any]]]:
    """A stratified train/test split of row indices, both returned sorted, as ``dtype``.

    1. One local ``np.random.default_rng(seed)`` (never the global RNG).
    2. For each class ``c = 0, 1, ...`` in order: permute that class's row
       indices with the generator and send the first ``round(test_fraction * n_c)``
       of them to the test split, the rest to train.

    Every class is thus in both splits in (nearly) the same proportion. The names
    corpus (``_build_names``) splits its lists with this same function.
    """
    rng = np.random.default_rng(seed)
    train: list[npt.NDArray[np.intp]] = []
    test: list[npt.NDArray[np.intp]] = []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        k = round(test_fraction * len(rows))
        test.append(rows[:k])
        train.append(rows[k:])
    return (
        np.sort(np.concatenate(train)).astype(dtype),
        np.sort(np.concatenate(test)).astype(dtype),
    )


def build(csv: str | Path, out: str | Path) -> dict[str, npt.NDArray[np.generic]]:
    """Convert ``csv`` into the ``.npz`` at ``out``; return the arrays written."""
    images, labels = read_csv(csv)
    train_index, test_index = stratified_split(labels)
    np.savez_compressed(
        Path(out),
        images=images,
        labels=labels,
        train_index=train_index,
        test_index=test_index,
    )
    return {
        "images": images,
        "labels": labels,
        "train_index": train_index,
        "test_index": test_index,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genproto.data._build_digits",
        description="Build genproto/data/digits.npz from scikit-learn's digits.csv.gz.",
    )
    parser.add_argument("csv", type=Path, help="path to digits.csv(.gz)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name("digits.npz"),
        help="output .npz (default: next to this script)",
    )
    args = parser.parse_args(argv)
    arrays = build(args.csv, args.out)
    print(
        f"wrote {args.out}: {len(arrays['labels'])} images, "
        f"{len(arrays['train_index'])} train / {len(arrays['test_index'])} test"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
