"""One-off script that builds ``genproto/data/names.npz`` from the 1990 US Census name lists.

Run once, by a maintainer, when the shipped file has to be rebuilt::

    pip download --no-deps names==0.3.0          # fetches names-0.3.0.tar.gz
    python -m genproto.data._build_names names-0.3.0.tar.gz --out genproto/data/names.npz

The input is the source distribution of the PyPI package ``names`` 0.3.0 (Trey
Hunner, MIT), given as the ``.tar.gz`` or as a directory it was unpacked into.
Its three data files are the US Census Bureau's 1990 name frequency lists
(public domain): ``dist.female.first`` (4,275 names), ``dist.male.first``
(1,219) and ``dist.all.last`` (88,799). Each line is a fixed-width record::

    MARY           2.629  2.629      1
    name           freq%  cumul%  rank

with the name in upper-case A-Z, the share of the population carrying it and
the cumulative share, both in percent with three decimals, and the rank (the
line number). The files are read with the standard library; ``names`` is
neither imported here nor needed at runtime.

The output (``np.savez_compressed``, no pickles) holds, for the N = 94,293
names in the order female, male, surname (each list in rank order):

* ``names``: uint8, the upper-case names joined by ``b"\\n"`` (ASCII bytes);
* ``list_id``: uint8, ``(N,)``: 0 female, 1 male, 2 surname (:data:`LISTS`);
* ``freq``: uint16, ``(N,)``: the published frequency in thousandths of a
  percent (``2.629`` -> ``2629``), so the text's digits are kept exactly;
* ``cum``: uint32, ``(N,)``: the published cumulative frequency, likewise;
* ``train_index``, ``test_index``: uint32, sorted row indices of a fixed split
  stratified by list (see :func:`stratified_split`).

The split is stored, not recomputed at load time, so it never changes when
numpy changes its random streams. Rebuilding on another numpy may draw a
different split; keep the shipped file unless the data itself must change.
"""

from __future__ import annotations

import argparse
import re
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from genproto.data._build_digits import stratified_split as _digits_split
from genproto.errors import DataError, DataFileNotFoundError

__all__ = [
    "FILES",
    "LISTS",
    "SPLIT_SEED",
    "TEST_FRACTION",
    "build",
    "main",
    "parse_list",
    "read_source",
    "stratified_split",
]

#: The three lists, in list-id order.
LISTS: tuple[str, ...] = ("female", "male", "surname")
#: The file of each list inside the ``names`` package.
FILES: dict[str, str] = {
    "female": "dist.female.first",
    "male": "dist.male.first",
    "surname": "dist.all.last",
}
#: Seed of the local ``np.random.default_rng`` that draws the split.
SPLIT_SEED = 19900401
#: Share of each list's names that goes to the test split (rounded per list).
TEST_FRACTION = 0.2

_LINE = re.compile(r"^([A-Z]+) +(\d+)\.(\d{3}) +(\d+)\.(\d{3}) +(\d+)$")

#: One parsed list: names, frequencies and cumulative frequencies (thousandths of a percent).
ParsedList = tuple[list[str], list[int], list[int]]


def parse_list(text: str, *, source: str) -> ParsedList:
    """Parse one Census list; check each line's format, ranks 1, 2, ... and unique names.

    Raises:
        DataError: a line does not match ``NAME freq cum rank``, a rank is out of
            order, or a name repeats.
    """
    names: list[str] = []
    freq: list[int] = []
    cum: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.match(line.rstrip())
        if match is None:
            raise DataError(
                f"{source} line {number}",
                value=line,
                allowed="'NAME  freq  cumulative  rank' with NAME in A-Z and 3-decimal percents",
                fix="Pass the data files of the PyPI package names==0.3.0",
            )
        name, f_int, f_frac, c_int, c_frac, rank = match.groups()
        if int(rank) != number:
            raise DataError(
                f"{source} line {number} rank",
                value=int(rank),
                allowed=f"{number} (the line number)",
            )
        names.append(name)
        freq.append(int(f_int) * 1000 + int(f_frac))
        cum.append(int(c_int) * 1000 + int(c_frac))
    if len(set(names)) != len(names):
        raise DataError(f"{source}: names", allowed="each name once", fix="Check the file")
    return names, freq, cum


