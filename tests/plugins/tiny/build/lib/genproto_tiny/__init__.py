"""A tiny genproto plugin: a class-conditional 2-D Gaussian with a linear mean.

x | c ~ N(W onehot(c) + b, sigma^2 I). One ``nn.Linear`` is the network; a
sample is one pass; the likelihood is exact. Used by genproto's tests to prove
that plugins are found through a real ``pip install``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from genproto import Capabilities, ConditionSpec, EventSpace, Likelihood, Paradigm, SampleCost
from genproto.hookspecs import hookimpl
from genproto.model import Model
from genproto.options import Option
from genproto.streams import KeyedStreams

CLASSES = 3


def capabilities(sigma: float = 0.5) -> Capabilities:
    return Capabilities(
        paradigms=(Paradigm.FLOW,),
        likelihood=Likelihood.EXACT,
        cost=SampleCost.single_pass(),
        event=EventSpace.continuous((2,)),
        condition=ConditionSpec(CLASSES, "component"),
        objective="maximum likelihood",
        sampling=f"mean plus {sigma:g} times Gaussian noise, one pass",
    )


class TinyGaussian(Model):
    def __init__(self, sigma: float = 0.5) -> None:
        super().__init__(capabilities(sigma), name="tiny")
        self.sigma = sigma
        self.mean = torch.nn.Linear(CLASSES, 2)
        with torch.no_grad():
            angles = torch.arange(CLASSES) * (2 * math.pi / CLASSES)
            self.mean.weight.copy_(2 * torch.stack([angles.cos(), angles.sin()]))
            self.mean.bias.zero_()

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"mean": self.mean}

    def sample_batch(
        self, streams: KeyedStreams, condition: torch.Tensor | None, **options: Any
    ) -> torch.Tensor:
        assert condition is not None
        onehot = torch.nn.functional.one_hot(condition, CLASSES).float()
        return self.mean(onehot) + self.sigma * streams.normal(2)

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: torch.Tensor | None, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor:
        assert condition is not None
        mu = self.mean(torch.nn.functional.one_hot(condition, CLASSES).float())
        dist = torch.distributions.Normal(mu, self.sigma)
        return dist.log_prob(x).sum(-1)


@hookimpl
def register_models(register: Any) -> None:
    register(
        "tiny",
        TinyGaussian,
        capabilities=capabilities(),
        options=[Option("sigma", float, 0.5, "noise scale", minimum=0.0, exclusive_minimum=True)],
        description="class-conditional 2-D Gaussian (test plugin)",
    )
