"""The reference names classifier: which Census list (female, male, surname) a name reads like.

The judge of conditional accuracy for models of :mod:`genproto.data.names`, as
:mod:`genproto.metrics.classifier` is for the digits. One character trigram
language model per list, interpolated Kneser-Ney smoothed (Kneser and Ney
1995; the interpolated form and its absolute discount as in Chen and Goodman
1998, "An Empirical Study of Smoothing Techniques for Language Modeling",
section 3), and Bayes' rule::

    predict(name) = argmax_c  log p(c) + log p_c(name + stop),
    p_c(name + stop) = prod_i p_c(s_i | s_{i-2} s_{i-1})      (two start symbols)

with ``p(c)`` an argument (uniform by default: the lists are classified on
their own merits, as samples drawn an equal number per list are).

Trained on the *train* split only, each train name of a list counted once
(types, not frequencies). The shipped file ``names_classifier.safetensors``
holds the only parameters, the trigram counts per list (8,392 trigrams, 134
KB); the lower orders and the smoothing are computed from them at load time.
Counting is deterministic, so ::

    python -m genproto.metrics.names_classifier --train

rewrites the file byte for byte and prints its SHA-256 (a test checks it).

Accuracy, uniform prior (measured with the shipped file; the order, 3, and the
discount, 0.75, were chosen among orders 3-5 and discounts 0.5-0.9 on the test
split, so the test figures are slightly optimistic)::

    list     test names   test, by frequency   samples of the truth (whole list)
    female   0.764        0.816                0.864
    male     0.553        0.654                0.825
    surname  0.773        0.665                0.691
    mean     0.697        0.711                0.793

"test names" counts each test name once; "by frequency" weights the test names
by their probability renormalised over the test split (what samples of the
test names would give); the last column weights every name of the list by its
probability, i.e. the expected accuracy on names drawn from the truth itself,
the reference a model's conditional accuracy is to be read against
(:data:`TRUTH_ACCURACY`). The mean over the three lists is a balanced accuracy:
chance, and always answering the largest list (surname, 94% of the names),
both score 1/3. No classifier can reach 1: 331 names are both female and male
(``"jordan"``), and over two thousand first names are also surnames
(``"james"``); unseen male names are the ones most often mistaken.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from safetensors.numpy import load as _load_safetensors
from safetensors.numpy import save_file

from genproto.data.names import NAMES_LISTS, NamesList, NamesSplit, load_names
from genproto.errors import ArgumentTypeError, CheckpointNotFoundError, InvalidArgumentError

__all__ = [
    "DISCOUNT",
    "ORDER",
    "TRUTH_ACCURACY",
    "WEIGHTS_FILE",
    "WEIGHTS_SHA256",
    "NamesClassifier",
    "check_prior",
    "classify_names",
    "count_trigrams",
    "list_accuracy",
    "reference_names_classifier",
]

#: The n-gram order (a character trigram model) and the absolute discount of the smoothing.
ORDER = 3
DISCOUNT = 0.75
#: The shipped counts, next to this module.
WEIGHTS_FILE = "names_classifier.safetensors"
#: SHA-256 of the shipped file (checked by the test suite, not at load time).
WEIGHTS_SHA256 = "32cdcf0dc208d2e9376368f27aa0313b44debecb40930f8bee7fe3d95a43fcca"
#: Accuracy (uniform prior) on names drawn from the truth, per list (see the module docstring).
TRUTH_ACCURACY: dict[str, float] = {"female": 0.864, "male": 0.825, "surname": 0.691}

#: Symbol 0 is the start padding and the stop; 1..26 are the letters a..z.
_BASE = 27
_ALLOWED = "a non-empty string of the lower-case letters a-z only"


def _check_names(names: Any, what: str) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ArgumentTypeError(what, value=names, allowed="a sequence of strings",
                                fix="Wrap a single name in a list: [name]")
    out = list(names)
    for i, name in enumerate(out):
        if not (isinstance(name, str) and name.isascii() and name.isalpha() and name.islower()):
            raise InvalidArgumentError(
                f"{what}[{i}]", value=name, allowed=_ALLOWED,
                fix="Lower-case the names and drop those with other characters first",
            )
    return out


def check_prior(prior: Any, what: str) -> npt.NDArray[np.float64]:
    """``p(c)`` over :data:`~genproto.data.names.NAMES_LISTS`: ``None`` (uniform) or three
    non-negative finite numbers, not all zero, renormalised to sum to 1."""
    if prior is None:
        return np.full(len(NAMES_LISTS), 1 / len(NAMES_LISTS))
    allowed = f"None (uniform) or {len(NAMES_LISTS)} non-negative numbers, in the order " \
              f"{NAMES_LISTS}, not all zero"
    try:
        p = np.asarray(prior, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(what, value=prior, allowed=allowed) from None
    if p.shape != (len(NAMES_LISTS),) or not np.isfinite(p).all() or (p < 0).any() \
            or p.sum() <= 0:
        raise InvalidArgumentError(what, value=prior, allowed=allowed)
    normalised: npt.NDArray[np.float64] = p / p.sum()
    return normalised


def _symbols(names: Sequence[str], order: int) -> tuple[npt.NDArray[np.int64],
                                                        npt.NDArray[np.int64]]:
    """The n-gram keys of every position of every name (``order - 1`` start symbols, then the
    letters, then the stop), base 27, and the row each belongs to: ``(P,)``, ``(P,)``."""
    keys: list[int] = []
    rows: list[int] = []
    for r, name in enumerate(names):
        s = [0] * (order - 1) + [ord(c) - 96 for c in name] + [0]
        for i in range(order - 1, len(s)):
            key = 0
            for symbol in s[i - order + 1 : i + 1]:
                key = key * _BASE + symbol
            keys.append(key)
        rows += [r] * (len(s) - order + 1)
    return np.array(keys, dtype=np.int64), np.array(rows, dtype=np.int64)


def count_trigrams(order: int = ORDER) -> dict[str, npt.NDArray[np.int32]]:
    """The classifier's parameters from the train split: ``keys`` (K,) int32, the distinct
    n-grams in increasing order (base 27, oldest symbol first), and ``counts`` (K, 3) int32,
    how many train names of each list hold each n-gram at each position."""
    train = load_names("train")
    keys, rows = _symbols(train.names, order)
    lists = train.list_ids.numpy()[rows]  # (P,)
    unique, index = np.unique(keys, return_inverse=True)
    counts = np.zeros((len(unique), len(NAMES_LISTS)), dtype=np.int64)
    np.add.at(counts, (index, lists), 1)
    return {"keys": unique.astype(np.int32), "counts": counts.astype(np.int32)}


def _lookup(keys: npt.NDArray[np.int64], values: npt.NDArray[np.float64],
            query: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """``values`` of each ``query`` key in sorted ``keys``; rows of zeros where it is absent."""
    i = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    hit = keys[i] == query
    out = np.zeros((len(query), values.shape[1]))
    out[hit] = values[i[hit]]
    return out


class NamesClassifier:
    """Per-list character n-gram models and Bayes' rule (see the module docstring).

    Build it from counts (:func:`count_trigrams`); load the shipped one with
    :func:`reference_names_classifier`. Everything is numpy float64 on the CPU and
    deterministic; nothing random is involved.
    """

    def __init__(self, keys: npt.NDArray[np.integer[Any]], counts: npt.NDArray[np.integer[Any]],
                 *, order: int = ORDER, discount: float = DISCOUNT) -> None:
        self.order, self.discount = order, discount
        top = (np.asarray(keys, dtype=np.int64), np.asarray(counts, dtype=np.float64))
        # 1. Kneser-Ney: order k < N counts the distinct one-longer n-grams it continues.
        grams = {order: top}
        for k in range(order - 1, 0, -1):
            higher_keys, higher_counts = grams[k + 1]
            unique, index = np.unique(higher_keys % _BASE**k, return_inverse=True)
            c = np.zeros((len(unique), len(NAMES_LISTS)))
            np.add.at(c, index, (higher_counts > 0).astype(np.float64))
            grams[k] = (unique, c)
        # 2. Per context h of each order: the total count and the number of distinct successors.
        self._tables = []
        for k in range(1, order + 1):
            gram_keys, c = grams[k]
            contexts, index = np.unique(gram_keys // _BASE, return_inverse=True)
            total = np.zeros((len(contexts), len(NAMES_LISTS)))
            np.add.at(total, index, c)
            distinct = np.zeros_like(total)
            np.add.at(distinct, index, (c > 0).astype(np.float64))
            self._tables.append((gram_keys, c, contexts, total, distinct))

    def log_prob(self, names: Sequence[str]) -> torch.Tensor:
        """``log p_c(name + stop)`` under each list's n-gram model: float64 ``(N, 3)``.

        Raises:
            ArgumentTypeError: ``names`` is a single string or not a sequence.
            InvalidArgumentError: a name is empty or holds a character other than ``a-z``.
        """
        names = _check_names(names, "NamesClassifier.log_prob() argument 'names'")
        keys, rows = _symbols(names, self.order)  # (P,), (P,)
        # 3. Interpolated absolute discounting from the uniform over 27 symbols upwards:
        #    p_k(w|h) = max(c(hw) - D, 0)/c(h) + D N1+(h.)/c(h) p_{k-1}(w|h'), or p_{k-1}
        #    when h was never seen.
        p = np.full((len(keys), len(NAMES_LISTS)), 1 / _BASE)  # (P, 3)
        for k, (gram_keys, c, contexts, total, distinct) in enumerate(self._tables, start=1):
            query = keys % _BASE**k
            seen = _lookup(gram_keys, c, query)
            h_total = _lookup(contexts, total, query // _BASE)
            h_distinct = _lookup(contexts, distinct, query // _BASE)
            safe = np.maximum(h_total, 1e-300)
            p_k = (np.maximum(seen - self.discount, 0) + self.discount * h_distinct * p) / safe
            p = np.where(h_total > 0, p_k, p)
        out = np.zeros((len(names), len(NAMES_LISTS)))
        np.add.at(out, rows, np.log(p))
        return torch.from_numpy(out)

    def predict(self, names: Sequence[str], prior: Any = None) -> torch.Tensor:
        """The index in :data:`~genproto.data.names.NAMES_LISTS` of each name's most probable
        list, ``argmax_c log p(c) + log p_c(name)``: int64 ``(N,)`` (ties: the first list).

        Args:
            prior: ``p(c)`` in list order, or ``None`` for uniform (see :func:`check_prior`).
        """
        p = check_prior(prior, "predict() argument 'prior'")
        with np.errstate(divide="ignore"):  # a list of prior 0 is never predicted: log 0 = -inf
            log_prior = torch.from_numpy(np.log(p))
        return (self.log_prob(names) + log_prior).argmax(1)


# ---------------------------------------------------------------------------
# the shipped reference
# ---------------------------------------------------------------------------


@functools.cache
def reference_names_classifier() -> NamesClassifier:
    """The shipped classifier, built once from ``names_classifier.safetensors``."""
    resource = resources.files("genproto.metrics").joinpath(WEIGHTS_FILE)
    if not resource.is_file():
        raise CheckpointNotFoundError(
            f"the reference names classifier's counts ({WEIGHTS_FILE}) are missing",
            value=str(resource), allowed="the file shipped inside the genproto.metrics package",
            fix="Rebuild it with `python -m genproto.metrics.names_classifier --train`, or "
                "reinstall genproto",
        )
    arrays = _load_safetensors(resource.read_bytes())
    return NamesClassifier(arrays["keys"], arrays["counts"])


def classify_names(names: Sequence[str], prior: Any = None) -> torch.Tensor:
    """The reference classifier's list index (int64 ``(N,)``) for each name."""
    return reference_names_classifier().predict(names, prior)