def read_source(path: str | Path) -> dict[str, ParsedList]:
    """Read the three lists from the ``names`` sdist (``.tar.gz``) or its unpacked directory.

    Raises:
        DataFileNotFoundError: ``path`` does not exist or lacks one of the files.
        DataError: a file is malformed (see :func:`parse_list`).
    """
    path = Path(path)
    texts: dict[str, str] = {}
    if path.is_file():
        with tarfile.open(path, "r:*") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            for key, filename in FILES.items():
                if filename in members:
                    handle = tar.extractfile(members[filename])
                    if handle is not None:
                        texts[key] = handle.read().decode("ascii")
    elif path.is_dir():
        for key, filename in FILES.items():
            found = sorted(path.rglob(filename))
            if found:
                texts[key] = found[0].read_text(encoding="ascii")
    missing = [FILES[key] for key in LISTS if key not in texts]
    if missing:
        raise DataFileNotFoundError(
            f"names source {str(path)!r}",
            value=missing,
            allowed="a names-0.3.0.tar.gz or a directory holding " + ", ".join(FILES.values()),
            fix="Run `pip download --no-deps names==0.3.0` and pass the .tar.gz it writes",
        )
    return {key: parse_list(texts[key], source=FILES[key]) for key in LISTS}


def stratified_split(
    labels: npt.NDArray[np.integer], *, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED
) -> tuple[npt.NDArray[np.unsignedinteger[Any]], npt.NDArray[np.unsignedinteger[Any]]]:
    """The digits' stratified split (``_build_digits.stratified_split``) with the names'
    fraction and seed, as uint32 (88,799 surnames). Names are drawn uniformly within a
    list (not weighted by frequency)."""
    return _digits_split(labels, test_fraction=test_fraction, seed=seed, dtype=np.uint32)


def build(source: str | Path, out: str | Path) -> dict[str, npt.NDArray[np.generic]]:
    """Convert the ``names`` sdist at ``source`` into the ``.npz`` at ``out``; return the arrays."""
    lists = read_source(source)
    names = [name for key in LISTS for name in lists[key][0]]
    list_id = np.concatenate(
        [np.full(len(lists[key][0]), i, dtype=np.uint8) for i, key in enumerate(LISTS)]
    )
    freq = np.array([f for key in LISTS for f in lists[key][1]], dtype=np.uint16)
    cum = np.array([c for key in LISTS for c in lists[key][2]], dtype=np.uint32)
    train_index, test_index = stratified_split(list_id)
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "names": np.frombuffer("\n".join(names).encode("ascii"), dtype=np.uint8),
        "list_id": list_id,
        "freq": freq,
        "cum": cum,
        "train_index": train_index,
        "test_index": test_index,
    }
    np.savez_compressed(Path(out), **arrays)  # type: ignore[arg-type]
    return arrays


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genproto.data._build_names",
        description="Build genproto/data/names.npz from the names==0.3.0 sdist.",
    )
    parser.add_argument("source", type=Path, help="names-0.3.0.tar.gz or its unpacked directory")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name("names.npz"),
        help="output .npz (default: next to this script)",
    )
    args = parser.parse_args(argv)
    arrays = build(args.source, args.out)
    counts = np.bincount(arrays["list_id"], minlength=len(LISTS)).tolist()
    print(
        f"wrote {args.out}: "
        + ", ".join(f"{n} {key}" for key, n in zip(LISTS, counts, strict=True))
        + f"; {len(arrays['train_index'])} train / {len(arrays['test_index'])} test"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
