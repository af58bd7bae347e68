"""A tiny text model for the command line's text outputs (``-o names.txt`` / ``.jsonl``).

:class:`Letters` -- words of up to ``length`` letters a..c (pad 0, stop 1, letters 2..4): a
first-order Markov chain, one network pass a position, whose letter logits are shifted by
its condition (a class, text, token ids or a vector; none by default). It is a
:class:`genproto.TextCodec` (``to_text`` / ``from_text``), has an exact likelihood, the
factory option ``length`` and the sample option ``temperature``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from genproto import Capabilities, ConditionSpec, EventSpace, Likelihood, Paradigm, SampleCost
from genproto.errors import InputError
from genproto.model import Model
from genproto.options import Option
from genproto.streams import KeyedStreams
from genproto.training import seeded_init

PAD, STOP, LETTERS = 0, 1, "abc"
VOCABULARY = 2 + len(LETTERS)
LENGTH = 6
START = VOCABULARY  # the chain's start state, never a token

#: The condition each registered variant declares.
CONDITIONS: dict[str, ConditionSpec | None] = {
    "none": None,
    "class": ConditionSpec(3, "favoured letter"),
    "text": ConditionSpec.text(max_length=8, description="prompt"),
    "tokens": ConditionSpec.tokens(4, pad_id=PAD, vocab_size=VOCABULARY),
    "vector": ConditionSpec.vector((3,)),
}


def capabilities(length: int = LENGTH, conditioned: str = "none") -> Capabilities:
    return Capabilities(
        Paradigm.AUTOREGRESSIVE, Likelihood.EXACT, SampleCost.per_token(length),
        EventSpace.sequence(length, VOCABULARY, stop=STOP, pad=PAD, storage=torch.int64),
        CONDITIONS[conditioned],
    )


class Letters(Model):
    """Words over a..c ended by a stop; the condition adds to the three letters' logits."""

    sample_options = (Option("temperature", float, 1.0, minimum=0.0, exclusive_minimum=True),)

    def __init__(self, length: int = LENGTH, conditioned: str = "none") -> None:
        super().__init__(capabilities(length, conditioned), name=f"letters-{conditioned}")
        self.length = length
        with seeded_init(7):
            self.net = torch.nn.Linear(VOCABULARY + 1, VOCABULARY)  # states: tokens + start

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    # -- the text codec --------------------------------------------------------------------

    def to_text(self, x: torch.Tensor) -> list[str]:
        lengths = self.capabilities.event.lengths(x).tolist()
        return ["".join(LETTERS[t - 2] for t in row[:n] if t >= 2)
                for row, n in zip(x.tolist(), lengths, strict=True)]

    def from_text(self, texts: Sequence[str]) -> torch.Tensor:
        out = torch.full((len(texts), self.length), PAD, dtype=torch.int64)
        for i, text in enumerate(texts):
            if len(text) >= self.length or set(text) - set(LETTERS):
                raise InputError(f"text {i}", value=text,
                                 allowed=f"up to {self.length - 1} of the letters {LETTERS}")
            out[i, : len(text) + 1] = torch.tensor([2 + LETTERS.index(c) for c in text] + [STOP])
        return out

    # -- the chain ---------------------------------------------------------------------------

    def _shift(self, condition: Any, rows: int) -> torch.Tensor:
        """(B, 3): what the condition adds to the letters' logits."""
        if condition is None:
            return torch.zeros(rows, 3)
        if isinstance(condition, list):  # text: the prompt's letter counts
            return torch.tensor([[float(t.count(c)) for c in LETTERS] for t in condition])
        if condition.dtype.is_floating_point:  # a vector
            vector: torch.Tensor = condition
            return vector
        if condition.ndim == 1:  # class labels
            return 2.0 * torch.nn.functional.one_hot(condition, 3).float()
        ids = condition  # (B, L) token ids: the count of each letter's id
        return torch.stack([(ids == 2 + k).sum(1).float() for k in range(3)], dim=1)

    def _log_probs(self, previous: torch.Tensor, shift: torch.Tensor,
                   temperature: float = 1.0) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(previous, VOCABULARY + 1).float()
        logits = self.net(onehot)  # (B, V)
        logits = torch.cat([logits[:, :2], logits[:, 2:] + shift], dim=1)
        logits[:, PAD] = -math.inf  # padding is never drawn
        return (logits / temperature).log_softmax(-1)

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        rows = len(streams)
        shift = self._shift(condition, rows)
        previous = torch.full((rows,), START, dtype=torch.int64)
        stopped = torch.zeros(rows, dtype=torch.bool)
        out = torch.full((rows, self.length), PAD, dtype=torch.int64)
        for t in range(self.length):
            logp = self._log_probs(previous, shift, options.get("temperature", 1.0))
            token = streams.fork(f"t{t}").categorical(logp)  # (B,)
            out[:, t] = torch.where(stopped, PAD, token)
            stopped |= token == STOP
            previous = token
        return out

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        rows, length = x.shape
        start = torch.full((rows, 1), START, dtype=torch.int64)
        previous = torch.cat([start, x[:, :-1]], dim=1)  # (B, L)
        shift = self._shift(condition, rows).repeat_interleave(length, dim=0)  # (B*L, 3)
        logp = self._log_probs(previous.reshape(-1), shift).view(rows, length, VOCABULARY)
        per_token = logp.gather(-1, x.unsqueeze(-1)).squeeze(-1)  # (B, L); -inf at padding
        counted = torch.arange(length) < self.capabilities.event.lengths(x)[:, None]
        return torch.where(counted, per_token, 0.0).sum(1)


def register_all() -> list[str]:
    """Register ``letters-<kind>`` for every condition kind and ``letters-clash`` (whose
    factory option ``temperature`` is also a sample option); return the names."""
    from genproto import registry

    length = Option("length", int, LENGTH, minimum=2, maximum=12, help="most tokens a word")
    names = []
    for kind in CONDITIONS:
        name = f"letters-{kind}"

        def factory(length: int = LENGTH, kind: str = kind) -> Letters:
            return Letters(length, kind)

        def caps(length: int = LENGTH, kind: str = kind) -> Capabilities:
            return capabilities(length, kind)

        registry.register(name, factory, capabilities=caps, options=(length,))
        names.append(name)

    def clash(temperature: float = 1.0) -> Letters:
        return Letters()

    registry.register("letters-clash", clash, capabilities=capabilities(),
                      options=(Option("temperature", float, 1.0, minimum=0.1),))
    return [*names, "letters-clash"]