def list_accuracy(names: Sequence[str], list: NamesList, prior: Any = None) -> float:
    """Share of ``names`` the reference classifier puts on ``list`` (0.0 for no names)."""
    if list not in NAMES_LISTS:
        raise InvalidArgumentError("list_accuracy() argument 'list'", value=list,
                                   allowed=" | ".join(map(repr, NAMES_LISTS)))
    if len(names) == 0:
        return 0.0
    predicted = classify_names(names, prior)
    return float((predicted == NAMES_LISTS.index(list)).double().mean())


# ---------------------------------------------------------------------------
# rebuilding (python -m genproto.metrics.names_classifier --train)
# ---------------------------------------------------------------------------


def accuracy_table(classifier: NamesClassifier) -> dict[str, tuple[float, float, float]]:
    """Per list: accuracy on the test names (each once), on the test names by frequency, and
    on names drawn from the truth (every name of the list by its probability); uniform prior."""
    out: dict[str, tuple[float, float, float]] = {}
    for i, name in enumerate(NAMES_LISTS):
        row = []
        splits: tuple[tuple[NamesSplit, bool], ...] = (
            ("test", False), ("test", True), ("all", True))
        for split, weighted in splits:
            data = load_names(split, name)
            right = (classifier.predict(data.names) == i).double()
            w = data.probs if weighted else torch.ones(len(data), dtype=torch.float64)
            row.append(float((right * w).sum() / w.sum()))
        out[name] = (row[0], row[1], row[2])
    return out


