"""A denoising diffusion model: DDPM training, DDPM and DDIM sampling, guidance, likelihoods.

The maths, and where it comes from:

* Forward process and objective: Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic
  Models" (DDPM). ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` (eq. 4); the network
  predicts the noise, trained with ``L_simple = E ||eps - eps_theta(x_t, t)||^2`` (eq. 14).
* Noise schedule: the cosine schedule of Nichol & Dhariwal 2021, "Improved Denoising Diffusion
  Probabilistic Models", eq. 17: ``abar_t = f(t) / f(0)``, ``f(t) = cos^2((t/T + s)/(1 + s) pi/2)``,
  ``s = 0.008``, ``beta_t = min(1 - abar_t / abar_{t-1}, 0.999)``.
* Sampling: DDIM, Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models", eq. 12, on a
  subsequence of K timesteps (section 4.2); ``eta = 0`` is deterministic, ``eta = 1`` with all T
  steps is DDPM's ancestral sampler (Ho et al. Algorithm 2 with ``sigma_t^2 = beta~_t``).
* Classifier-free guidance: Ho & Salimans 2022. One network is trained with the label replaced
  by a null class 10% of the time; sampling uses ``eps_u + w (eps_c - eps_u)``.
* Score: ``grad_x log q(x_t) ~ -eps_theta(x_t, t) / sigma_t`` with ``sigma_t = sqrt(1 - abar_t)``
  (Song et al. 2021, "Score-Based Generative Modeling through SDEs", and Ho et al. eq. 11).
* Likelihood on the digits: the variational bound ``L_T + sum_{t>1} L_{t-1} + L_0`` with a
  discretised Gaussian decoder over the 17 levels (Ho et al. section 3.3, eq. 5 and 13). The
  reverse variances are not the sampler's fixed ``beta~_t`` but the best isotropic ones for the
  trained network, ``beta~_t + E||mu_q - mu_theta||^2 / D`` (Bao, Li, Zhu & Zhang 2022,
  "Analytic-DPM", theorem 1), the expectation estimated once on the training data; any
  variance fixed before seeing the evaluated data keeps the bound a bound. The reverse mean is
  the sampler's: q's posterior mean at the predicted x_0, clipped.
* Likelihood on toy 2-D data: the probability-flow ODE (Song et al. 2021, SDE paper, section
  4.3 and appendix D.2) written in DDIM's variables ``xbar = x / sqrt(abar)``,
  ``sigmabar = sqrt((1 - abar) / abar)``, where it reads ``d xbar / d sigmabar = eps_theta``
  (DDIM eq. 14), with the instantaneous change of variables (Chen et al. 2018, "Neural ODEs",
  theorem 1) and the exact divergence of the 2-D vector field by autograd.

Digits levels ``0..16`` are scaled to ``[-1, 1]`` (``x = level / 8 - 1``); samples are mapped
back by ``round((x + 1) * 8)`` clamped to ``0..16``. Toy 2-D data are divided by 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genproto.data import load_digits, load_toy2d, toy2d
from genproto.data.dataset import Dataset
from genproto.errors import InputError, InvalidArgumentError, OptionError
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import (
    Capabilities,
    ConditionSpec,
    EventSpace,
    Likelihood,
    Paradigm,
    SampleCost,
)
from genproto.streams import KeyedStreams
from genproto.training import Batch, TrainSettings, require_setup, seeded_init, warmup_cosine

__all__ = [
    "CLASSES",
    "DEFAULT_STEPS",
    "Denoiser",
    "DigitsDiffusion",
    "ToyDiffusion",
    "build",
    "capabilities",
    "cosine_schedule",
    "padded_rows",
]

CLASSES = 10  # digit classes; the label embedding has one more row, the null class
DEFAULT_STEPS = 50  # DDIM steps K by default
DEFAULT_GUIDANCE = 2.0  # classifier-free guidance scale w by default
LABEL_DROPOUT = 0.1  # probability of training with the null class
TOY_SCALE = 2.0  # toy 2-D data are divided by this before the diffusion
#: Training steps of a toy density that needs more than the default 6,000: the 5x5 grid's sharp
#: modes (std 0.05 after the scaling) reach precision 0.84 at 18,000 steps against 0.64 at 6,000.
TOY_TRAIN_STEPS: dict[str, int] = {"grid25": 18_000}
#: Every sampling call of the denoiser (and the time MLP's once-a-batch call) has a multiple of
#: this many rows, padding included: see :func:`padded_rows`.
MIN_ROWS = 8
MIN_TOY_ROWS = MIN_ROWS  # rows of every toy denoiser call, likelihoods too (ToyDiffusion.eps)


def padded_rows(rows: int) -> int:
    """``rows`` rounded up to a multiple of :data:`MIN_ROWS` (at least one multiple).

    CPU matrix kernels (MKL sgemm, measured on AVX2 with 1 to 32 threads) give a row other
    bits in a call of a few rows than in a large one: 1-3 rows with one thread; with more
    threads also 5-7, 9-11 and, at 16-32 threads, some rows counts up to 51 -- never a multiple
    of 4. A call padded to a multiple of 8 computes each row as a large batch does, so every
    batch size gives the same floats bit for bit, at a cost of at most 7 rows a call.
    """
    return max(MIN_ROWS, -(-rows // MIN_ROWS) * MIN_ROWS)
OBJECTIVE = "noise-prediction MSE at uniform timesteps (Ho et al. 2020), cosine schedule"


def cosine_schedule(timesteps: int, s: float = 0.008) -> Tensor:
    """``beta_1 .. beta_T`` of the cosine schedule (Nichol & Dhariwal 2021, eq. 17), float64."""
    u = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps  # (T+1,) t/T
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)  # (T,)


def capabilities(dataset: str = "digits", timesteps: int = 1000) -> Capabilities:
    """What the model built with these factory options declares."""
    sampling = (
        f"DDIM with K={DEFAULT_STEPS} steps by default (Song et al. 2021) or ancestral DDPM over "
        f"all T={timesteps} steps; classifier-free guidance in one batched call per step"
    )
    if dataset == "digits":
        return Capabilities(
            paradigms=(Paradigm.DIFFUSION,),
            likelihood=Likelihood.BOUND,
            cost=SampleCost.per_step(DEFAULT_STEPS),
            event=EventSpace.discrete((8, 8), 17),
            condition=ConditionSpec(CLASSES, "digit class"),
            objective=OBJECTIVE + ", label dropout for classifier-free guidance",
            sampling=sampling,
        )
    return Capabilities(
        paradigms=(Paradigm.DIFFUSION,),
        likelihood=Likelihood.ESTIMATE,
        cost=SampleCost.per_step(DEFAULT_STEPS),
        event=EventSpace.continuous((2,)),
        condition=None,
        objective=OBJECTIVE,
        sampling=sampling.split(";")[0],
    )


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps (Vaswani et al. 2017). (B, dim)"""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)  # (H,)
    angles = t.float()[:, None] * freqs[None, :]  # (B, H)
    embedding = torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, 2H)
    if dim % 2:  # an odd width gets a zero last column, so every declared width works
        embedding = torch.nn.functional.pad(embedding, (0, 1))
    return embedding  # (B, dim)


