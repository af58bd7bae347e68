"""Reference networks for the sampler benchmarks: an MLP decoder and an MLP denoising loop.

They stand in for real plugins when measuring the shared sampler's overhead:
the same network and batch are run once through ``genproto.sampling`` and once
through a hand-written bare torch loop, and the throughputs compared.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch

from genproto import Capabilities, EventSpace, Likelihood, Paradigm, SampleCost
from genproto.model import Model
from genproto.options import Option
from genproto.streams import KeyedStreams
from genproto.training import seeded_init


def mlp(sizes: list[int]) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [torch.nn.Linear(a, b), torch.nn.SiLU()]
    return torch.nn.Sequential(*layers[:-1])


def linear_flops(net: torch.nn.Module) -> int:
    """Multiply-adds x 2 of every Linear layer for one input row."""
    return sum(2 * m.in_features * m.out_features for m in net.modules()
               if isinstance(m, torch.nn.Linear))


class MLPDecoder(Model):
    """Single pass: z ~ N(0, I_16) -> MLP -> 64 values."""

    def __init__(self, width: int = 1024, depth: int = 3) -> None:
        super().__init__(
            Capabilities(Paradigm.LATENT_VARIABLE, Likelihood.NONE, SampleCost.single_pass(),
                         EventSpace.continuous((64,))),
            name="mlp_decoder",
        )
        with seeded_init(0):
            self.net = mlp([16, *([width] * depth), 64])

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return self.net(streams.normal(16))

    def bare(self, streams: KeyedStreams) -> torch.Tensor:
        return self.net(streams.normal(16))


class MLPDenoiser(Model):
    """K ancestral steps: x <- a_k x + b_k net(x) + c_k noise, with keyed noise every step."""

    sample_options = (Option("steps", int, 50, "denoising steps", minimum=1),)

    def __init__(self, width: int = 512, depth: int = 2) -> None:
        super().__init__(
            Capabilities(Paradigm.DIFFUSION, Likelihood.NONE, SampleCost.per_step(50),
                         EventSpace.continuous((64,))),
            name="mlp_denoiser",
        )
        with seeded_init(0):
            self.net = mlp([64, *([width] * depth), 64])

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def cost(self, **options: Any) -> SampleCost:
        return SampleCost.per_step(self.check_sample_options(options)["steps"])

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return self.loop(streams, options["steps"])

    def loop(self, streams: KeyedStreams, steps: int) -> torch.Tensor:
        x = streams.normal(64)  # (B, 64)
        for k in range(steps):
            eps = self.net(x)
            x = 0.99 * x - 0.01 * eps
            if k < steps - 1:
                x = x + 0.01 * streams.normal(64)
        return x