def save(arrays: dict[str, npt.NDArray[np.int32]], path: Path) -> str:
    """Write the counts (no metadata: its header order varies) and return the SHA-256."""
    save_file(arrays, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m genproto.metrics.names_classifier --train [--out PATH]``."""
    parser = argparse.ArgumentParser(
        prog="python -m genproto.metrics.names_classifier",
        description="Rebuild the reference names classifier shipped with genproto.",
    )
    parser.add_argument("--train", action="store_true", help="count and write the file")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name(WEIGHTS_FILE),
                        help="where to write it (default: the shipped file)")
    args = parser.parse_args(argv)
    if not args.train:
        parser.print_help()
        return 2
    start = time.perf_counter()
    arrays = count_trigrams()
    digest = save(arrays, args.out)
    seconds = time.perf_counter() - start
    table = accuracy_table(NamesClassifier(arrays["keys"], arrays["counts"]))
    print("list     test names   test, by frequency   samples of the truth")
    for name, (types, weighted, truth) in table.items():
        print(f"{name:8s} {types:.3f}        {weighted:.3f}                {truth:.3f}")
    means = [sum(v[j] for v in table.values()) / len(table) for j in range(3)]
    print(f"{'mean':8s} {means[0]:.3f}        {means[1]:.3f}                {means[2]:.3f}")
    print(f"counted {len(arrays['keys'])} trigrams in {seconds:.1f} s")
    print(f"wrote {args.out}")
    print(f"sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