class Block(nn.Module):
    """A pre-norm residual MLP block; the (time + label) embedding is added to its input."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.lin1 = nn.Linear(hidden, 2 * hidden)
        self.lin2 = nn.Linear(2 * hidden, hidden)
        nn.init.zeros_(self.lin2.weight)  # every block starts as the identity
        nn.init.zeros_(self.lin2.bias)

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            out: Tensor = h + self.lin2(F.silu(self.lin1(self.norm(h) + e)))  # (B, H)
            return out
        # Without autograd the same operations in place on the temporaries they made: the
        # same numbers bit for bit (IEEE addition commutes), two (B, 2H)/(B, H) buffers fewer.
        n = self.norm(h)
        n += e  # e may be one broadcast row
        a = F.silu(self.lin1(n), inplace=True)  # (B, 2H)
        out = self.lin2(a)
        out += h
        return out


class Denoiser(nn.Module):
    """eps_theta(x_t, t, y): a residual MLP on the flattened data (64 pixels or 2 coordinates).

    Time: a sinusoidal embedding through a 2-layer MLP; label (if conditional): an embedding
    with a null row (index ``classes``) for classifier-free guidance; their sum enters every
    block. On a 2-core CPU this trains ~10x faster per step than a small conv UNet on 8x8
    images at the same quality bar (measured: docs/plugins/diffusion.md).
    """

    def __init__(self, dim: int, hidden: int, blocks: int, classes: int | None,
                 timesteps: int = 1000) -> None:
        super().__init__()
        self.hidden = hidden
        # E||mu_q - mu_theta||^2 / D per timestep t = 0..T, fitted on the training data after
        # training (Diffusion.fit_reverse_variances); zeros = the fixed variances.
        self.reverse_mse: Tensor
        self.register_buffer("reverse_mse", torch.zeros(timesteps + 1, dtype=torch.float64))
        self.time = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.label = None if classes is None else nn.Embedding(classes + 1, hidden)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList([Block(hidden) for _ in range(blocks)])
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def time_embedding(self, t: Tensor) -> Tensor:
        """The time MLP on the sinusoidal embedding of timesteps ``t`` (K,). (K, H)

        A sampler steps every row through the same timesteps, so it computes this once per
        batch for its K steps (padded to :func:`padded_rows` rows, so that the matrix
        kernels and their rounding are the ones of a large batch) and passes a row of it to
        :meth:`forward` as ``embedding``.
        """
        k = t.shape[0]
        if padded_rows(k) > k:
            t = torch.cat([t, t.new_zeros(padded_rows(k) - k)])
        out: Tensor = self.time(timestep_embedding(t, self.hidden))[:k]
        return out

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None, *,
                embedding: Tensor | None = None) -> Tensor:
        """eps_theta(x, t, y). x: (B, D), t: (B,) float timesteps, y: (B,) labels
        (``classes`` = null) or None; ``embedding``: the conditioning ``e`` every block adds,
        precomputed by a sampler (a row of :meth:`time_embedding`, plus ``label(y)`` if
        conditional: (B, H), or (1, H) broadcast); then ``t`` and ``y`` are not read. (B, D)"""
        if embedding is not None:
            e = embedding
        else:
            e = self.time(timestep_embedding(t, self.hidden))  # (B, H)
            if self.label is not None and y is not None:
                e = e + self.label(y)
        h = self.inp(x)  # (B, H)
        for block in self.blocks:
            h = block(h, e)
        h = self.out_norm(h)
        out: Tensor = self.out(F.silu(h, inplace=not torch.is_grad_enabled()))  # (B, D)
        return out


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


def _sample_options(timesteps: int) -> tuple[Option, ...]:
    return (
        Option("steps", int, None, "denoising steps K (default: 50 for DDIM, T for DDPM)",
               minimum=1, maximum=timesteps, nullable=True),
        Option("sampler", str, "ddim", "'ddim' (Song et al. 2021) or 'ddpm' (ancestral)",
               choices=("ddim", "ddpm")),
        Option("guidance", float, DEFAULT_GUIDANCE,
               "classifier-free guidance scale w (1 = plain conditional)", minimum=0.0,
               maximum=20.0),
        Option("eta", float, 0.0, "DDIM noise: 0 deterministic, 1 ancestral (ddim only)",
               minimum=0.0, maximum=1.0),
    )


class Diffusion(Model):
    """The parts every configuration shares: schedule, training step, samplers, score."""

    NUM_TIMESTEPS: ClassVar[int] = 1000
    # Predicted x_0 is clipped to [-clip, clip]: near t = T, abar_T ~ 2e-9 and x0_hat =
    # (x_t - sqrt(1 - abar) eps_hat) / sqrt(abar) amplifies the network's error ~2e4-fold.
    clip: ClassVar[float] = 3.0
    sample_options: tuple[Option, ...] = _sample_options(NUM_TIMESTEPS)

    def __init__(self, caps: Capabilities, net: nn.Module, *, init_seed: int) -> None:
        super().__init__(caps, name="diffusion")
        self.timesteps = T = self.NUM_TIMESTEPS
        self.init_seed = init_seed  # the seed the denoiser was initialised from
        self.net = net  # eps_theta
        # The schedule, indexed by t = 0..T (t = 0 is the data: abar_0 = 1), float64 on the CPU.
        betas = torch.cat([torch.zeros(1, dtype=torch.float64), cosine_schedule(T)])  # (T+1,)
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1 - betas, dim=0)  # abar_t
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1 - self.alphas_cumprod).sqrt()  # sigma_t
        self._settings: TrainSettings | None = None
        self._optimizer: torch.optim.Optimizer | None = None

    def networks(self) -> Mapping[str, nn.Module]:
        return {"denoiser": self.net}

    # -- events <-> diffusion space (per configuration) ------------------------------------

    def to_model_space(self, x: Tensor) -> Tensor:
        """Events (data) to the space the diffusion runs in, ``(B, *shape)``."""
        raise NotImplementedError

    def to_events(self, x: Tensor) -> Tensor:
        """Points of the diffusion space back to events (levels, or points), ``(B, *event)``."""
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    # -- the network with guidance ----------------------------------------------------------

    def eps(self, x: Tensor, t: Tensor, condition: Tensor | None, guidance: float = 1.0) -> Tensor:
        """eps_theta(x_t, t, c) with guidance w: ``eps_u + w (eps_c - eps_u)``, ONE network call.

        With ``w != 1`` the conditional and unconditional rows are concatenated into one batch
        of 2B rows, so a guided step is one (twice as wide) network evaluation.
        """
        if condition is None or guidance == 1.0:
            out: Tensor = self.net(x, t, condition)
            return out
        null = torch.full_like(condition, CLASSES)
        both = self.net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([condition, null]))
        eps_c, eps_u = both.chunk(2)  # (B, ...) each
        guided: Tensor = eps_u + guidance * (eps_c - eps_u)
        return guided

    def score(self, x: Tensor, t: int | Tensor, condition: Tensor | None = None,
              guidance: float = 1.0) -> Tensor:
        """The score ``grad_x log q_t(x) ~ -eps_theta(x, t, c) / sigma_t`` (diffusion space).

        ``x`` is a batch in diffusion space (digits: ``(B, 64)`` in ``[-1, 1]`` units),
        ``t`` an integer timestep in ``1..T`` (or a (B,) tensor of them).
        """
        tt = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        sigma = self.sqrt_one_minus_alphas_cumprod[tt.long().cpu()].to(x)
        sigma = sigma.reshape(-1, *([1] * (x.dim() - 1)))
        with torch.no_grad():
            return -self.eps(x, tt.float(), condition, guidance) / sigma

    # -- sampling -------------------------------------------------------------------------

    def check_sample_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The declared options, with the rules that tie them together; ``steps`` filled in.

        The sampler calls this once per run, so :meth:`sample_batch` reads the values as
        they are.
        """
        values = super().check_sample_options(options)
        sampler = values["sampler"]
        if values["steps"] is None:
            values["steps"] = self.timesteps if sampler == "ddpm" else DEFAULT_STEPS
        if sampler == "ddpm" and values["eta"] != 0.0:
            raise OptionError("'diffusion' sample option 'eta'", option="eta", value=values["eta"],
                              allowed="0 with sampler='ddpm' (which is eta = 1)",
                              fix="Use sampler='ddim' with eta in [0, 1]")
        if self.capabilities.condition is None and values["guidance"] != DEFAULT_GUIDANCE:
            raise OptionError("'diffusion' sample option 'guidance'", option="guidance",
                              value=values["guidance"], allowed="the default (unconditional model)",
                              fix="Guidance needs a class-conditional model (dataset='digits')")
        return values

    @staticmethod
    def _sampler_settings(values: Mapping[str, Any]) -> tuple[int, float, float]:
        """``(steps, eta, guidance)`` of checked options (DDPM sampling is DDIM with eta = 1)."""
        eta = 1.0 if values["sampler"] == "ddpm" else float(values["eta"])
        return int(values["steps"]), eta, float(values["guidance"])

    def cost(self, **options: Any) -> SampleCost:
        """K network evaluations: one (batched conditional + unconditional) call per step."""
        steps, _, _ = self._sampler_settings(self.check_sample_options(options))
        return SampleCost.per_step(steps)

    def bytes_per_sample(self, **options: Any) -> int:
        return 1024 * 1024

    def timestep_sequence(self, steps: int) -> list[int]:
        """K timesteps ``tau_1 < ... < tau_K = T`` evenly spaced over 1..T (DDIM section 4.2)."""
        return [round(i * self.timesteps / steps) for i in range(1, steps + 1)]

    def _step_eps(self, taus: list[int], condition: Tensor | None, guidance: float,
                  b: int) -> Callable[[Tensor, int], Tensor]:
        """``eps(x, i)``: the guided noise prediction at step ``i`` (timestep ``taus[i]``) of a
        batch of ``b`` rows, what :meth:`eps` returns, with the per-batch work done once.

        Every row of a step has the same timestep and every step the same labels, so the time
        MLP runs once per batch on the K timesteps (:meth:`Denoiser.time_embedding`) and the
        label embedding once on the (guided: conditional then null) labels; a step then adds
        a row of the one to the other and runs the residual blocks. Calls are padded to a
        multiple of 8 rows with copies of the first row (:func:`padded_rows`): CPU matrix
        kernels round a call of a few rows differently from a large one, and padded, every
        batch size gives the same floats bit for bit (padding is never counted: the sampler
        counts a call's rows up to the batch's). A denoiser that is not a :class:`Denoiser`
        goes through :meth:`eps` unchanged.
        """
        dev, net = self.device, self.net
        if not isinstance(net, Denoiser):
            return lambda x, i: self.eps(x, torch.full((b,), float(taus[i]), device=dev),
                                         condition, guidance)
        guided = condition is not None and guidance != 1.0 and net.label is not None
        rows = 2 * b if guided else b
        pad = padded_rows(rows) - rows
        time = net.time_embedding(torch.tensor(taus, dtype=torch.float32, device=dev))  # (K, H)
        labels = None
        if condition is not None and net.label is not None:
            y = torch.cat([condition, torch.full_like(condition, CLASSES)]) if guided else condition
            labels = net.label(torch.cat([y, y[:1].expand(pad)]) if pad else y)  # (R, H)

        def step(x: Tensor, i: int) -> Tensor:
            e = time[i:i + 1] if labels is None else labels + time[i:i + 1]  # (R or 1, H)
            xin = torch.cat([x, x]) if guided else x
            if pad:
                xin = torch.cat([xin, xin[:1].expand(pad, *xin.shape[1:])])
            t = torch.full((xin.shape[0],), float(taus[i]), device=dev)
            out: Tensor = net(xin, t, embedding=e)
            if pad:
                out = out[:rows]
            if not guided:
                return out
            eps_c, eps_u = out.chunk(2)  # (B, ...) each
            mixed: Tensor = eps_u + guidance * (eps_c - eps_u)
            return mixed

        return step

    def sample_batch(self, streams: KeyedStreams, condition: Tensor | None,
                     **options: Any) -> Tensor:
        steps, eta, w = self._sampler_settings(options)  # checked once per run by the sampler
        if self.capabilities.condition is None:
            condition, w = None, 1.0
        taus = self.timestep_sequence(steps)
        abar = self.alphas_cumprod
        ancestral = eta == 1.0 and steps == self.timesteps
        dev = self.device
        # 1. x_T ~ N(0, I), one draw per sample.
        x = streams.normal(*self.shape).to(dev)  # (B, *shape)
        noise = streams.fork("step-noise")
        step_eps = self._step_eps(taus, condition, w, x.shape[0])
        for i in reversed(range(steps)):
            t, t_prev = taus[i], (taus[i - 1] if i > 0 else 0)
            a_t, a_prev = float(abar[t]), float(abar[t_prev])
            # 2. Predict the noise (guided) and the clean data x_0 (DDIM eq. 12, "predicted x_0").
            eps = step_eps(x, i)
            x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
            if self.clip:
                x0 = x0.clamp(-self.clip, self.clip)
                eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
            if ancestral and t > 1:
                # 3'. All T steps, eta = 1: the very reverse process the bound is about, q's
                # posterior mean at x0 and the fitted variance (reverse_variance).
                tt = torch.tensor([t])
                mean = self._q_posterior(x0.double(), x.double(), tt)[0]
                sigma = float(self.reverse_variance(tt)) ** 0.5
                x = mean.to(x.dtype)
            else:
                # 3. sigma_tau (DDIM eq. 16): eta = 1 gives DDPM's posterior variance beta~_t.
                sigma = eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
                # 4. x_{t_prev} = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z.
                x = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * noise.normal(*self.shape).to(dev)
        return self.to_events(x)

    # -- the variational bound (Ho et al. 2020, eq. 5), shared by every configuration ----------

    def bound_terms(self, x0: Tensor, condition: Tensor | None, streams: KeyedStreams,
                    k: int) -> tuple[Tensor, Tensor]:
        """``L_T + sum_{t=2}^T L_{t-1}`` per row (nats, float64) and ``mu_theta(x_1, 1)``.

        ``x0`` is a float64 batch in diffusion space, ``(B, *shape)``. ``L_T = KL(q(x_T|x_0)
        || N(0, I))`` in closed form; ``L_{t-1} = KL(q(x_{t-1}|x_t, x_0) || p(x_{t-1}|x_t))``
        with ``p``'s variance :meth:`reverse_variance` and ``x_t ~ q(x_t|x_0)`` drawn from the
        streams; the sum over t = 2..T is estimated without
        bias by a stratified draw of ``k`` terms (one t per stratum, weighted by the stratum's
        size; ``k = T-1`` evaluates every term). The caller adds its own ``L_0 = -log
        p(x_0|x_1)``, a Gaussian of mean ``mu_theta(x_1, 1)`` and variance
        ``reverse_variance(1)`` (integrated over a level's bin for discrete data, a density for
        continuous data).
        """
        T, b = self.timesteps, x0.shape[0]
        abar = self.alphas_cumprod
        # 1. L_T: KL(N(sqrt(abar_T) x0, 1 - abar_T) || N(0, 1)), per dimension, summed.
        m, v = float(abar[T]) ** 0.5 * x0, 1 - float(abar[T])
        total = 0.5 * (v + m**2 - 1 - math.log(v)).flatten(1).sum(1)  # (B,)
        # 2. The strata of t = 2..T and one uniform t in each (stratified sampling).
        edges = [2 + (j * (T - 1)) // k for j in range(k + 1)]
        sizes = torch.tensor([edges[j + 1] - edges[j] for j in range(k)], dtype=torch.int64)
        u = streams.uniform(k, dtype=torch.float64).cpu()  # (B, k)
        ts = torch.tensor(edges[:-1]) + (u * sizes).long().clamp(max=sizes - 1)  # (B, k)
        noise = streams.normal(k, *self.shape).to(self.device)  # (B, k, *shape)
        for j in range(k):
            t = ts[:, j]  # (B,)
            total = total + sizes[j].item() * self._kl_term(x0, t, noise[:, j], condition)
        # 3. x_1 ~ q(x_1 | x_0) and the reverse mean at t = 1, for the caller's L_0.
        eps1 = streams.normal(*self.shape).to(self.device).double()
        t1 = torch.ones(b, dtype=torch.int64)
        x1 = float(abar[1]) ** 0.5 * x0 + float(1 - abar[1]) ** 0.5 * eps1
        return total, self._posterior_mean(x1, t1, condition)

    def _q_posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of ``q(x_{t-1} | x_t, x_0)`` (Ho et al. eq. 6-7), float64."""
        view = (-1, *([1] * (x0.dim() - 1)))
        abar, abar_prev, beta = self.alphas_cumprod[t], self.alphas_cumprod[t - 1], self.betas[t]
        a, ap, bt = (v.reshape(view).to(x0) for v in (abar, abar_prev, beta))
        mean = (ap.sqrt() * bt / (1 - a)) * x0 + ((1 - bt).sqrt() * (1 - ap) / (1 - a)) * xt
        return mean, bt * (1 - ap) / (1 - a)

    def _posterior_mean(self, xt: Tensor, t: Tensor, condition: Tensor | None) -> Tensor:
        """mu_theta(x_t, t): q's posterior mean at the predicted, clipped ``x_0`` (the DDPM
        sampler's parameterisation; unclipped it is Ho et al. eq. 11). Clipping keeps the
        last steps, where ``alpha_t`` -> 0 amplifies the noise prediction's error, bounded."""
        view = (-1, *([1] * (xt.dim() - 1)))
        a = self.alphas_cumprod[t].reshape(view).to(xt)
        eps = self.eps(xt.float(), t.float().to(self.device), condition).double()
        x0 = (xt - (1 - a).sqrt() * eps) / a.sqrt()
        if self.clip:
            x0 = x0.clamp(-self.clip, self.clip)
        return self._q_posterior(x0, xt, t)[0]

    def _mse_table(self) -> Tensor:
        """The denoiser's fitted ``m_t`` buffer, (T+1,) float64."""
        table = getattr(self.net, "reverse_mse", None)
        if not isinstance(table, Tensor):
            raise TypeError(f"the denoiser {type(self.net).__name__} has no 'reverse_mse' buffer")
        return table

    def reverse_variance(self, t: Tensor) -> Tensor:
        """The variance of ``p(x_{t-1} | x_t)`` the bound uses, float64, for timesteps t >= 1.

        ``beta~_t + m_t`` with ``m_t = E||mu_q - mu_theta||^2 / D`` fitted on the training data:
        the isotropic variance that minimises the expected KL term (Bao et al. 2022,
        "Analytic-DPM", theorem 1); at t = 1 ``beta~_1 = 0`` and the decoder's variance is
        ``m_1`` alone. Unfitted (``m_t = 0``) these are the sampler's ``beta~_t``, and ``beta_1``.
        """
        abar, abar_prev, beta = self.alphas_cumprod[t], self.alphas_cumprod[t - 1], self.betas[t]
        mse = self._mse_table().detach().to("cpu", torch.float64)[t]
        unfitted_first = (t == 1) & (mse <= 0)
        floor = torch.where(unfitted_first, beta, beta * (1 - abar_prev) / (1 - abar))
        out: Tensor = floor + mse
        return out

    def decoder_std(self) -> float:
        """The standard deviation of ``p(x_0 | x_1)``, the bound's last term (``L_0``)."""
        return math.sqrt(float(self.reverse_variance(torch.ones(1, dtype=torch.int64))))

    def _kl_term(self, x0: Tensor, t: Tensor, eps: Tensor, condition: Tensor | None) -> Tensor:
        """L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t)) per row, nats. (B,)"""
        view = (-1, *([1] * (x0.dim() - 1)))
        a = self.alphas_cumprod[t].reshape(view).to(x0)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps.double()
        mu_q, var_q = self._q_posterior(x0, xt, t)
        var_p = self.reverse_variance(t).reshape(view).to(x0)
        mu_p = self._posterior_mean(xt, t, condition)
        ratio = (var_q / var_p).flatten()  # (B,) the same in every dimension
        spread = 0.5 * x0[0].numel() * (ratio - 1 - ratio.log())  # 0 when var_p = var_q
        return spread + (0.5 * (mu_q - mu_p) ** 2 / var_p).flatten(1).sum(1)

    @torch.no_grad()
    def fit_reverse_variances(self, x0: Tensor, labels: Tensor | None, *, rows: int = 512,
                              seed: int = 0) -> Tensor:
        """Estimate ``m_t = E||mu_q - mu_theta(x_t, t, c)||^2 / D`` for t = 1..T and store it.

        ``x0`` is training data in diffusion space ``(N, *shape)``; every t sees ``rows``
        examples (cycling through the data, a fresh slice per t) with noise from keyed
        streams, so the fit is deterministic. Bao et al. 2022 (Analytic-DPM) estimate the
        same moment by Monte Carlo on training data. Returns the fitted ``(T+1,)`` table.
        """
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise InvalidArgumentError("fit_reverse_variances() rows", value=rows,
                                       allowed="an int >= 1", fix="Pass rows=512 (the default)")
        if x0.ndim < 1 or x0.shape[0] == 0 or tuple(x0.shape[1:]) != self.shape:
            raise InputError("fit_reverse_variances() x0 shape", value=tuple(x0.shape),
                             allowed=f"(N >= 1, {', '.join(map(str, self.shape))})",
                             fix="Pass training data in diffusion space (model.to_model_space(x))")
        was_training = self.net.training
        self.net.eval()
        n = x0.shape[0]
        mse = torch.zeros(self.timesteps + 1, dtype=torch.float64)
        for step in range(1, self.timesteps + 1):
            first = (step - 1) * rows
            idx = torch.arange(first, first + rows) % n
            streams = KeyedStreams.for_range(seed, first, first + rows).fork("variance")
            eps = streams.normal(*self.shape).to(self.device).double()  # (rows, *shape)
            x = x0[idx].to(self.device).double()
            t = torch.full((rows,), step, dtype=torch.int64)
            a = float(self.alphas_cumprod[step])
            xt = a**0.5 * x + (1 - a) ** 0.5 * eps
            y = None if labels is None else labels[idx].to(self.device)
            mu_q = self._q_posterior(x, xt, t)[0]
            mse[step] = float(((self._posterior_mean(xt, t, y) - mu_q) ** 2).mean())
        table = self._mse_table()
        table.copy_(mse.to(table.device))
        self.net.train(was_training)
        return mse

    def on_training_end(self) -> None:
        """After the last step: fit the bound's reverse variances on the training data."""
        data = self.training_data()
        self.fit_reverse_variances(self.to_model_space(data.x), data.y)

    # -- training (genproto.training.Trainable) ----------------------------------------------

    def training_data(self) -> Dataset:
        raise NotImplementedError

    def training_defaults(self) -> TrainSettings:
        raise NotImplementedError

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        self._settings = settings
        self.net.train()
        self._optimizer = torch.optim.Adam(self.net.parameters(), lr=settings.lr)
        return {"adam": self._optimizer}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizer = require_setup(self._optimizer, model=self.name)
        settings = require_setup(self._settings, model=self.name)
        x0 = self.to_model_space(batch.x)  # (B, *shape) in diffusion space
        b = x0.shape[0]
        # 1. t ~ U{1..T}, eps ~ N(0, I), and label dropout, all from the examples' streams.
        t = batch.streams.randint(self.timesteps).reshape(b) + 1  # (B,)
        eps = batch.streams.normal(*self.shape).to(x0)  # (B, *shape)
        y = batch.y
        if y is not None:
            drop = batch.streams.uniform().reshape(b).to(x0.device) < LABEL_DROPOUT
            y = torch.where(drop, torch.full_like(y, CLASSES), y)
        # 2. x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (Ho et al. eq. 4).
        view = (b, *([1] * len(self.shape)))
        a = self.sqrt_alphas_cumprod[t].to(x0).reshape(view)
        s = self.sqrt_one_minus_alphas_cumprod[t].to(x0).reshape(view)
        xt = a * x0 + s * eps
        # 3. L_simple = ||eps - eps_theta(x_t, t, y)||^2 (Ho et al. eq. 14).
        self.net.train()
        loss = F.mse_loss(self.net(xt, t.to(x0.device).float(), y), eps)
        # 4. Adam at a learning rate warmed up over 200 steps, then cosine-decayed to 0.
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps, warmup=200)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimizer.step()
        if batch.step + 1 == settings.steps:
            self.on_training_end()
        return {"loss": float(loss.detach())}

    def training_report(self) -> Mapping[str, float]:
        return {}


