"""Small models for the condition kinds and the per-sample evaluation count.

* :class:`Prompted` -- four dice conditioned on a prompt of token ids; ``None`` is the null
  prompt. :class:`Captioned` -- the same network conditioned on text it tokenizes itself.
  :class:`Steered` -- a Gaussian on the plane whose mean and scale follow an embedding.
  :class:`PriorDice`, :class:`GuidedDice` -- class conditions with a declared prior, and
  with ``None`` as classifier-free guidance's null label (one call on 2B rows a batch).
* :class:`Stopper` -- a token model that stops at its stop token and runs its network on
  the rows still running only: at most L evaluations (a bound). :class:`RowLoop` -- one
  network call per row. :class:`Greedy` -- breaks its declared bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import torch
from sampler_models import Dice

from genproto import (
    Capabilities,
    ConditionSpec,
    EventSpace,
    Likelihood,
    NoneMeans,
    Paradigm,
    SampleCost,
)
from genproto.model import Model
from genproto.streams import KeyedStreams
from genproto.training import seeded_init

VOCAB, MAX_IDS, PAD = 7, 6, 0
NULL_ID = VOCAB  # the null prompt's own embedding row, never a token of a prompt


class PromptNet(torch.nn.Module):
    """Token ids (B, L) -> logits (B, 4, 5): the mean of the non-pad ids' embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB + 1, 8)
        self.out = torch.nn.Linear(8, 20)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = (ids != PAD).unsqueeze(-1).float()  # (B, L, 1)
        mean = (self.embed(ids) * keep).sum(1) / keep.sum(1).clamp(min=1)  # (B, 8)
        return 3 * self.out(mean).view(-1, 4, 5)


class Prompted(Model):
    """Four dice whose faces follow a prompt of token ids; one pass, exact likelihood."""

    def __init__(self, condition: ConditionSpec | None = None, name: str = "prompted") -> None:
        super().__init__(
            Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT, SampleCost.per_token(1),
                         EventSpace.discrete((4,), 5),
                         condition or ConditionSpec.tokens(MAX_IDS, PAD, vocab_size=VOCAB)),
            name=name,
        )
        with seeded_init(2):
            self.net = PromptNet()

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def ids(self, condition: Any, rows: int) -> torch.Tensor:
        """The batch's ids (B, L); ``None`` is the null prompt."""
        if condition is None:
            return torch.full((rows, 1), NULL_ID, dtype=torch.int64)
        assert isinstance(condition, torch.Tensor)
        assert condition.dtype == torch.int64
        return condition

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        return streams.categorical(self.net(self.ids(condition, len(streams))))

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        logp = self.net(self.ids(condition, x.shape[0])).log_softmax(-1)  # (B, 4, 5)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)


def tokenize(text: str) -> list[int]:
    """The captioned model's own tokenizer: one id 1..VOCAB-1 per character."""
    return [1 + ord(c) % (VOCAB - 1) for c in text]


class Captioned(Prompted):
    """:class:`Prompted` conditioned on text it tokenizes itself (padded to MAX_IDS)."""

    def __init__(self) -> None:
        super().__init__(ConditionSpec.text(max_length=MAX_IDS, description="caption"),
                         name="captioned")

    def ids(self, condition: Any, rows: int) -> torch.Tensor:
        if condition is None:
            return super().ids(None, rows)
        assert isinstance(condition, list)
        assert len(condition) == rows
        assert all(isinstance(t, str) for t in condition)
        return torch.tensor([tokenize(t) + [PAD] * (MAX_IDS - len(t)) for t in condition],
                            dtype=torch.int64).view(rows, MAX_IDS)


