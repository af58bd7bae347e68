"""The 1990 US Census name lists, shipped as ``names.npz``: a known distribution over strings.

The US Census Bureau published, from the 1990 census, the frequency of every
first name and surname that was common enough (public domain); genproto reads
the copy packaged in the PyPI package ``names`` 0.3.0 (Trey Hunner, MIT) at
build time only (``_build_names.py``; ``NAMES_LICENSE.txt`` gives the
attribution). Three lists, each a distribution over names:

=======  ======  ======  ======
list     names   train   test
=======  ======  ======  ======
female   4,275   3,420   855
male     1,219   975     244
surname  88,799  71,039  17,760
=======  ======  ======  ======

The split is fixed and stored in the file: 20% of each list's names (drawn
uniformly, not by frequency) are test names. A name that is on two lists (say
``"james"``, male and surname) is two entries, one per list.

Names are handed out in **lower case** (``"mary"``), letters ``a-z`` only, as
the Census lists hold nothing but the upper-case letters A-Z;
:func:`names_log_prob` ignores case.

The distribution of a list (the "truth" a model is measured against)::

    p(name | list) = w(name) / sum of w over the list

where ``w`` is the published frequency (percent of the population, three
decimals). 69,960 surnames are published as ``0.000`` (rarer than 0.0005%);
they share equally the mass the published cumulative column gives them (the
final cumulative, 90.483%, minus the cumulative at the last surname above
zero, 77.480%), so every listed name has ``p > 0`` and a name off the list has
``p = 0`` (log-probability ``-inf``). :func:`names_log_prob` and
:func:`names_entropy` are exact for this distribution, so a model's
cross-entropy to the truth, ``-mean log q`` over names drawn from ``p``, can be
compared with the entropy ``H(p)``, as ``toy2d`` does for points.

The file is read once (``importlib.resources``) and cached read-only; every
call returns fresh lists and tensors.
"""

from __future__ import annotations

import builtins
import difflib
import functools
import math
import re
from collections.abc import Sequence
from typing import Any, Literal, get_args

import attrs
import numpy as np
import numpy.typing as npt
import torch

from genproto.data._shipped import shipped_arrays
from genproto.errors import ArgumentTypeError, InvalidArgumentError

__all__ = [
    "NAMES_LISTS",
    "NamesData",
    "NamesList",
    "NamesSplit",
    "load_names",
    "names_entropy",
    "names_log_prob",
]

NamesSplit = Literal["train", "test", "all"]
NamesList = Literal["female", "male", "surname"]

#: The three lists, in list-id order (``list_ids`` 0, 1, 2).
NAMES_LISTS: tuple[NamesList, ...] = get_args(NamesList)
_SPLITS: tuple[str, ...] = get_args(NamesSplit)
_LETTERS = re.compile(r"[A-Za-z]+")


def _arrays() -> dict[str, npt.NDArray[np.generic]]:
    """The arrays of ``names.npz``, read once and made read-only."""
    return shipped_arrays("names.npz")


@functools.cache
def _names() -> tuple[str, ...]:
    """Every name, lower case, in file order (female, male, surname; each by rank)."""
    return tuple(_arrays()["names"].tobytes().decode("ascii").lower().split("\n"))


@functools.cache
def _probs() -> npt.NDArray[np.float64]:
    """``p(name | its list)`` for every row, float64, read-only (rule: module docstring)."""
    arrays = _arrays()
    list_id, freq, cum = arrays["list_id"], arrays["freq"], arrays["cum"]
    probs = np.empty(len(list_id), dtype=np.float64)
    for i in range(len(NAMES_LISTS)):
        rows = np.flatnonzero(list_id == i)
        # 1. w: the published frequency, in thousandths of a percent (exact integers).
        w = freq[rows].astype(np.float64)
        zero = w == 0
        if zero.any():
            # 2. Names published as 0.000 share the cumulative mass past the last name above zero.
            last = int(np.flatnonzero(~zero)[-1])
            tail = float(cum[rows][-1]) - float(cum[rows][last])
            w[zero] = tail / int(zero.sum())
        # 3. Renormalise over the list.
        probs[rows] = w / w.sum()
    probs.setflags(write=False)
    return probs


@functools.cache
def _log_prob_table(list_name: str) -> dict[str, float]:
    """name (lower case) -> log p(name | list) for one list."""
    i = NAMES_LISTS.index(list_name)
    rows = np.flatnonzero(_arrays()["list_id"] == i)
    names, log_probs = _names(), np.log(_probs()[rows])
    return {names[r]: float(lp) for r, lp in zip(rows.tolist(), log_probs.tolist(), strict=True)}


