"""Small models of the declared event spaces (value range, storage dtype, layout, sequences).

Each one is exact, so its likelihood can be checked; each samples with one network pass
(or one per position), so the sampler's evaluation count holds.

* :class:`Pixels`: continuous 3x4x4 images in [-1, 1] (layout image); x = z / 2 with z a
  standard normal truncated to [-2, 2].
* :class:`Bytes`: discrete 1x4x4 images of 256 levels stored as uint8 (layout image);
  independent categorical pixels, one network pass each.
* :class:`Tokens`: variable-length sequences of up to 6 tokens of a 5-token vocabulary
  (pad 0, stop 1, words 2..4); a first-order Markov chain that never draws the padding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from genproto import Capabilities, EventSpace, Likelihood, Paradigm, SampleCost
from genproto.model import Model
from genproto.streams import KeyedStreams
from genproto.training import seeded_init

PAD, STOP, VOCABULARY, MAX_LENGTH = 0, 1, 5, 6


class Half(torch.nn.Module):
    """z -> z / 2: the one "network" of :class:`Pixels` (so a sample is one counted pass)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z / 2


class Pixels(Model):
    """Continuous 3x4x4 images in [-1, 1]: x = z / 2, z ~ N(0, I) truncated to [-2, 2]."""

    event = EventSpace.continuous((3, 4, 4), low=-1.0, high=1.0, layout="image")

    def __init__(self) -> None:
        super().__init__(
            Capabilities(Paradigm.FLOW, Likelihood.EXACT, SampleCost.single_pass(), self.event),
            name="pixels",
        )
        self.net = Half()

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        z = streams.truncated_normal(2.0, 48).view(-1, 3, 4, 4)  # (B, 3, 4, 4)
        return self.net(z)

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        # p(x) = 2 phi(2x) / (Phi(2) - Phi(-2)) per value, on [-1, 1]
        z = (2 * x.double()).flatten(1)  # (B, 48)
        mass = math.erf(2 / math.sqrt(2))  # Phi(2) - Phi(-2)
        per_value = -0.5 * z**2 - 0.5 * math.log(2 * math.pi) + math.log(2 / mass)
        return per_value.sum(1).float()


class Bytes(Model):
    """Discrete 1x4x4 images of 256 levels stored as uint8: independent categorical pixels,
    drawn one pixel (one network pass) at a time, as an autoregressive model would."""

    event = EventSpace.discrete((1, 4, 4), 256, storage="smallest", layout="image")

    def __init__(self) -> None:
        super().__init__(
            Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT, SampleCost.per_token(16),
                         self.event),
            name="bytes",
        )
        with seeded_init(2):
            self.net = torch.nn.Linear(16, 256)  # one-hot pixel position -> logits

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def _logits(self, position: torch.Tensor) -> torch.Tensor:
        return 3 * self.net(torch.nn.functional.one_hot(position, 16).float())  # (..., 256)

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        rows = len(streams)
        out = torch.empty(rows, 16, dtype=torch.int64, device=self.device)
        for t in range(16):  # one network evaluation per pixel
            position = torch.full((rows,), t, dtype=torch.int64, device=self.device)
            out[:, t] = streams.fork(f"p{t}").categorical(self._logits(position))  # (B,)
        return out.view(-1, 1, 4, 4)  # int64: the sampler stores it as uint8

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        logp = self._logits(torch.arange(16, device=x.device)).log_softmax(-1)  # (16, 256)
        return logp[torch.arange(16, device=x.device), x.flatten(1)].sum(-1)  # (B,)


class Tokens(Model):
    """Sequences of up to 6 tokens, ended by STOP and padded with PAD: a Markov chain.

    Position t's token is drawn from ``net(onehot(previous))`` (the start is its own
    state), never PAD; once a row has drawn STOP the rest is padding. The likelihood is
    that of the tokens up to and including the stop, so it sums to 1 over the valid
    sequences (the rows without a stop included: they are cut at the maximum length).
    """

    event = EventSpace.sequence(MAX_LENGTH, VOCABULARY, stop=STOP, pad=PAD)

    def __init__(self) -> None:
        super().__init__(
            Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT,
                         SampleCost.per_token(MAX_LENGTH), self.event),
            name="tokens",
        )
        with seeded_init(3):
            self.net = torch.nn.Linear(VOCABULARY + 1, VOCABULARY)  # states: tokens + start

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def _log_probs(self, previous: torch.Tensor) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(previous, VOCABULARY + 1).float()
        logits = 2 * self.net(onehot)  # (B, V)
        logits[:, STOP] -= 1.0  # longer sequences
        logits[:, PAD] = -math.inf  # padding is never drawn
        return logits.log_softmax(-1)

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        rows = len(streams)
        previous = torch.full((rows,), VOCABULARY, dtype=torch.int64, device=self.device)
        stopped = torch.zeros(rows, dtype=torch.bool, device=self.device)
        out = torch.full((rows, MAX_LENGTH), PAD, dtype=torch.int64, device=self.device)
        for t in range(MAX_LENGTH):  # one network evaluation per position, for every row
            token = streams.fork(f"t{t}").categorical(self._log_probs(previous))  # (B,)
            out[:, t] = torch.where(stopped, PAD, token)
            stopped |= token == STOP
            previous = token
        return out

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        start = torch.full((x.shape[0], 1), VOCABULARY, dtype=torch.int64, device=x.device)
        previous = torch.cat([start, x[:, :-1]], dim=1)  # (B, L)
        logp = self._log_probs(previous.reshape(-1)).view(*x.shape, VOCABULARY)
        per_token = logp.gather(-1, x.unsqueeze(-1)).squeeze(-1)  # (B, L); -inf at padding
        counted = torch.arange(MAX_LENGTH, device=x.device) < self.event.lengths(x)[:, None]
        return torch.where(counted, per_token, 0.0).sum(1)