class Steered(Model):
    """x = mu(e) + exp(s(e)) eps on the plane for an embedding e (3,); None: e = 0."""

    def __init__(self) -> None:
        super().__init__(
            Capabilities(Paradigm.FLOW, Likelihood.EXACT, SampleCost.single_pass(),
                         EventSpace.continuous((2,)), ConditionSpec.vector((3,))),
            name="steered",
        )
        with seeded_init(3):
            self.net = torch.nn.Linear(3, 4)

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def _loc_scale(self, condition: Any, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        e = torch.zeros(rows, 3) if condition is None else condition
        assert e.dtype == torch.float32
        assert e.shape == (rows, 3)
        loc, log_scale = self.net(e).chunk(2, dim=-1)  # (B, 2) each
        return loc, 0.5 * torch.tanh(log_scale)

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        loc, log_scale = self._loc_scale(condition, len(streams))
        return loc + log_scale.exp() * streams.normal(2)

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        loc, log_scale = self._loc_scale(condition, x.shape[0])
        eps = (x - loc) * (-log_scale).exp()
        return torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum(-1) - log_scale.sum(-1)


class PriorDice(Dice):
    """:class:`Dice` whose classes have the declared prior (0.8, 0.2)."""

    PRIOR = (0.8, 0.2)

    def __init__(self, prior: tuple[float, ...] = PRIOR) -> None:
        super().__init__()
        self._capabilities = attrs.evolve(  # per_token(1): an autoregressive model's cost grows
            self.capabilities, condition=ConditionSpec(2, "class", prior=prior),
            cost=SampleCost.per_token(1))


class GuidedDice(Dice):
    """:class:`Dice` with classifier-free guidance: ``None`` is the null label (a zero
    one-hot); a class is guided, its conditional and null rows in one call on 2B rows."""

    GUIDANCE = 1.5

    def __init__(self) -> None:
        super().__init__()
        self._capabilities = attrs.evolve(
            self.capabilities, condition=ConditionSpec(2, "class", none_means=NoneMeans.NULL),
            cost=SampleCost.per_token(1))
        self.seen: list[Any] = []

    def _guided(self, condition: torch.Tensor | None, rows: int) -> torch.Tensor:
        self.seen.append(condition)
        if condition is None:  # the null label, on every row (a call on one row counts one)
            return 3 * self.net(torch.zeros(rows, 2)).view(-1, 3, 5)
        onehot = torch.nn.functional.one_hot(condition, 2).float()
        both = 3 * self.net(torch.cat([onehot, torch.zeros_like(onehot)])).view(2, -1, 3, 5)
        w = self.GUIDANCE
        return (1 + w) * both[0] - w * both[1]  # (B, 3, 5)

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return streams.categorical(self._guided(condition, len(streams)))

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        logp = self._guided(condition, x.shape[0]).log_softmax(-1)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)


LENGTH, STOP = 8, 3


class Stopper(Model):
    """Tokens 0..3, one per step, until the stop token 3 (then 3s): at most L evaluations.

    Each step runs the network on the rows still running only, and draws for every row
    (so every sample makes the same draws whatever its neighbours do).
    """

    def __init__(self, cost: SampleCost | None = None) -> None:
        super().__init__(
            Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.NONE,
                         cost or SampleCost.per_token(LENGTH, bound=True),
                         EventSpace.discrete((LENGTH,), 4)),
            name="stopper",
        )
        with seeded_init(4):
            self.net = torch.nn.Linear(4, 4)

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        rows = len(streams)
        out = torch.full((rows, LENGTH), STOP, dtype=torch.int64)
        previous = torch.zeros(rows, 4)  # (B, 4) one-hot of the last token; zeros at the start
        running = torch.ones(rows, dtype=torch.bool)
        for t in range(LENGTH):
            logits = torch.zeros(rows, 4)
            if running.any():
                logits[running] = self.net(previous[running]) + torch.tensor([0, 0, 0, 1.0])
            token = streams.categorical(logits)  # (B,): a draw for every row, every step
            out[running, t] = token[running]
            running = running & (token != STOP)
            previous = torch.nn.functional.one_hot(token, 4).float()
        return out


class RowLoop(Model):
    """One network call per row: x_i = net(eps_i), single pass per sample."""

    def __init__(self) -> None:
        super().__init__(
            Capabilities(Paradigm.FLOW, Likelihood.NONE, SampleCost.single_pass(),
                         EventSpace.continuous((2,))),
            name="rowloop",
        )
        with seeded_init(5):
            self.net = torch.nn.Linear(2, 2)

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        eps = streams.normal(2)
        return torch.cat([self.net(eps[i : i + 1]) for i in range(len(streams))])


class Greedy(Stopper):
    """Declares at most 2 evaluations (a bound) but runs all L steps on running rows."""

    def __init__(self) -> None:
        super().__init__(SampleCost.per_token(2, bound=True))