def _check_choice(function: str, argument: str, value: Any, allowed: tuple[str, ...]) -> None:
    if isinstance(value, str) and value in allowed:
        return
    close = difflib.get_close_matches(value, allowed, n=1) if isinstance(value, str) else []
    raise InvalidArgumentError(
        f"{function}() argument {argument!r}",
        value=value,
        allowed=" | ".join(repr(s) for s in allowed),
        fix=f"Did you mean {close[0]!r}?" if close else "Pass one of the allowed names",
    )


@attrs.frozen(eq=False)
class NamesData:
    """Names of one split and list, with their list and their probability within it.

    Attributes:
        names: the names, lower case ``a-z``, in file order (list, then rank).
        list_ids: int64 ``(N,)``: the index in :data:`NAMES_LISTS` of each name's list.
        probs: float64 ``(N,)``: ``p(name | its list)`` under the Census distribution.
        name: ``"names/<split>"`` or ``"names/<split>/<list>"``.
    """

    names: builtins.list[str]
    list_ids: torch.Tensor
    probs: torch.Tensor
    name: str

    def __len__(self) -> int:
        return len(self.names)


def load_names(split: NamesSplit = "train", list: NamesList | None = None) -> NamesData:
    """The Census names of one split, of one list or all three.

    Args:
        split: ``"train"`` (80% of each list's names), ``"test"`` (20%) or
            ``"all"``.
        list: ``"female"``, ``"male"``, ``"surname"``, or ``None`` for all three.

    Returns:
        A :class:`NamesData`; its list and tensors are new on every call. The
        ``probs`` are probabilities within the whole list, so over a split they
        sum to that split's share of the list's mass, not to 1.

    Raises:
        InvalidArgumentError: ``split`` or ``list`` is not one of the allowed names.
    """
    _check_choice("load_names", "split", split, _SPLITS)
    if list is not None:
        _check_choice("load_names", "list", list, NAMES_LISTS)
    arrays = _arrays()
    list_id = arrays["list_id"]  # (94293,) uint8
    rows = (
        np.arange(len(list_id)) if split == "all" else arrays[f"{split}_index"].astype(np.intp)
    )  # (N,)
    if list is not None:
        rows = rows[list_id[rows] == NAMES_LISTS.index(list)]
    names = _names()
    return NamesData(
        names=[names[r] for r in rows.tolist()],
        list_ids=torch.from_numpy(list_id[rows].astype(np.int64)),  # astype copies
        probs=torch.from_numpy(_probs()[rows].copy()),
        name=f"names/{split}" if list is None else f"names/{split}/{list}",
    )


def names_log_prob(names: Sequence[str], list: NamesList) -> torch.Tensor:
    """The exact ``log p(name | list)`` of each name, in nats; ``-inf`` for a name off the list.

    Args:
        names: names of letters ``A-Z``/``a-z`` only (case is ignored).
        list: ``"female"``, ``"male"`` or ``"surname"``.

    Returns:
        A float64 tensor of shape ``(len(names),)``.

    Raises:
        ArgumentTypeError: ``names`` is a single string or not a sequence of strings.
        InvalidArgumentError: ``list`` is not a list name, or a name is empty or
            holds a character other than a letter.
    """
    _check_choice("names_log_prob", "list", list, NAMES_LISTS)
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ArgumentTypeError(
            "names_log_prob() argument 'names'",
            value=names,
            allowed="a sequence of strings",
            fix="Wrap a single name in a list: names_log_prob([name], ...)",
        )
    table = _log_prob_table(list)
    out = torch.empty(len(names), dtype=torch.float64)
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.isascii() or _LETTERS.fullmatch(name) is None:
            raise InvalidArgumentError(
                f"names_log_prob() argument 'names'[{i}]",
                value=name,
                allowed="a non-empty string of the letters A-Z or a-z only",
                fix="Drop or clean names with spaces, digits, punctuation or accents first",
            )
        out[i] = table.get(name.lower(), -math.inf)
    return out


def names_entropy(list: NamesList) -> float:
    """The entropy ``H(p) = -sum p log p`` of one list's distribution, in nats (exact).

    Raises:
        InvalidArgumentError: ``list`` is not a list name.
    """
    _check_choice("names_entropy", "list", list, NAMES_LISTS)
    p = _probs()[_arrays()["list_id"] == NAMES_LISTS.index(list)]
    return float(-(p * np.log(p)).sum())
