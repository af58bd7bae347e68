"""A variational diffusion model (Kingma et al. 2021) trained on its own bound, for any data.

Where the ``diffusion`` plugin trains ``L_simple`` on a fixed cosine schedule and reads a
discrete-time bound off the trained network (9.10 bits/dim on the test digits), this model is
trained *on the bound itself*, the way VDM reached better likelihoods than autoregressive models
on CIFAR-10:

* the continuous-time bound (:mod:`genproto_vdm.bound`): prior + reconstruction +
  ``1/2 E[gamma'(t) ||eps - eps_hat||^2]``;
* a learned monotone noise schedule (:mod:`genproto_vdm.schedule`): endpoints trained on the
  bound, shape on the variance of its Monte Carlo estimate (VDM section 5.2), and the times of a
  batch drawn low-discrepancy (VDM appendix I.1: ``t_i = (u + i / B) mod 1``);
* AdamW with a learning rate warmed up, then cosine-decayed to zero.

:class:`VariationalDiffusion` holds what does not depend on the data: the ancestral sampler on
``K`` equal steps of ``t`` (VDM appendix A.4) with optional classifier-free guidance (Ho &
Salimans 2022), the bound, the probability-flow ODE route (:mod:`genproto_vdm.ode`,
``likelihood="ode"``) and the training step. A subclass says what the data are: how events map to
the diffusion's units, the decoder ``p(x | z_0)`` (its log-density and one keyed draw of it), and
the network -- :class:`genproto_vdm.digits.VDM` (17 discrete levels of 64 pixels, a denoiser that
knows it) and :class:`genproto_vdm.points.PointsVDM` (2-D points with a Gaussian decoder, so the
bound and the ODE estimate can be held against an exact density).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from genproto.model import Model
from genproto.options import Option
from genproto.protocol import Capabilities, Likelihood, SampleCost
from genproto.streams import KeyedStreams
from genproto.training import Batch, TrainSettings, require_setup, warmup_cosine
from genproto_vdm import bound, ode
from genproto_vdm.schedule import LearnedSchedule

__all__ = ["BOUND_SAMPLES", "LIKELIHOODS", "VariationalDiffusion", "likelihood_kind"]

LIKELIHOODS = ("bound", "ode")
#: Monte Carlo times of the bound's diffusion term by default.
BOUND_SAMPLES = 16
LABEL_DROPOUT = 0.1
WEIGHT_DECAY = 0.1  # AdamW (Loshchilov & Hutter 2019)
WARMUP = 500


def likelihood_kind(likelihood: str) -> Likelihood:
    """What ``likelihood="bound"`` or ``"ode"`` declares."""
    return Likelihood.ESTIMATE if likelihood == "ode" else Likelihood.BOUND


class VariationalDiffusion(Model):
    """The data-independent part of a VDM (see the module); subclasses set the data's parts.

    A subclass sets ``self.net`` (a module with a ``schedule`` attribute, a
    :class:`~genproto_vdm.schedule.LearnedSchedule`, and ``forward(z, gamma, y) -> eps_hat``)
    and ``self.dim``, and implements :meth:`to_model_space`, :meth:`reconstruction`,
    :meth:`decode`, and the training data and settings.
    """

    #: ``x_hat`` is clipped to ``[-clip, clip]`` while sampling (the data's range), or not at all.
    clip: float | None = None
    #: ``log |d model space / d event|`` summed over dimensions: added to every log-likelihood
    #: of continuous events (0 for discrete ones, whose probabilities need no Jacobian).
    log_jacobian: float = 0.0
    #: Classes of the condition (a null class ``classes`` is trained for guidance), or None.
    classes: int | None = None
    #: Monte Carlo times of the bound's diffusion term by default (``bound_samples``).
    bound_samples: int = BOUND_SAMPLES

    net: nn.Module
    dim: int

    def __init__(self, caps: Capabilities, likelihood: str) -> None:
        super().__init__(caps, name="vdm")
        self.likelihood_kind = likelihood
        self.likelihood_options = ode.OPTIONS if likelihood == "ode" else (
            Option("bound_samples", int, self.bound_samples, "Monte Carlo times t of the "
                   "diffusion term (stratified over [0, 1])", minimum=1, maximum=4096),
        )
        self._settings: TrainSettings | None = None
        self._optimizer: torch.optim.Optimizer | None = None

    @property
    def schedule(self) -> LearnedSchedule:
        """The learned noise schedule (a part of :attr:`net`, saved with it)."""
        schedule = self.net.schedule
        assert isinstance(schedule, LearnedSchedule)
        return schedule

    def networks(self) -> Mapping[str, nn.Module]:
        return {"denoiser": self.net}

    # -- what the data are (subclasses) ------------------------------------------------------

    def to_model_space(self, x: Tensor) -> Tensor:
        """Events ``x`` as ``(B, dim)`` float rows in the diffusion's units, on the device."""
        raise NotImplementedError

    def reconstruction(self, x: Tensor, z0: Tensor, gamma_0: Tensor) -> Tensor:
        """``-log p(x | z_0)`` of events ``x`` in nats, ``(B,)`` float64 (in model space)."""
        raise NotImplementedError

    def decode(self, z0: Tensor, gamma_0: Tensor, streams: KeyedStreams) -> Tensor:
        """One keyed draw of ``p(x | z_0)`` as events."""
        raise NotImplementedError

    # -- the noise prediction ----------------------------------------------------------------

    def eps(self, z: Tensor, gamma: Tensor, condition: Tensor | None, guidance: float = 1.0
            ) -> Tensor:
        """``eps_hat`` with guidance ``w``: conditional and null rows in ONE network call."""
        if condition is None or guidance == 1.0 or self.classes is None:
            out: Tensor = self.net(z, gamma, condition)
            return out
        null = torch.full_like(condition, self.classes)
        both = self.net(torch.cat([z, z]), torch.cat([gamma, gamma]),
                        torch.cat([condition, null]))
        eps_c, eps_u = both.chunk(2)
        guided: Tensor = eps_u + guidance * (eps_c - eps_u)
        return guided

    # -- sampling ----------------------------------------------------------------------------

    def cost(self, **options: Any) -> SampleCost:
        return SampleCost.per_step(int(self.check_sample_options(options)["steps"]))

    def bytes_per_sample(self, **options: Any) -> int:
        return 64 * 1024

    def _ancestral_steps(self, steps: int
                         ) -> tuple[Tensor, list[tuple[float, float, float, float, float]]]:
        """gamma on the grid ``t = i / steps`` (float64, on the device) and, for ``i = steps ..
        1``, the Python floats of one ancestral step ``t -> s = t - 1/steps`` (VDM appendix
        A.4): ``(sigma_t, alpha_t)`` for ``x_hat = (z - sigma_t eps) / alpha_t``, and ``q(z_s |
        z_t, x_hat) = N(keep z + take x_hat, std^2)`` with ``alpha_{t|s} = alpha_t / alpha_s``,
        ``sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2``. Computed once a batch, so the
        step loop reads no tensor element."""
        t = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64, device=self.device)
        gamma = self.schedule(t.float())[0].double()
        a2, s2 = torch.sigmoid(-gamma).tolist(), torch.sigmoid(gamma).tolist()
        table = []
        for i in range(steps, 0, -1):
            a_ts2 = a2[i] / a2[i - 1]
            var_ts = s2[i] - a_ts2 * s2[i - 1]
            table.append((math.sqrt(s2[i]), math.sqrt(a2[i]), math.sqrt(a_ts2) * s2[i - 1] / s2[i],
                          math.sqrt(a2[i - 1]) * var_ts / s2[i],
                          math.sqrt(max(var_ts * s2[i - 1] / s2[i], 0.0))))
        return gamma, table

    def sample_batch(self, streams: KeyedStreams, condition: Tensor | None,
                     **options: Any) -> Tensor:
        steps, w = int(options["steps"]), float(options.get("guidance", 1.0))
        dev, d, clip = self.device, self.dim, self.clip
        gamma, steps_table = self._ancestral_steps(steps)
        z = streams.normal(d).to(dev)  # z_1 ~ N(0, I)
        noise = streams.fork("step-noise")
        b = z.shape[0]
        for i, (sigma_t, alpha_t, keep, take, std) in zip(range(steps, 0, -1), steps_table,
                                                           strict=True):
            eps = self.eps(z, gamma[i].float().expand(b), condition, w)
            x_hat = (z - sigma_t * eps) / alpha_t
            if clip is not None:
                x_hat = x_hat.clamp(-clip, clip)  # clipped to the data's range
            z = keep * z + take * x_hat + std * noise.normal(d).to(dev)
        return self.decode(z, gamma[0], streams.fork("decoder"))

    # -- the likelihood ----------------------------------------------------------------------

    def bound_terms(self, x: Tensor, condition: Tensor | None, streams: KeyedStreams,
                    samples: int) -> bound.Terms:
        """The bound's terms per row in model space (:func:`genproto_vdm.bound.negative_bound`,
        nats; the events' log-likelihood adds :attr:`log_jacobian`)."""
        net = self.net
        return bound.negative_bound(
            self.to_model_space(x), self.schedule.endpoints(), self.schedule,
            lambda z, gamma: net(z, gamma, condition),
            lambda z0, gamma_0: self.reconstruction(x, z0, gamma_0),
            streams, samples,
        )

    def log_likelihood_batch(self, x: Tensor, condition: Tensor | None, streams: KeyedStreams,
                             **options: Any) -> Tensor:
        if self.likelihood_kind == "ode":
            return ode.log_likelihood(self, x, condition, streams, **options)
        terms = self.bound_terms(x, condition, streams, int(options["bound_samples"]))
        return (self.log_jacobian - terms.total).float()

    # -- training (genproto.training.Trainable) ----------------------------------------------

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        self._settings = settings
        self.net.train()
        self._optimizer = torch.optim.AdamW(self.net.parameters(), lr=settings.lr,
                                            betas=(0.9, 0.99), weight_decay=WEIGHT_DECAY)
        return {"adamw": self._optimizer}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        """One step on the bound; the schedule's shape on the variance of its estimate."""
        optimizer = require_setup(self._optimizer, model=self.name)
        settings = require_setup(self._settings, model=self.name)
        net, sched = self.net, self.schedule
        x0 = self.to_model_space(batch.x)  # (B, D)
        b, d = x0.shape
        streams = batch.streams
        # 1. Low-discrepancy times from the first example's uniform, noise per example,
        #    the null class 10% of the time.
        u = streams.uniform().reshape(b)[0].item()
        t = torch.remainder(u + torch.arange(b, dtype=torch.float64) / b, 1.0).float()
        eps = streams.normal(d).to(x0)
        eps0 = streams.normal(d).to(x0)
        y = batch.y
        if y is not None and self.classes is not None:
            drop = streams.uniform().reshape(b).to(x0.device) < LABEL_DROPOUT
            y = torch.where(drop, torch.full_like(y, self.classes), y)
        # 2. The schedule at t, cut from the graph: the bound flows back into it below.
        gamma_t, dgamma_t = sched(t.to(x0.device))
        g = gamma_t.detach().requires_grad_()
        dg = dgamma_t.detach().requires_grad_()
        alpha, sigma = bound.alpha_sigma(g)
        z = alpha[:, None] * x0 + sigma[:, None] * eps
        net.train()
        diffusion = bound.diffusion_term(eps, net(z, g, y), dg)  # (B,)
        g0, g1 = sched.endpoints()
        a0, s0 = bound.alpha_sigma(g0)
        recon = self.reconstruction(batch.x, a0 * x0 + s0 * eps0, g0)
        prior = bound.prior_term(x0, g1)
        loss = (prior + recon + diffusion).mean() / (d * math.log(2))  # bits per dim
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps, warmup=WARMUP)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        # 3. Through the schedule: the endpoints on the bound, the shape on the variance of the
        #    diffusion term's estimate, d E[L^2] = E[2 L dL] (VDM section 5.2).
        if g.grad is None or dg.grad is None:  # pragma: no cover - both feed the loss
            raise RuntimeError("the diffusion term did not reach the schedule")
        ends = torch.autograd.grad((gamma_t, dgamma_t), sched.endpoint_parameters(),
                                   (g.grad, dg.grad), retain_graph=True)
        weight = 2 * diffusion.detach().float() / (d * math.log(2))
        shape = torch.autograd.grad((gamma_t, dgamma_t), sched.shape_parameters(),
                                    (weight * g.grad, weight * dg.grad))
        for p, grad in zip([*sched.endpoint_parameters(), *sched.shape_parameters()],
                           [*ends, *shape], strict=True):
            p.grad = grad if p.grad is None else p.grad + grad
        optimizer.step()
        return {"bpd": float(loss.detach()), "gamma_0": float(g0.detach()),
                "gamma_1": float(g1.detach())}