class DigitsDiffusion(Diffusion):
    """Class-conditional diffusion on the 8x8 digits (17 levels scaled to [-1, 1])."""

    clip: ClassVar[float] = 1.0  # the data lie in [-1, 1]
    likelihood_options: tuple[Option, ...] = (
        Option("terms", int, 100,
               "terms L_{t-1}, t = 2..T, evaluated (stratified draw; T-1 sums them all)",
               minimum=1, maximum=999),
    )

    def __init__(self, hidden: int = 256, blocks: int = 3, init_seed: int = 0) -> None:
        with seeded_init(init_seed):
            net = Denoiser(64, hidden, blocks, CLASSES)
        super().__init__(capabilities("digits", self.NUM_TIMESTEPS), net, init_seed=init_seed)

    @property
    def shape(self) -> tuple[int, ...]:
        return (64,)

    def to_model_space(self, x: Tensor) -> Tensor:
        return (x.float() / 8.0 - 1.0).reshape(-1, 64).to(self.device)  # (B, 64)

    def to_events(self, x: Tensor) -> Tensor:
        return torch.round((x.reshape(-1, 8, 8) + 1.0) * 8.0).clamp(0, 16).long()  # (B, 8, 8)

    def training_data(self) -> Dataset:
        return load_digits("train")

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=20_000, batch_size=128, lr=1e-3, seed=0, save_every=5000,
                             report_every=5000)

    def training_report(self) -> Mapping[str, float]:
        from genproto.metrics import conditional_accuracy

        labels = torch.arange(200) % CLASSES
        samples = self.sample(200, condition=labels, seed=0, steps=20)
        return {"accuracy@20": conditional_accuracy(samples, labels)}

    def log_likelihood_batch(self, x: Tensor, condition: Tensor | None, streams: KeyedStreams,
                             **options: Any) -> Tensor:
        """A lower bound on log P(x | c) in nats: ``-(L_T + sum_{t=2}^T L_{t-1} + L_0)``.

        The first two terms are :meth:`Diffusion.bound_terms` (``terms`` stratified terms);
        ``L_0 = -log p(x_0|x_1)`` is a Gaussian of variance ``reverse_variance(1)`` integrated
        over each
        level's bin of width 2/16 (the end bins reach to infinity): Ho et al. section 3.3.
        """
        x0 = self.to_model_space(x).double()  # (B, 64)
        total, mean = self.bound_terms(x0, condition, streams, int(options["terms"]))
        # L_0: the discretised Gaussian decoder at t = 1.
        total = total - _discretised_gaussian_log_likelihood(x0, mean, self.decoder_std())
        nats: Tensor = (-total).float()
        return nats


