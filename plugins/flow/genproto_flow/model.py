"""A RealNVP/Glow-style coupling flow: genproto's flow paradigm in one file.

Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP" (ICLR) -- affine coupling
layers, the logit pre-processing of bounded data (their section 4.1); Kingma & Dhariwal 2018,
"Glow: Generative Flow with Invertible 1x1 Convolutions" (NeurIPS) -- actnorm, an invertible
linear mixing in LU form (their section 3.2, eq. 10), zero-initialised coupling outputs and
sampling at a reduced temperature; Theis, van den Oord & Bethge 2016, "A note on the evaluation
of generative models" (ICLR) -- uniform dequantisation; Ho, Chen, Srinivas, Duan & Abbeel 2019,
"Flow++" (ICML) and Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders" (ICLR)
-- the importance-weighted dequantisation bound.

The flow f maps data h to noise z through ``depth`` steps, each (Glow figure 2)::

    actnorm:     h <- (h + b) * exp(a)                          log|det| = sum(a)
    mixing:      h <- W h,  W = P L (U + diag(sign * exp(v)))   log|det| = sum(v)
    coupling:    h = [h1, h2];  (r, t) = NN(h1, c)              (RealNVP eq. 7-9)
                 log s = 2 tanh(r / 2);  h2 <- h2 * exp(log s) + t,   log|det| = sum(log s)

then z = (h - mu_c) * exp(-sigma_c) against a class-conditional base N(mu_c, diag exp(2 sigma_c)),
so by the change of variables (RealNVP eq. 3)::

    log p(h | c) = log N(z; 0, I) + sum over layers of log|det J| - sum(sigma_c).

Sampling is one inverse pass (a single network evaluation): eps ~ N(0, I), z = s eps with the
latent scale s (Glow's "temperature"), h = f^{-1}(z; c). Every random number -- the
dequantisation noise in training and in the bound, the sampling noise -- comes from genproto's
keyed streams.

**Toy 2-D densities** (``dataset="eight_gaussians"`` ...): the flow acts on the point itself,
unconditionally, and ``log_likelihood`` is the exact log-density.

**Digits** (64 pixels, integer levels 0..16): a density on integers is meaningless, so the flow
models y = (x + u) / 17 in [0, 1)^64 with u ~ U[0, 1)^64 (uniform dequantisation) after the logit
map s = logit(alpha + (1 - 2 alpha) y), alpha = 0.05, whose log-Jacobian is included. The
discrete model is P(x | c) = integral of p_y over the cell of x (volume 17^-64), so::

    log P(x | c) = log E_u[p_y((x + u)/17 | c) 17^-64]
                >= log (1/k) sum_i p_y((x + u_i)/17 | c) 17^-64 on average   (Jensen; Burda th. 1)

``log_likelihood(x, k=k)`` returns that bound: Likelihood.BOUND, tighter (on average) with k.
Samples map back to levels by floor(17 y), clamped to 0..16 (docs/plugins/flow.md derives why
the bound also holds for the sampled levels' distribution).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genproto.data import DIGITS_EVENT, TOY2D_EVENT, TOY2D_NAMES, Dataset, load_digits, load_toy2d
from genproto.errors import ConditionError, InvalidArgumentError, OptionError
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import Capabilities, ConditionSpec, Likelihood, Paradigm, SampleCost
from genproto.streams import KeyedStreams
from genproto.training import (
    Batch,
    TrainSettings,
    held_out_bits_per_dim,
    require_setup,
    seeded_init,
    warmup_cosine,
)

__all__ = [
    "DATASETS", "PRETRAINED", "CouplingFlow", "FlowNet", "FlowStep", "capabilities", "sizes",
]

DATASETS: tuple[str, ...] = ("digits", *TOY2D_NAMES)
#: The configurations with shipped weights (``weights/<dataset>``), at their default sizes.
PRETRAINED: tuple[str, ...] = ("digits", "eight_gaussians", "grid25", "two_moons")
LEVELS = 17  # grey levels 0..16 of a digit pixel
CLASSES = 10
ALPHA = 0.05  # logit margin (RealNVP section 4.1)
SCALE_CLAMP = 2.0  # |log s| < 2 in every coupling (a tanh-bounded scale)
#: Default (depth, hidden) per kind of data.
DIGITS_SIZES = (8, 128)
TOY_SIZES = (8, 64)
#: Toy densities that need a larger flow: the 5x5 grid's 25 separated modes take 12 steps of
#: 128 units and 8,000 training steps (KL to the truth 0.73 nats, precision 0.65; at the default
#: size one held-out point between two modes alone made the KL estimate 924 +- 922 nats).
TOY_OVERRIDES: dict[str, tuple[int, int]] = {"grid25": (12, 128)}
TOY_TRAIN_STEPS: dict[str, int] = {"grid25": 8000}
#: Default latent scale on digits (Glow section 5: reduced-temperature samples).
DIGITS_LATENT_SCALE = 0.8
MAX_LATENT_SCALE = 10.0  # beyond this the inverse pass leaves the range it was trained on
MAX_IMPORTANCE_SAMPLES = 10_000  # k network passes per row: 10^4 is seconds, 10^6 was minutes
INIT_SEED = 0
DEQUANT_CHUNK = 16  # dequantisation samples drawn per stream draw (results never depend on it)
WARMUP = 200  # learning-rate warm-up steps
#: Dropout rate of the coupling networks' hidden units when training on digits (toy 2-D: none).
DIGITS_DROPOUT = 0.3


def sizes(dataset: str, depth: int | None = None, hidden: int | None = None) -> tuple[int, int]:
    """(depth, hidden) for ``dataset``, with ``None`` meaning the dataset's default."""
    default = DIGITS_SIZES if dataset == "digits" else TOY_OVERRIDES.get(dataset, TOY_SIZES)
    return (default[0] if depth is None else depth, default[1] if hidden is None else hidden)


