"""The cheatsheet's failure modes, measured where text shows them.

Two failure modes that text makes visible, each measured on a model's samples of one Census
list against the same statistic on draws from the truth (:func:`truth_draws`), so a number is
never read alone:

* **Mode collapse** (the adversarial paradigm's): :func:`diversity` counts the distinct names
  among the samples and the share of the list's probability mass they cover. A collapsed
  generator repeats a few names: few distinct names, little mass covered, many duplicates.
* **Drift** (the autoregressive paradigm's exposure bias; Bengio et al. 2015, "Scheduled
  Sampling"; Ranzato et al. 2016): errors compound along a sampled sequence, so the tail of a
  long sample is less plausible than its start, and sampling can run past every length seen in
  training. :func:`drift` measures the share of a sample's character trigrams (with the
  boundaries, ``^^a`` ... ``e$``) that occur in the list's *train* names, separately over the
  first and the second half of each name at least :data:`DRIFT_MIN_LETTERS` long, and the share
  of samples longer than the longest name on any list (:data:`LONGEST_NAME`).

Everything here is counting on the CPU; nothing is random except :func:`truth_draws`, whose
generator is seeded explicitly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import attrs
import torch

from genproto.data.names import NAMES_LISTS, NamesList, load_names
from genproto.errors import ArgumentTypeError, InvalidArgumentError

__all__ = [
    "DRIFT_MIN_LETTERS",
    "LONGEST_NAME",
    "Diversity",
    "Drift",
    "diversity",
    "drift",
    "truth_draws",
]

#: Letters of the longest name on any Census list: a sample longer than this goes past every
#: length a names model was trained on.
LONGEST_NAME = 13
#: A sample needs this many letters for its halves to be compared.
DRIFT_MIN_LETTERS = 6
_START, _END = "^", "$"


def _texts(texts: Any, function: str) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ArgumentTypeError(f"{function}() argument 'texts'", value=texts,
                                allowed="a sequence of str (one sample each)")
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise ArgumentTypeError(f"{function}() argument 'texts' item", value=bad,
                                allowed="str")
    return list(texts)


def _list(value: Any, function: str) -> NamesList:
    if value not in NAMES_LISTS:
        raise InvalidArgumentError(f"{function}() argument 'list'", value=value,
                                   allowed=" | ".join(NAMES_LISTS))
    return value  # type: ignore[no-any-return]


@functools.cache
def _probabilities(which: str) -> dict[str, float]:
    data = load_names("all", which)  # type: ignore[arg-type]
    return dict(zip(data.names, data.probs.tolist(), strict=True))


def truth_draws(list: NamesList, n: int, *, seed: int = 0) -> list[str]:
    """``n`` names drawn from the truth ``p(name | list)`` (with replacement), reproducibly:
    the reference every sample statistic here is read against."""
    list = _list(list, "truth_draws")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidArgumentError("truth_draws() argument 'n'", value=n, allowed="an int >= 1")
    data = load_names("all", list)
    generator = torch.Generator().manual_seed(seed)
    picks = torch.multinomial(data.probs, n, replacement=True, generator=generator)
    return [data.names[i] for i in picks.tolist()]


@attrs.frozen
class Diversity:
    """How varied ``n`` samples of one list are.

    Attributes:
        n: samples.
        distinct: distinct strings among them.
        duplicate_rate: ``1 - distinct / n``.
        mass: ``sum of p(name | list)`` over the distinct samples that are names of the list:
            the share of the list's probability mass the samples reached (the truth's own
            ``n`` draws reach the most a sampler of ``n`` can expect).
    """

    n: int
    distinct: int
    duplicate_rate: float
    mass: float


def diversity(texts: Sequence[str], list: NamesList) -> Diversity:
    """Distinct samples and the probability mass of ``list`` they cover."""
    texts = _texts(texts, "diversity")
    list = _list(list, "diversity")
    distinct = set(texts)
    probabilities = _probabilities(list)
    mass = sum(probabilities.get(name, 0.0) for name in distinct)
    n = len(texts)
    return Diversity(n, len(distinct), 1 - len(distinct) / n if n else 0.0, min(mass, 1.0))


@functools.cache
def _train_trigrams(which: str) -> frozenset[str]:
    grams: set[str] = set()
    for name in load_names("train", which).names:  # type: ignore[arg-type]
        grams.update(_trigrams(name))
    return frozenset(grams)


def _trigrams(name: str) -> list[str]:
    """The boundary-padded character trigrams of ``name`` in order, one for each letter and
    one for the end: ``"ann"`` gives ``^^a ^an ann nn$``."""
    padded = _START * 2 + name + _END
    return [padded[i:i + 3] for i in range(len(name) + 1)]


@attrs.frozen
class Drift:
    """Whether samples stay plausible to their end.

    Attributes:
        long: samples with at least :data:`DRIFT_MIN_LETTERS` letters (the halves compared).
        start: share of the trigrams of their first halves seen in the list's train names.
        tail: the same over their second halves (the end boundary included).
        overlong: share of all samples longer than :data:`LONGEST_NAME` letters.
    """

    long: int
    start: float
    tail: float
    overlong: float

    @property
    def gap(self) -> float:
        """``start - tail``: how much less plausible the tails are than the starts."""
        return self.start - self.tail


def drift(texts: Sequence[str], list: NamesList) -> Drift:
    """Trigram plausibility of the first against the second half of each long sample, and the
    share of samples past the longest Census name (see the module docstring)."""
    texts = _texts(texts, "drift")
    list = _list(list, "drift")
    seen = _train_trigrams(list)
    counts = [0, 0, 0, 0]  # start seen, start total, tail seen, tail total
    long = 0
    for text in texts:
        if len(text) < DRIFT_MIN_LETTERS:
            continue
        long += 1
        grams = _trigrams(text)
        half = len(grams) // 2
        for offset, part in ((0, grams[:half]), (2, grams[half:])):
            counts[offset] += sum(g in seen for g in part)
            counts[offset + 1] += len(part)
    overlong = sum(len(t) > LONGEST_NAME for t in texts) / len(texts) if texts else 0.0
    start = counts[0] / counts[1] if counts[1] else float("nan")
    tail = counts[2] / counts[3] if counts[3] else float("nan")
    return Drift(long, start, tail, overlong)
