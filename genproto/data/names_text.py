"""The Census names as token sequences: one character codec for every native text model.

:mod:`genproto.data.names` hands out the names as strings; a model that generates them
needs them as tokens. Every native plugin's ``dataset="names"`` configuration (ar, vae,
gan, diffusion) uses this one codec, so their events are the same space and their
likelihoods, samples and costs compare on equal terms:

* tokens ``0 .. 25`` are the letters ``a .. z`` and token ``26`` (:data:`NAMES_STOP`) ends a
  name; it also pads the rest of the row (``stop == pad``, which the protocol allows: only
  the first stop ends the row);
* a row holds :data:`NAMES_MAX_LENGTH` = 16 tokens: the longest Census name has 13 letters,
  so a model can stop where the data does and still show what it does past the longest
  name it was trained on (autoregressive drift);
* the condition is the list, a class ``0`` female, ``1`` male, ``2`` surname, also given by
  its name (``condition="female"``: :func:`names_condition` declares the labels), uniform
  over the three when ``None`` (the likelihood is then the mixture ``sum_c p(c) p(x | c)``).

:class:`NamesCodec` is the :class:`~genproto.protocol.TextCodec` a model mixes in;
:func:`names_training_draws` are the frequency-weighted training rows every plugin uses.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from genproto.data.dataset import Dataset
from genproto.data.names import NAMES_LISTS, load_names
from genproto.errors import InputError, InputTypeError, InvalidArgumentError
from genproto.protocol import ConditionSpec, EventSpace

__all__ = [
    "NAMES_ALPHABET",
    "NAMES_MAX_LENGTH",
    "NAMES_STOP",
    "NAMES_VOCABULARY",
    "NamesCodec",
    "decode_names",
    "encode_names",
    "names_condition",
    "names_event",
    "names_training_draws",
]

#: The letters, token ids ``0 .. 25`` in order.
NAMES_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
#: The stop token, which also pads: id 26.
NAMES_STOP = len(NAMES_ALPHABET)
#: Letters and the stop.
NAMES_VOCABULARY = len(NAMES_ALPHABET) + 1
#: Tokens a row: up to 15 letters and a stop (the longest Census name has 13 letters).
NAMES_MAX_LENGTH = 16
_IDS = {c: i for i, c in enumerate(NAMES_ALPHABET)}


def names_event() -> EventSpace:
    """The event of every native names model: 16 tokens of 27 (uint8), stop = pad = 26."""
    return EventSpace.sequence(NAMES_MAX_LENGTH, NAMES_VOCABULARY, stop=NAMES_STOP,
                               pad=NAMES_STOP)


def names_condition() -> ConditionSpec:
    """The list a name is drawn from: class 0 female, 1 male, 2 surname, labelled with the
    lists' names (protocol 2.2), so ``condition="male"`` is class 1; ``None`` is the uniform
    mixture of the three."""
    return ConditionSpec(len(NAMES_LISTS), "Census list", labels=NAMES_LISTS)


def encode_names(texts: Sequence[str], *, what: str = "from_text() argument 'texts'"
                 ) -> torch.Tensor:
    """int64 ``(N, 16)``: each text's letters (case ignored), its stop, then stops.

    Raises:
        InputTypeError: ``texts`` is a single ``str`` or holds something that is not one.
        InputError: a text with a character other than the letters ``a-z`` / ``A-Z``, or
            longer than 15 letters (named, with its position in ``texts``).
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InputTypeError(what, value=texts, allowed="a list of str",
                             fix="Wrap a single name in a list: from_text(['mary'])")
    out = torch.full((len(texts), NAMES_MAX_LENGTH), NAMES_STOP, dtype=torch.int64)
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(f"{what}[{row}]", value=text, allowed="a str")
        lower = text.lower()
        if len(lower) > NAMES_MAX_LENGTH - 1:
            raise InputError(f"{what}[{row}]", value=text,
                             allowed=f"at most {NAMES_MAX_LENGTH - 1} letters",
                             fix="Names longer than that are outside every names model's "
                             "event space")
        bad = [c for c in lower if c not in _IDS]
        if bad:
            raise InputError(f"{what}[{row}]", value=text,
                             allowed="letters a-z only (case is ignored)",
                             fix=f"Remove {bad[0]!r}: the Census names are letters only")
        if lower:
            out[row, : len(lower)] = torch.tensor([_IDS[c] for c in lower])
    return out


def decode_names(x: torch.Tensor) -> list[str]:
    """The letters of each row of ``x`` ``(N, 16)`` before its first stop."""
    rows: list[str] = []
    for tokens in x.to("cpu", torch.int64).tolist():
        letters: list[str] = []
        for token in tokens:
            if token == NAMES_STOP:
                break
            letters.append(NAMES_ALPHABET[token])
        rows.append("".join(letters))
    return rows


class NamesCodec:
    """The :class:`~genproto.protocol.TextCodec` of a native names model (mix it in)."""

    def to_text(self, x: torch.Tensor) -> list[str]:
        """The name each row of ``x`` spells: its letters before the first stop."""
        return decode_names(x)

    def from_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Events ``(N, 16)`` (uint8, the event's storage) spelling ``texts``."""
        return encode_names(texts).to(names_event().dtype)


@functools.cache
def _table(which: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_names("train", which)  # type: ignore[arg-type]
    return encode_names(data.names, what=f"the train names of {which!r}"), data.probs


def names_training_draws(draws_per_list: int = 200_000, *, seed: int = 0) -> Dataset:
    """``draws_per_list`` names from each list's train split, drawn by Census frequency
    (the truth restricted to the train names), as int64 token rows with their list as the
    label; the same rows for the same ``seed`` on every machine.

    Raises:
        InvalidArgumentError: ``draws_per_list`` is not an int >= 1.
    """
    if isinstance(draws_per_list, bool) or not isinstance(draws_per_list, int) \
            or draws_per_list < 1:
        raise InvalidArgumentError("names_training_draws() argument 'draws_per_list'",
                                   value=draws_per_list, allowed="an int >= 1")
    generator = torch.Generator().manual_seed(seed)
    parts: list[torch.Tensor] = []
    for which in NAMES_LISTS:
        table, probs = _table(which)
        picks = torch.multinomial(probs, draws_per_list, replacement=True, generator=generator)
        parts.append(table[picks])
    labels = torch.arange(len(NAMES_LISTS)).repeat_interleave(draws_per_list)
    event = EventSpace.sequence(NAMES_MAX_LENGTH, NAMES_VOCABULARY, stop=NAMES_STOP,
                                pad=NAMES_STOP, storage=torch.int64)
    return Dataset(torch.cat(parts), labels, "names/train (frequency draws)", event,
                   num_classes=len(NAMES_LISTS))
