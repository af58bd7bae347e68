"""Small models for the sampler's tests: a K-step continuous loop and a discrete one-pass model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from genproto import Capabilities, ConditionSpec, EventSpace, Likelihood, Paradigm, SampleCost
from genproto.model import Model
from genproto.options import Option
from genproto.streams import KeyedStreams
from genproto.training import seeded_init


class Walker(Model):
    """A diffusion-style loop: x_0 ~ N(0, I); x_{k+1} = x_k - 0.1 net(x_k) + 0.05 noise."""

    sample_options = (Option("steps", int, 10, "steps", minimum=1),)

    def __init__(self) -> None:
        super().__init__(
            Capabilities(Paradigm.DIFFUSION, Likelihood.NONE, SampleCost.per_step(10),
                         EventSpace.continuous((4,))),
            name="walker",
        )
        with seeded_init(0):
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.Tanh(),
                                           torch.nn.Linear(32, 4))

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def cost(self, **options: Any) -> SampleCost:
        return SampleCost.per_step(self.check_sample_options(options)["steps"])

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        x = streams.normal(4)
        for _ in range(options["steps"]):
            x = x - 0.1 * self.net(x) + 0.05 * streams.normal(4)
        return x


class Dice(Model):
    """Three dice whose faces' probabilities depend on a class: one network pass."""

    def __init__(self) -> None:
        super().__init__(
            Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT, SampleCost.single_pass(),
                         EventSpace.discrete((3,), 5), ConditionSpec(2, "class")),
            name="dice",
        )
        with seeded_init(1):
            self.net = torch.nn.Linear(2, 15)

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def _logits(self, condition: torch.Tensor) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(condition, 2).float()
        return 3 * self.net(onehot).view(-1, 3, 5)  # (B, 3, 5)

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        assert condition is not None
        return streams.categorical(self._logits(condition))

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        assert condition is not None
        logp = self._logits(condition).log_softmax(-1)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)
