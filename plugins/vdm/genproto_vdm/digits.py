"""The variational diffusion model of the 8x8 digits: 17 discrete levels, 10 classes.

:class:`VDM` is :class:`~genproto_vdm.model.VariationalDiffusion` on the digits (levels ``0..16``
scaled to ``[-1, 1]``), with what the data's discreteness allows:

* a denoiser that knows the data are discrete: it predicts, for every pixel, the context's
  logits over the 17 levels, and ``eps_hat`` follows from the exact posterior of the level
  (:func:`genproto_vdm.network.discrete_eps`); a global MLP with Fourier features of the input and
  a convolutional branch over each pixel's neighbourhood supply the logits, both modulated by the
  log-SNR and the class (:mod:`genproto_vdm.network`);
* the discrete decoder ``p(x_i = k | z_0)`` over the levels (:func:`genproto_vdm.bound.
  discrete_reconstruction`), so the bound is one on the probability of the levels, comparable
  bit for bit with the autoregressive model's exact likelihood;
* classifier-free guidance (the network is trained with the null class 10% of the time), and
  the predicted ``x`` clipped to ``[-1, 1]`` while sampling.

No weight average: the shipped weights fit the 5 MB budget once, not twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from genproto.data import load_digits
from genproto.data.dataset import Dataset
from genproto.options import Option
from genproto.protocol import Capabilities, ConditionSpec, EventSpace, Paradigm, SampleCost
from genproto.streams import KeyedStreams
from genproto.training import TrainSettings, seeded_init
from genproto_vdm import bound
from genproto_vdm.model import LIKELIHOODS, VariationalDiffusion, likelihood_kind
from genproto_vdm.network import Denoiser, discrete_eps
from genproto_vdm.schedule import LearnedSchedule

__all__ = ["BLOCKS", "CLASSES", "DEFAULT_STEPS", "HIDDEN", "LIKELIHOODS", "LOCAL", "VDM",
           "capabilities"]

CLASSES = 10
LEVELS = 17
DEFAULT_STEPS = 25  # classifier 0.977, Frechet 5.32; at 50: 0.970, 5.11 (docs/plugins/vdm.md)
DEFAULT_GUIDANCE = 1.0
DROPOUT = 0.3  # inside every block while training; measured against 0.1-0.4, see the docs
HIDDEN, BLOCKS, LOCAL = 224, 3, 48  # 1.1M parameters: 4.5 MB of float32 weights
OBJECTIVE = ("the continuous-time variational bound (VDM, Kingma et al. 2021) with a learned "
             "monotone noise schedule, low-discrepancy times and label dropout")


def capabilities(likelihood: str = "bound") -> Capabilities:
    """What the digits VDM declares: a bound, or (``likelihood="ode"``) an ODE estimate."""
    return Capabilities(
        paradigms=(Paradigm.DIFFUSION,),
        likelihood=likelihood_kind(likelihood),
        cost=SampleCost.per_step(DEFAULT_STEPS),
        event=EventSpace.discrete((8, 8), LEVELS),
        condition=ConditionSpec(CLASSES, "digit class"),
        objective=OBJECTIVE,
        sampling=f"VDM's ancestral sampler, K={DEFAULT_STEPS} equal steps of t by default, "
                 "predicted x clipped, then one draw of the discrete decoder",
    )


class _Parts(nn.Module):
    """The denoiser and the schedule as one module (what is saved and counted); its forward is
    ``eps_hat(z, gamma, y)`` through the levels' posterior (:func:`discrete_eps`)."""

    def __init__(self, denoiser: Denoiser, schedule: LearnedSchedule) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.schedule = schedule
        self.values: Tensor
        self.register_buffer("values", torch.linspace(-1.0, 1.0, LEVELS), persistent=False)

    def forward(self, z: Tensor, gamma: Tensor, y: Tensor | None) -> Tensor:
        return discrete_eps(z, gamma, self.denoiser(z, gamma, y), self.values)


class VDM(VariationalDiffusion):
    """Class-conditional VDM on the digits (levels ``0..16`` scaled to ``[-1, 1]``)."""

    sample_options = (
        Option("steps", int, DEFAULT_STEPS, "ancestral steps K of the sampler", minimum=1,
               maximum=10_000),
        Option("guidance", float, DEFAULT_GUIDANCE,
               "classifier-free guidance scale w (1 = plain conditional)", minimum=0.0,
               maximum=20.0),
    )
    clip = 1.0
    classes = CLASSES
    #: 64 Monte Carlo times by default: the bound given the class barely moves from 16 (1.751
    #: -> 1.737 bits/dim), but the class marginal (condition=None) estimates the class
    #: posterior from the noisy per-class bounds, and reads 1.925 at 16 times, 1.823 at 64
    #: (docs/plugins/vdm.md); 3.2 ms a digit and class on one CPU thread.
    bound_samples = 64

    def __init__(self, hidden: int = HIDDEN, blocks: int = BLOCKS, local: int = LOCAL,
                 likelihood: str = "bound", dropout: float = DROPOUT, init_seed: int = 0
                 ) -> None:
        super().__init__(capabilities(likelihood), likelihood)
        self.dim = 64
        with seeded_init(init_seed):
            parts = _Parts(Denoiser(64, hidden, blocks, CLASSES, dropout=dropout,
                                    outputs=LEVELS, local=local), LearnedSchedule())
        self.net = parts

    @property
    def values(self) -> Tensor:
        """The levels' values ``v_k`` in the diffusion's units, float64 (the network's buffer)."""
        values = self.net.values
        assert isinstance(values, Tensor)
        return values.double()

    def to_model_space(self, x: Tensor) -> Tensor:
        return (x.float() / 8.0 - 1.0).reshape(-1, 64).to(self.device)  # (B, 64)

    def reconstruction(self, x: Tensor, z0: Tensor, gamma_0: Tensor) -> Tensor:
        levels = x.reshape(-1, 64).to(self.device)
        return bound.discrete_reconstruction(levels, z0, gamma_0, self.values.to(self.device))

    def decode(self, z0: Tensor, gamma_0: Tensor, streams: KeyedStreams) -> Tensor:
        log_probs = bound.decoder_log_probs(z0, gamma_0, self.values.to(self.device))  # (B,64,17)
        return streams.categorical(log_probs).reshape(-1, 8, 8)

    # -- training (genproto.training.Trainable) ----------------------------------------------

    def training_data(self) -> Dataset:
        return load_digits("train")

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=6000, batch_size=128, lr=2e-3, seed=0, save_every=2000,
                             report_every=2000)

    def training_report(self) -> Mapping[str, float]:
        test = load_digits("test")
        nats = self.log_likelihood(test.x, test.y, seed=0)
        return {"test_bpd": float(-nats.mean()) / (64 * math.log(2))}
