"""An autoregressive model of 2-D points: the chain rule over two coordinates, mixture conditionals.

A point ``x = (x_1, x_2)`` of a toy 2-D density (:mod:`genproto.data.toy`) factorises exactly as

    log p(x) = log p(x_1) + log p(x_2 | x_1)                                                 (1)

with each conditional a mixture of K one-dimensional Gaussians (a mixture density network,
Bishop 1994, "Mixture Density Networks", Aston University NCRG/94/004)::

    p(x_t | x_<t) = sum_k pi_k N(x_t; mu_k, sigma_k^2),   (pi, mu, log sigma) = f(t, x_<t)     (2)

This is RNADE (Uria, Murray & Larochelle 2013, "RNADE: The real-valued neural autoregressive
density-estimator", NeurIPS) in two dimensions: one network ``f`` serves both coordinates, told
which one it predicts by a one-hot of the position and given the previous coordinate through a
mask (``x_1`` for position 1, a zero for position 0, where there is nothing before), as the
digits transformer is one network over its 64 positions.

* Likelihood: EXACT, in nats, a density on R^2 (unbounded support): (1) with (2) in closed form.
  One network call on the 2B rows of both positions (teacher forcing: the given ``x_1``).
* Sampling: ``x_1`` from p(x_1), then ``x_2`` from p(x_2 | x_1): two network calls per sample,
  ``SampleCost.per_token(2)``, counted by the shared sampler. Each draw is a
  ``torch.distributions.MixtureSameFamily`` sampled from the keyed streams by
  :func:`genproto.distributions.draw` (the component by Gumbel-max, then its Gaussian), so sample
  ``i`` depends only on ``(seed, i)``; the likelihood scores with the same distribution objects.
* Training: maximum likelihood, the negative of (1) averaged over a batch; no random numbers in a
  step (the batch order comes from ``genproto.training.fit``), so two runs agree bit for bit.

Scale: sigma_k = exp(-2 + 3 tanh(r / 3)) for the network's raw output r keeps the scales in
(exp(-5), exp(1)) = (0.0067, 2.7): below the toy densities' narrowest std (0.1) and above their
widest conditional spread, without the unbounded likelihoods a collapsing component could reach.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn

from genproto.data import TOY2D_EVENT, TOY2D_NAMES, load_toy2d, toy2d
from genproto.data.dataset import Dataset
from genproto.distributions import draw
from genproto.errors import InvalidArgumentError
from genproto.metrics import kl_to_truth
from genproto.model import Model
from genproto.protocol import Capabilities, Likelihood, Paradigm, SampleCost
from genproto.sampling import evaluate_rows
from genproto.streams import KeyedStreams
from genproto.training import Batch, TrainSettings, require_setup, seeded_init, warmup_cosine

__all__ = [
    "COMPONENTS",
    "HIDDEN",
    "PRETRAINED",
    "MixtureNet",
    "PointsAR",
    "capabilities",
]

#: The toy densities with shipped weights (``weights/<dataset>``, at the default sizes).
PRETRAINED: tuple[str, ...] = ("grid25", "two_moons")
#: Default Gaussians per conditional (docs/plugins/ar.md says why 12).
COMPONENTS = 12
#: Default hidden units of each of the network's hidden layers.
HIDDEN = 64
DEPTH = 3  # hidden layers
COORDINATES = 2  # the chain (1) has two factors
LOG_SCALE_MID, LOG_SCALE_HALF = -2.0, 3.0  # log sigma in (mid - half, mid + half)
MEAN_SPAN = 2.5  # initial means spread evenly over [-span, span], where the toy data lie
WARMUP = 100  # learning-rate warm-up steps
HELD_OUT_SEED = 1  # the seed of the held-out points the training report scores (train: seed 0)


def capabilities(dataset: str = "grid25") -> Capabilities:
    """What the points model declares: exact density on R^2, two evaluations per sample."""
    return Capabilities(
        paradigms=(Paradigm.AUTOREGRESSIVE,),
        likelihood=Likelihood.EXACT,
        cost=SampleCost.per_token(COORDINATES),
        event=TOY2D_EVENT,
        condition=None,
        objective=f"maximum likelihood of the {dataset} points by the chain rule "
        "p(x1) p(x2 | x1), each factor a mixture of Gaussians",
        sampling="x1 from p(x1), then x2 from p(x2 | x1): one network call per coordinate",
    )


class MixtureNet(nn.Module):
    """(position one-hot, masked previous coordinate) ``(B, 3)`` -> mixture parameters (2).

    Returns the mixture logits, means and log-scales, each ``(B, K)``. One forward call is one
    counted network evaluation.
    """

    def __init__(self, hidden: int, components: int) -> None:
        super().__init__()
        self.hidden, self.components = hidden, components
        sizes = [COORDINATES + 1, *([hidden] * DEPTH)]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.out = nn.Linear(hidden, 3 * components)
        # Start from equal weights, means spread over the data's range, sigma = exp(-2): the
        # last layer's weights at zero (as Glow starts its couplings), its biases set.
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.zero_()
            self.out.bias[components:2 * components] = torch.linspace(
                -MEAN_SPAN, MEAN_SPAN, components)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = inputs  # (B, 3)
        for layer in self.layers:
            h = F.silu(layer(h))  # (B, H)
        logits, means, raw = self.out(h).chunk(3, dim=-1)  # (B, K) each
        log_scales = LOG_SCALE_MID + LOG_SCALE_HALF * torch.tanh(raw / LOG_SCALE_HALF)
        return logits, means, log_scales


def network_inputs(position: int, previous: torch.Tensor) -> torch.Tensor:
    """The network's input for coordinate ``position`` (0 or 1) given the previous coordinate
    ``previous`` (B,), which is masked to zero at position 0: ``(B, 3)``."""
    onehot = torch.zeros(previous.shape[0], COORDINATES, dtype=previous.dtype,
                         device=previous.device)
    onehot[:, position] = 1.0
    masked = previous if position > 0 else torch.zeros_like(previous)
    return torch.cat([onehot, masked.unsqueeze(1)], dim=1)  # (B, 3)


def mixture(logits: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor) -> D.Distribution:
    """The conditional (2) as a distribution with batch shape ``(B,)`` and scalar events."""
    return D.MixtureSameFamily(D.Categorical(logits=logits), D.Normal(means, log_scales.exp()))


class PointsAR(Model):
    """The chain rule p(x1) p(x2 | x1) over a toy 2-D density (see the module docstring)."""

    def __init__(self, *, dataset: str, hidden: int | None = None,
                 components: int | None = None) -> None:
        if dataset not in TOY2D_NAMES:
            raise InvalidArgumentError("ar points dataset", value=dataset,
                                       allowed=" | ".join(TOY2D_NAMES))
        super().__init__(capabilities(dataset), name="ar")
        self.dataset = dataset
        self.hidden = HIDDEN if hidden is None else hidden
        self.components = COMPONENTS if components is None else components
        self.net = self._fresh_network(0)
        self._optimizer: torch.optim.Optimizer | None = None
        self._settings: TrainSettings | None = None

    def _fresh_network(self, seed: int) -> MixtureNet:
        with seeded_init(seed):
            net = MixtureNet(self.hidden, self.components)
        return net.to(self.device)

    def networks(self) -> Mapping[str, nn.Module]:
        return {"net": self.net}

    def bytes_per_sample(self, **options: Any) -> int:
        return 4 * (2 * DEPTH * self.hidden + 9 * self.components + 16)

    # -- sampling ---------------------------------------------------------------------------

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        B = len(streams)
        x = torch.zeros(B, COORDINATES, device=self.device)  # (B, 2)
        for t in range(COORDINATES):
            # 1. one network call for coordinate t, given the coordinate before it (masked at 0)
            previous = x[:, max(t - 1, 0)]  # (B,); network_inputs masks it at t = 0
            conditional = mixture(*self.net(network_inputs(t, previous)))  # batch (B,)
            # 2. a keyed draw: the component (Gumbel-max), then its Gaussian, per sample
            x[:, t] = draw(streams.fork(f"x{t + 1}"), conditional)  # (B,)
        return x

    # -- likelihood -------------------------------------------------------------------------

    def _conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x_1)`` and ``log p(x_2 | x_1)`` of every row, ``(B, 2)``: one network call
        on the 2B rows of both positions (the given x_1 as x_2's previous coordinate)."""
        B = x.shape[0]
        inputs = torch.cat([network_inputs(0, x[:, 0]), network_inputs(1, x[:, 0])])  # (2B, 3)
        conditional = mixture(*self.net(inputs))  # batch (2B,)
        targets = torch.cat([x[:, 0], x[:, 1]])  # (2B,)
        return conditional.log_prob(targets).reshape(COORDINATES, B).T  # (B, 2)

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return self._conditionals(x.float()).sum(dim=1)  # (B,) equation (1)

    def log_likelihood_per_position(self, x: torch.Tensor, condition: Any = None, *,
                                    batch_size: int | None = None) -> torch.Tensor:
        """``[log p(x_1), log p(x_2 | x_1)]`` of every point, ``(N, 2)`` nats; rows sum to
        :meth:`log_likelihood`."""

        def per_batch(rows: torch.Tensor, labels: torch.Tensor | None,
                      streams: KeyedStreams) -> torch.Tensor:
            return self._conditionals(rows.float())

        return evaluate_rows(self, x, condition, per_batch, batch_size=batch_size,
                             trailing=(COORDINATES,))

    # -- training (genproto.training.Trainable) ----------------------------------------------

    def training_data(self) -> Dataset:
        return load_toy2d(self.dataset)

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=6000, batch_size=512, lr=3e-3, seed=0, save_every=2000,
                             report_every=2000)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        # A fresh initialisation seeded by the run's seed (never the shipped weights), so
        # `genproto train ar -M dataset=... -M pretrained=false` reproduces them from scratch.
        self.net.load_state_dict(self._fresh_network(settings.seed).state_dict())
        self.net.train()
        self._optimizer = torch.optim.Adam(self.net.parameters(), lr=settings.lr)
        self._settings = settings
        return {"adam": self._optimizer}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizer = require_setup(self._optimizer, model=self.name)
        settings = require_setup(self._settings, model=self.name)
        # Linear warm-up, then cosine decay to a hundredth of the peak.
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps, warmup=WARMUP,
                           floor=0.01)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # Maximum likelihood: minimise -(1), in nats per point. A step draws no random numbers.
        loss = -self._conditionals(batch.x.float()).sum(dim=1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        norm = nn.utils.clip_grad_norm_(self.net.parameters(), 10.0)
        optimizer.step()
        return {"nll_nats": loss.item(), "grad_norm": float(norm)}

    def training_report(self) -> Mapping[str, float]:
        """KL(data || model) in nats on 10,000 held-out points (seed 1; training uses seed 0)."""
        held_out = load_toy2d(self.dataset, 10_000, seed=HELD_OUT_SEED).x
        truth = toy2d(self.dataset).log_prob(held_out.double())
        kl = kl_to_truth(truth, self.log_likelihood(held_out).double())
        return {"held_out_kl_nats": kl.value}