def capabilities(dataset: str = "digits") -> Capabilities:
    """What a coupling flow on ``dataset`` declares."""
    digits = dataset == "digits"
    return Capabilities(
        paradigms=(Paradigm.FLOW,),
        likelihood=Likelihood.BOUND if digits else Likelihood.EXACT,
        cost=SampleCost.single_pass(),
        event=DIGITS_EVENT if digits else TOY2D_EVENT,
        condition=ConditionSpec(CLASSES, "digit class") if digits else None,
        objective="maximum likelihood of uniformly dequantised, logit-transformed digits "
        "(a lower bound on the discrete log-likelihood)" if digits
        else "exact maximum likelihood by the change of variables",
        sampling=f"eps ~ N(0, I), one inverse pass of the flow at latent scale "
        f"{DIGITS_LATENT_SCALE} (default), then sigmoid and floor(17 y) to levels" if digits
        else "eps ~ N(0, I), one inverse pass of the flow",
    )


class ActNorm(nn.Module):
    """Per-dimension affine map (Glow section 3.1), initialised to the identity."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(dims))
        self.log_scale = nn.Parameter(torch.zeros(dims))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (h + self.shift) * self.log_scale.exp(), self.log_scale.sum().expand(h.shape[0])

    def inverse(self, h: torch.Tensor) -> torch.Tensor:
        return h * (-self.log_scale).exp() - self.shift


class InvertibleLinear(nn.Module):
    """h -> W h with W = P L (U + diag(sign * exp(v))) (Glow section 3.2, LU form, eq. 10).

    The 1x1 convolution of Glow on a vector: a learned mixing of all dimensions, initialised to
    a random rotation (from the seeded initialisation), with log|det W| = sum(v).
    """

    perm: torch.Tensor
    sign: torch.Tensor
    lower_mask: torch.Tensor

    def __init__(self, dims: int) -> None:
        super().__init__()
        rotation, _ = torch.linalg.qr(torch.randn(dims, dims))  # (D, D) orthogonal
        perm, lower, upper = torch.linalg.lu(rotation)
        diag = upper.diagonal()
        self.register_buffer("perm", perm)
        self.register_buffer("sign", diag.sign())
        self.register_buffer("lower_mask", torch.tril(torch.ones(dims, dims), -1))
        self.lower = nn.Parameter(lower * self.lower_mask)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_diag = nn.Parameter(diag.abs().log())

    def weight(self) -> torch.Tensor:
        eye = torch.eye(self.lower.shape[0], device=self.lower.device)
        lower = self.lower * self.lower_mask + eye  # (D, D) unit lower triangular
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * self.log_diag.exp())
        out: torch.Tensor = self.perm @ lower @ upper  # (D, D)
        return out

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return h @ self.weight().T, self.log_diag.sum().expand(h.shape[0])

    def inverse(self, h: torch.Tensor) -> torch.Tensor:
        inverse: torch.Tensor = torch.linalg.inv(self.weight())  # (D, D)
        return h @ inverse.T


class Coupling(nn.Module):
    """Affine coupling (RealNVP eq. 7-9): the second part is scaled and shifted by a network of
    the first part and the class one-hot; the network's last layer starts at zero (Glow 3.3).

    ``keep`` (training only): per-example multiplicative dropout masks (B, 2, hidden) of the two
    hidden layers (Srivastava et al. 2014), drawn by the caller from the keyed streams.
    """

    def __init__(self, dims: int, n_c: int, hidden: int) -> None:
        super().__init__()
        self.split = dims // 2
        rest = dims - self.split
        self.inp = nn.Linear(self.split + n_c, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2 * rest)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _scale_shift(
        self, h1: torch.Tensor, c: torch.Tensor | None, keep: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a = h1 if c is None else torch.cat([h1, c], dim=-1)  # (B, D/2 + C)
        a = F.silu(self.inp(a))  # (B, H)
        a = a if keep is None else a * keep[:, 0]
        a = F.silu(self.mid(a))  # (B, H)
        a = a if keep is None else a * keep[:, 1]
        raw, shift = self.out(a).chunk(2, dim=-1)  # (B, D/2) each
        return SCALE_CLAMP * torch.tanh(raw / SCALE_CLAMP), shift

    def forward(
        self, h: torch.Tensor, c: torch.Tensor | None, keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h1, h2 = h[:, : self.split], h[:, self.split :]
        log_s, shift = self._scale_shift(h1, c, keep)
        return torch.cat([h1, h2 * log_s.exp() + shift], dim=-1), log_s.sum(-1)

    def inverse(self, h: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        h1, h2 = h[:, : self.split], h[:, self.split :]
        log_s, shift = self._scale_shift(h1, c, None)
        return torch.cat([h1, (h2 - shift) * (-log_s).exp()], dim=-1)


class FlowStep(nn.Module):
    """One step of flow (Glow figure 2a): actnorm, invertible linear mixing, affine coupling."""

    def __init__(self, dims: int, n_c: int, hidden: int) -> None:
        super().__init__()
        self.norm = ActNorm(dims)
        self.mix = InvertibleLinear(dims)
        self.coupling = Coupling(dims, n_c, hidden)

    def forward(
        self, h: torch.Tensor, c: torch.Tensor | None, keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, ld_norm = self.norm(h)  # (B, D), (B,)
        h, ld_mix = self.mix(h)
        h, ld_coupling = self.coupling(h, c, keep)
        return h, ld_norm + ld_mix + ld_coupling

    def inverse(self, h: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return self.norm.inverse(self.mix.inverse(self.coupling.inverse(h, c)))


class FlowNet(nn.Module):
    """The whole flow as one module: ``forward`` is the generative (inverse) pass -- the one
    network evaluation a sample costs -- and :meth:`to_latent` the density direction."""

    def __init__(self, dims: int, classes: int, depth: int, hidden: int) -> None:
        super().__init__()
        self.dims, self.classes = dims, classes
        self.steps = nn.ModuleList(FlowStep(dims, classes, hidden) for _ in range(depth))
        rows = max(classes, 1)
        self.base_mean = nn.Parameter(torch.zeros(rows, dims))  # mu_c
        self.base_log_scale = nn.Parameter(torch.zeros(rows, dims))  # sigma_c

    def _steps(self) -> list[FlowStep]:
        return [step for step in self.steps if isinstance(step, FlowStep)]

    def _condition(
        self, labels: torch.Tensor | None, n: int
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(one-hot or None, base-row index) for a batch of n."""
        if self.classes == 0:
            return None, torch.zeros(n, dtype=torch.int64, device=self.base_mean.device)
        if labels is None:
            raise ConditionError("the conditional flow needs the class here", value=None,
                                 allowed=f"labels in 0..{self.classes - 1}",
                                 fix="Pass condition=<digit class>")
        return F.one_hot(labels, self.classes).float(), labels

    def to_latent(
        self, h: torch.Tensor, labels: torch.Tensor | None, keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z = f(h) standardised by the class base, and log|det df/dh| per row: (B, D), (B,).

        ``keep``: dropout masks (B, depth, 2, hidden) for training, else None.
        """
        onehot, rows = self._condition(labels, h.shape[0])
        logdet = torch.zeros(h.shape[0], device=h.device)
        for i, step in enumerate(self._steps()):
            h, ld = step(h, onehot, None if keep is None else keep[:, i])  # (B, D), (B,)
            logdet = logdet + ld
        log_scale = self.base_log_scale[rows]  # (B, D)
        z = (h - self.base_mean[rows]) * (-log_scale).exp()
        return z, logdet - log_scale.sum(-1)

    def log_prob(
        self, h: torch.Tensor, labels: torch.Tensor | None, keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log p(h | c) by the change of variables (RealNVP eq. 3), (B,)."""
        z, logdet = self.to_latent(h, labels, keep)
        return -0.5 * (z**2).sum(-1) - 0.5 * self.dims * math.log(2 * math.pi) + logdet

    def forward(
        self, eps: torch.Tensor, labels: torch.Tensor | None, latent_scale: float = 1.0
    ) -> torch.Tensor:
        """h = f^{-1}(s eps; c): the generative pass, (B, D) -> (B, D)."""
        onehot, rows = self._condition(labels, eps.shape[0])
        h = self.base_mean[rows] + self.base_log_scale[rows].exp() * (latent_scale * eps)
        for step in reversed(self._steps()):
            h = step.inverse(h, onehot)  # (B, D)
        return h


def _logit(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """s = logit(alpha + (1 - 2 alpha) y) and log|ds/dy| summed per row (RealNVP 4.1)."""
    p = ALPHA + (1 - 2 * ALPHA) * y  # (B, D) in (alpha, 1 - alpha)
    s = p.log() - torch.log1p(-p)
    logdet = (math.log(1 - 2 * ALPHA) - p.log() - torch.log1p(-p)).sum(-1)
    return s, logdet


class CouplingFlow(Model):
    """A coupling flow: exact maximum likelihood, exact log-density (toy 2-D) or a dequantised
    lower bound (digits), one inverse pass per sample."""

    sample_options = (
        Option("latent_scale", float, None, "scale s of the base noise z = s eps; default 1.0 "
               f"on toy 2-D (samples follow the exact density), {DIGITS_LATENT_SCALE} on digits "
               "(Glow's reduced temperature)", minimum=0.0, exclusive_minimum=True,
               maximum=MAX_LATENT_SCALE, nullable=True),
    )
    likelihood_options = (
        Option("k", int, 1, "dequantisation samples u_1..u_k of the importance-weighted bound "
               "(digits only; 1 = the plain dequantisation bound)", minimum=1,
               maximum=MAX_IMPORTANCE_SAMPLES),
    )

    def __init__(
        self, *, dataset: str = "digits", depth: int | None = None, hidden: int | None = None
    ) -> None:
        if dataset not in DATASETS:
            raise InvalidArgumentError("flow dataset", value=dataset, allowed=" | ".join(DATASETS))
        super().__init__(capabilities(dataset), name="flow")
        self.dataset = dataset
        self.digits = dataset == "digits"
        self.depth, self.hidden = sizes(dataset, depth, hidden)
        self.dims = self.capabilities.event.dimension  # D: 64 pixels or 2 coordinates
        self.flow = self._fresh_network()
        self._optimizer: torch.optim.Optimizer | None = None
        self._settings: TrainSettings | None = None

    def _fresh_network(self) -> FlowNet:
        with seeded_init(INIT_SEED):
            net = FlowNet(self.dims, CLASSES if self.digits else 0, self.depth, self.hidden)
        return net.to(self.device)

    def networks(self) -> Mapping[str, nn.Module]:
        return {"flow": self.flow}

    # -- the maths ------------------------------------------------------------------------

    def log_density(
        self, y: torch.Tensor, labels: torch.Tensor | None, keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log p(y | c) of a continuous point: y in (0, 1)^64 (digits, through the logit map)
        or a toy 2-D point, (B, D) -> (B,). Exact by the change of variables."""
        if not self.digits:
            return self.flow.log_prob(y, labels, keep)
        s, logdet = _logit(y)
        return self.flow.log_prob(s, labels, keep) + logdet

    def _log_weights(
        self, x: torch.Tensor, labels: torch.Tensor | None, u: torch.Tensor,
        keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """log w = log p_y((x + u)/17 | c) - D log 17 for levels x (B, D) and noise u (B, k, D):
        the integrand of P(x | c) over the cell of x, per dequantisation sample, (B, k)."""
        b, k, d = u.shape
        y = (x[:, None, :].float() + u) / LEVELS  # (B, k, D) in (0, 1)
        rep = None if labels is None else labels.repeat_interleave(k)
        log_p = self.log_density(y.reshape(b * k, d), rep, keep).reshape(b, k)
        return log_p - d * math.log(LEVELS)

    def sample_batch(
        self, streams: KeyedStreams, condition: torch.Tensor | None, **options: Any
    ) -> torch.Tensor:
        scale = options.get("latent_scale")
        if scale is None:
            scale = DIGITS_LATENT_SCALE if self.digits else 1.0
        # 1. eps ~ N(0, I) from each sample's stream
        eps = streams.normal(self.dims).to(self.device)  # (B, D)
        # 2. the one network evaluation: h = f^{-1}(s eps; c)
        h: torch.Tensor = self.flow(eps, condition, scale)  # (B, D)
        if not self.digits:
            return h
        # 3. back through the logit map to y in [0, 1), then to the level whose cell holds y
        y = (torch.sigmoid(h) - ALPHA) / (1 - 2 * ALPHA)  # (B, 64)
        levels = torch.floor(y * LEVELS).clamp(0, LEVELS - 1).long()
        return levels.reshape(-1, *self.capabilities.event.shape)  # (B, 8, 8)

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: torch.Tensor | None, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor:
        k: int = options.get("k", 1)
        if not self.digits:
            if k != 1:
                raise OptionError(f"{self.name!r} likelihood option 'k' on {self.dataset!r}",
                                  option="k", value=k, allowed="1 (the toy likelihood is "
                                  "exact; k counts dequantisation samples of the digits' bound)")
            return self.log_density(x.float(), condition)
        flat = x.reshape(x.shape[0], -1)  # (B, 64) levels
        draws = streams.fork("dequantise")
        log_w = []
        for first in range(0, k, DEQUANT_CHUNK):
            c = min(DEQUANT_CHUNK, k - first)
            u = draws.uniform(c, self.dims).to(self.device)  # (B, c, 64) in (0, 1)
            log_w.append(self._log_weights(flat, condition, u))
        # log (1/k) sum_i w_i (Burda et al. eq. 8 with q = U[0,1)^D, so w_i = p(x, u_i))
        return torch.logsumexp(torch.cat(log_w, dim=1), dim=1) - math.log(k)  # (B,)

    def bytes_per_sample(self, **options: Any) -> int:
        return 4 * 4 * (3 * self.hidden + 8 * self.dims)

    # -- training (genproto.training.Trainable) -------------------------------------------

    def training_data(self) -> Dataset:
        return load_digits("train") if self.digits else load_toy2d(self.dataset)

    def training_defaults(self) -> TrainSettings:
        if self.digits:
            return TrainSettings(steps=4000, batch_size=128, lr=1e-3, seed=0,
                                 save_every=1000, report_every=4000)
        return TrainSettings(steps=TOY_TRAIN_STEPS.get(self.dataset, 3000), batch_size=256,
                             lr=2e-3, seed=0, save_every=1000, report_every=1000)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        """AdamW on the flow, restarted from the seeded initialisation (so
        ``genproto train flow -o DIR`` reproduces the shipped weights)."""
        self._settings = settings
        self.flow.load_state_dict(self._fresh_network().state_dict())
        decay = 1e-4 if self.digits else 0.0
        self._optimizer = torch.optim.AdamW(self.flow.parameters(), lr=settings.lr,
                                            weight_decay=decay)
        self.flow.train()
        return {"adamw": self._optimizer}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizer = require_setup(self._optimizer, model=self.name)
        settings = require_setup(self._settings, model=self.name)
        # Linear warm-up, over a cosine decay to zero that spans the whole run.
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps, warmup=WARMUP,
                           cosine_from=0)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # 1. dropout masks of the coupling networks, keyed by example
        keep, rate = None, DIGITS_DROPOUT if self.digits else 0.0
        if rate > 0:
            draw = batch.streams.uniform(self.depth, 2, self.hidden).to(self.device)
            keep = (draw >= rate).float() / (1 - rate)  # (B, depth, 2, H)
        if self.digits:
            # 2. one dequantisation sample per example, keyed by example: the bound with k = 1
            u = batch.streams.uniform(1, self.dims).to(self.device)  # (B, 1, 64)
            flat = batch.x.reshape(batch.x.shape[0], -1)
            objective = self._log_weights(flat, batch.y, u, keep)[:, 0]  # (B,)
        else:
            objective = self.log_density(batch.x.float(), None, keep)  # (B,)
        # 3. maximum likelihood: minimise the negative log-likelihood in bits per dimension
        loss = -objective.mean() / (self.dims * math.log(2))
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        norm = nn.utils.clip_grad_norm_(self.flow.parameters(), 50.0)
        optimizer.step()
        return {"nll_bpd": float(loss.detach()), "grad_norm": float(norm)}

    def training_report(self) -> Mapping[str, float]:
        if not self.digits:
            return {}
        return {"test_bound_bpd": held_out_bits_per_dim(self, load_digits("test"))}
