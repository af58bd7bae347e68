"""The variational diffusion model of a toy 2-D density: both likelihood routes against the truth.

On the digits nobody knows ``log p(x)``; on the toy densities of :mod:`genproto.data.toy` it is
exact, so here the bound and the probability-flow ODE estimate of one trained network can each be
held against it (``genproto compare --data points``). :class:`PointsVDM` is
:class:`~genproto_vdm.model.VariationalDiffusion` on unconditional 2-D points:

* points divided by :data:`SCALE` (the densities lie within ``[-2.3, 2.3]^2``), so the diffusion
  sees data of about unit range; every log-density adds the Jacobian ``-2 log SCALE``;
* the continuous data's decoder ``p(x | z_0) = N(x; z_0 / alpha_0, exp(gamma_0) I)`` (VDM
  section 3.3 for continuous data; :func:`genproto_vdm.bound.gaussian_reconstruction`), so the
  bound is a lower bound on the *density* ``log p(x)``, and a sample ends with one keyed draw
  of it;
* a plain noise predictor: the residual MLP of :mod:`genproto_vdm.network` on the two
  coordinates and the log-SNR, without Fourier features (they serve the fine grid of discrete
  levels, which points do not have) and without the digits' discrete posterior;
* no clipping of the predicted ``x`` while sampling (the data's range is not a box).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from genproto.data import load_toy2d, toy2d
from genproto.data.dataset import Dataset
from genproto.options import Option
from genproto.protocol import Capabilities, EventSpace, Paradigm, SampleCost
from genproto.streams import KeyedStreams
from genproto.training import TrainSettings, seeded_init
from genproto_vdm import bound
from genproto_vdm.model import VariationalDiffusion, likelihood_kind
from genproto_vdm.network import Denoiser
from genproto_vdm.schedule import LearnedSchedule

__all__ = ["DEFAULT_STEPS", "HIDDEN", "BLOCKS", "SCALE", "PointsVDM", "capabilities"]

SCALE = 2.0
DEFAULT_STEPS = 50
HIDDEN, BLOCKS = 128, 3
#: Points drawn once for training (training seed 0; the comparison's held-out draw is seed 1).
TRAIN_POINTS = 100_000
OBJECTIVE = ("the continuous-time variational bound (VDM, Kingma et al. 2021) with a learned "
             "monotone noise schedule, low-discrepancy times and a Gaussian decoder")


def capabilities(dataset: str, likelihood: str = "bound") -> Capabilities:
    """What the VDM of a toy 2-D density declares: a bound, or an ODE estimate."""
    return Capabilities(
        paradigms=(Paradigm.DIFFUSION,),
        likelihood=likelihood_kind(likelihood),
        cost=SampleCost.per_step(DEFAULT_STEPS),
        event=EventSpace.continuous((2,)),
        condition=None,
        objective=OBJECTIVE,
        sampling=f"VDM's ancestral sampler, K={DEFAULT_STEPS} equal steps of t by default, "
                 "then one draw of the Gaussian decoder",
    )


class _Parts(nn.Module):
    """The noise predictor and the schedule as one module (what is saved and counted)."""

    def __init__(self, denoiser: Denoiser, schedule: LearnedSchedule) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.schedule = schedule

    def forward(self, z: Tensor, gamma: Tensor, y: Tensor | None = None) -> Tensor:
        out: Tensor = self.denoiser(z, gamma, None)
        return out


class PointsVDM(VariationalDiffusion):
    """Unconditional VDM of the toy 2-D density ``dataset`` (:func:`genproto.data.toy2d`)."""

    sample_options = (
        Option("steps", int, DEFAULT_STEPS, "ancestral steps K of the sampler", minimum=1,
               maximum=10_000),
    )
    log_jacobian = -2 * math.log(SCALE)
    #: The diffusion term of a 2-D point varies by about 3 nats between draws of 16 times (a
    #: held-out KL of 0.05 +- 0.05 on grid25); 128 times bring the error to 0.02 at 1.3 ms a
    #: point on one CPU thread.
    bound_samples = 128

    def __init__(self, dataset: str, hidden: int = HIDDEN, blocks: int = BLOCKS,
                 likelihood: str = "bound", init_seed: int = 0) -> None:
        toy2d(dataset)  # a typed error for an unknown name
        super().__init__(capabilities(dataset, likelihood), likelihood)
        self.dataset = dataset
        self.dim = 2
        with seeded_init(init_seed):
            self.net = _Parts(Denoiser(2, hidden, blocks, None, fourier=()), LearnedSchedule())

    def to_model_space(self, x: Tensor) -> Tensor:
        return (x.float() / SCALE).reshape(-1, 2).to(self.device)

    def reconstruction(self, x: Tensor, z0: Tensor, gamma_0: Tensor) -> Tensor:
        return bound.gaussian_reconstruction(self.to_model_space(x), z0, gamma_0)

    def decode(self, z0: Tensor, gamma_0: Tensor, streams: KeyedStreams) -> Tensor:
        g = float(gamma_0)
        mean = z0 / math.sqrt(1 / (1 + math.exp(g)))  # z_0 / alpha_0
        x = mean + math.exp(g / 2) * streams.normal(2).to(z0)
        return (x * SCALE).float()

    # -- training (genproto.training.Trainable) ----------------------------------------------

    def training_data(self) -> Dataset:
        return load_toy2d(self.dataset, n=TRAIN_POINTS, seed=0)

    def training_defaults(self) -> TrainSettings:
        # grid25's KL through the bound: 0.063 at 8,000 steps, 0.039 at 20,000 (docs).
        return TrainSettings(steps=20_000, batch_size=512, lr=2e-3, seed=0, save_every=5000,
                             report_every=5000)

    def training_report(self) -> Mapping[str, float]:
        held_out = load_toy2d(self.dataset, n=4096, seed=1)
        nats = self.log_likelihood(held_out.x, seed=0)
        truth = toy2d(self.dataset).log_prob(held_out.x.double())
        return {"kl_bound": float((truth - nats.double()).mean())}

    def bytes_per_sample(self, **options: Any) -> int:
        return 4096