def _discretised_gaussian_log_likelihood(x0: Tensor, mean: Tensor, std: float) -> Tensor:
    """log of N(mean, std^2) integrated over each pixel's level bin, summed per image. (B,)"""
    half = 1.0 / 16.0  # half of a level's width 2/16 in [-1, 1] units
    upper = torch.where(x0 > 1 - 1e-6, torch.full_like(x0, math.inf), (x0 + half - mean) / std)
    lower = torch.where(x0 < -1 + 1e-6, torch.full_like(x0, -math.inf), (x0 - half - mean) / std)
    # log(Phi(upper) - Phi(lower)), computed in the tail that keeps precision.
    flip = (upper + lower) > 0  # mass mostly on the upper side: use Phi(-lower) - Phi(-upper)
    hi = torch.where(flip, -lower, upper)
    lo = torch.where(flip, -upper, lower)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    log_p = log_hi + torch.log(-torch.expm1((log_lo - log_hi).clamp(max=-1e-300)))
    per_image: Tensor = log_p.flatten(1).sum(1)
    return per_image


class ToyDiffusion(Diffusion):
    """Unconditional diffusion on a toy 2-D density; likelihood by the probability-flow ODE."""

    likelihood_options: tuple[Option, ...] = (
        Option("ode_steps", int, 48, "fixed RK4 steps of the probability-flow ODE",
               minimum=1, maximum=10_000),
    )

    def __init__(self, dataset: str = "eight_gaussians", hidden: int = 128, blocks: int = 3,
                 init_seed: int = 0) -> None:
        toy2d(dataset)  # raises on an unknown name
        self.dataset = dataset
        with seeded_init(init_seed):
            net = Denoiser(2, hidden, blocks, None)
        super().__init__(capabilities(dataset, self.NUM_TIMESTEPS), net, init_seed=init_seed)

    @property
    def shape(self) -> tuple[int, ...]:
        return (2,)

    def to_model_space(self, x: Tensor) -> Tensor:
        return (x.float() / TOY_SCALE).to(self.device)

    def to_events(self, x: Tensor) -> Tensor:
        return x * TOY_SCALE

    def training_data(self) -> Dataset:
        return load_toy2d(self.dataset, n=20_000, seed=0)

    def eps(self, x: Tensor, t: Tensor, condition: Tensor | None, guidance: float = 1.0) -> Tensor:
        """eps_theta on :func:`padded_rows` rows (zeros pad the batch).

        CPU matrix products take another kernel for a call of a few rows than for a large one,
        and 50 DDIM steps on the sharp grid25 modes amplified that rounding difference to 4e-3
        (1 and 2 rows against 300). The sampler pads its own calls (:meth:`Diffusion._step_eps`);
        this pads the others (:meth:`score`, the bound's reverse means). A call's rows are
        counted up to the batch's, so padding is never counted.
        """
        rows = x.shape[0]
        pad = padded_rows(rows) - rows
        if not pad or condition is not None:
            return super().eps(x, t, condition, guidance)
        padded = super().eps(torch.cat([x, x.new_zeros(pad, *x.shape[1:])]),
                             torch.cat([t, t.new_zeros(pad)]), condition, guidance)
        return padded[:rows]

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=TOY_TRAIN_STEPS.get(self.dataset, 6000), batch_size=256,
                             lr=2e-3, seed=0, save_every=2000, report_every=2000)

    def _t_of(self, sigmabar: float) -> float:
        """Continuous timestep with sqrt((1 - abar) / abar) = sigmabar (inverse of eq. 17)."""
        s, f0 = 0.008, math.cos(0.008 / 1.008 * math.pi / 2) ** 2
        abar = 1.0 / (1.0 + sigmabar**2)
        u = (1 + s) * 2 / math.pi * math.acos(math.sqrt(abar * f0)) - s
        return u * self.timesteps

    def log_likelihood_batch(self, x: Tensor, condition: Tensor | None, streams: KeyedStreams,
                             **options: Any) -> Tensor:
        """An estimate of log p(x) in nats by the probability-flow ODE (no random numbers).

        In DDIM's variables ``xbar = x / sqrt(abar)`` and ``s = log sigmabar`` the ODE is
        ``d xbar / ds = sigmabar eps_theta(sqrt(abar) xbar, t(s))``; integrating it from
        ``sigmabar(t=1)`` (where the data density is barely blurred) to ``sigmabar = 50``
        (where xbar is ~ N(0, (1 + sigmabar^2) I), the prior) with fixed-step RK4 gives
        ``log p_0(x) = log prior(xbar_1) + int div f ds``, the divergence exact by autograd.
        """
        n_steps = int(options["ode_steps"])
        abar1 = float(self.alphas_cumprod[1])
        s0, s1 = math.log(math.sqrt((1 - abar1) / abar1)), math.log(50.0)
        h = (s1 - s0) / n_steps
        with torch.inference_mode(False), torch.enable_grad():
            z = self.to_model_space(x).clone().double()  # (B, 2) xbar at s0
            logdet = torch.zeros(z.shape[0], dtype=torch.float64, device=z.device)
            for i in range(n_steps):
                s = s0 + i * h
                k1, d1 = self._field(z, s)
                k2, d2 = self._field(z + h / 2 * k1, s + h / 2)
                k3, d3 = self._field(z + h / 2 * k2, s + h / 2)
                k4, d4 = self._field(z + h * k3, s + h)
                z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
                logdet = logdet + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)
            var = 1.0 + math.exp(2 * s1)
            prior = -0.5 * (z**2).sum(1) / var - math.log(2 * math.pi * var)  # log N(0, var I_2)
            out = prior + logdet - 2 * math.log(TOY_SCALE)
        return out.float().detach()

    def _field(self, z: Tensor, s: float) -> tuple[Tensor, Tensor]:
        """f(xbar, s) = sigmabar eps_theta(x, t) and its exact divergence (2 backward passes)."""
        sigmabar = math.exp(s)
        scale = 1.0 / math.sqrt(1.0 + sigmabar**2)  # sqrt(abar)
        t = torch.full((z.shape[0],), self._t_of(sigmabar), device=z.device)
        zin = z.detach().float().requires_grad_(True)
        eps = self.net(zin * scale, t)  # (B, 2)
        div = torch.zeros(z.shape[0], device=z.device)
        for d in range(2):
            (grad,) = torch.autograd.grad(eps[:, d].sum(), zin, retain_graph=d == 0)
            div = div + grad[:, d]
        return (sigmabar * eps).detach().double(), (sigmabar * div).detach().double()


def build(dataset: str = "digits", hidden: int | None = None, blocks: int | None = None,
          init_seed: int = 0) -> Diffusion:
    """The factory behind ``genproto.registry.get("diffusion", **options)``: the digits model,
    or a toy 2-D one; ``None`` sizes are the data's defaults (256 or 128 hidden, 3 blocks)."""
    if dataset == "digits":
        return DigitsDiffusion(hidden=hidden or 256, blocks=blocks or 3, init_seed=init_seed)
    return ToyDiffusion(dataset=dataset, hidden=hidden or 128, blocks=blocks or 3,
                        init_seed=init_seed)
