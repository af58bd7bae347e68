"""Sampling ``torch.distributions`` objects from the keyed streams: one object, draws and density.

A plugin that describes its model with a ``torch.distributions`` object wants the same object for
``sample_batch`` (draws) and ``log_likelihood_batch`` (``dist.log_prob``), so that the sampler and
the density cannot drift apart. ``dist.sample()`` and ``dist.rsample()`` are off limits (they read
torch's global generator, so sample ``i`` would depend on the batch and on what ran before);
:func:`draw` computes the same transformations from keyed numbers instead::

    x = draw(streams, dist)                  # (B, *event) like dist.expand((B,)).sample()
    z = draw(streams, q, (k,))               # (k, B, *event): k draws per sample (e.g. IWAE)
    log_q = q.log_prob(z)                    # (k, B): the same object scores its own draws

**Shapes.** The distribution's first batch dimension is the streams' sample dimension: a
``batch_shape`` of ``(B, ...)`` with ``B = len(streams)`` draws row ``b``'s parameters from sample
``b``'s stream; a ``batch_shape`` of ``()`` is broadcast to ``(B,)``; anything else is an
:class:`~genproto.errors.InvalidArgumentError` (``dist.expand((B, ...))`` it, or wrap trailing
batch dimensions in ``Independent``). The result has torch's layout, ``(*sample_shape, B, ...,
*event_shape)``, so ``dist.log_prob(x)`` broadcasts; sample ``b``'s ``prod(sample_shape)`` draws are
laid out in row-major order of ``(*sample_shape, ..., *event)``, drawn in one keyed call each.

**Keyed and batch-invariant.** Every family below makes the same keyed draws, with the same
per-sample shapes, for every sample, so draw ``b`` depends only on (seed, fork names, index of
``b``, position), never on the batch size or the device; nothing reads or changes a global RNG.
The arithmetic on the keyed numbers is elementwise or per event, so draws are bitwise the same in
any batch, with two exceptions within about 1e-7: the matmul of the multivariate normals (BLAS
may block by batch size), and torch's ``SigmoidTransform`` inside a TransformedDistribution
(RelaxedBernoulli, LogisticNormal), whose vector and scalar CPU kernels differ by an ulp.
The draws advance the streams' position like the keyed calls they are made of (listed below), so
draw from a :meth:`~genproto.streams.KeyedStreams.fork` when the draw's size may change
(``draw(streams.fork("prior"), prior)``).

Families and methods (noise in float64 for float64 parameters, float32 otherwise, unless said):

=========================  ======================================================================
Normal                     ``loc + scale * z``, z from ``streams.normal`` (Box-Muller)
MultivariateNormal         ``loc + scale_tril @ z``, z normal, d per event
LowRankMultivariateNormal  ``loc + cov_factor @ z_W + sqrt(cov_diag) * z_D``: one normal draw of
                           ``rank + d`` values per event (first ``z_W``, then ``z_D``)
Uniform                    ``low + (high - low) * u``, kept below ``high``
Exponential                ``-log(u) / rate``
Laplace                    inverse CDF, float64 uniforms: ``log(2u)`` below 1/2, ``-log(2(1-u))``
                           above, so both tails keep full precision
Cauchy                     inverse CDF, float64 uniforms: ``tan(pi (u - 1/2))``, written
                           ``-cot(pi u)`` / ``cot(pi (1 - u))`` in the outer quarters (the tails)
Bernoulli                  ``u < probs``
Geometric                  ``floor(log(u) / log1p(-probs))`` (failures before the first success)
Categorical                Gumbel-max: ``argmax(logits + g)``, g from ``streams.gumbel``; zero
                           probabilities are never drawn (their logits are set to ``-inf``)
OneHotCategorical          ``one_hot`` of the Categorical draw
ExpRelaxedCategorical      ``(logits + g) / T``, log-normalised (the Concrete / Gumbel-softmax)
LogitRelaxedBernoulli      ``(logit(u) + logits) / T`` (logistic noise from one uniform)
Gamma, Chi2                Marsaglia & Tsang (2000), "A simple method for generating gamma
                           variables", ACM TOMS 26(3), float64; ``alpha < 1`` through
                           ``G(alpha + 1) * U^(1/alpha)``. Rejection, kept keyed: see below
Dirichlet, Beta            normalised Gammas, in log space (Beta is ``Dirichlet((a, b))[0]``, kept
                           inside (0, 1))
StudentT                   ``loc + scale * z / sqrt(X / df)``, z normal then X ~ Chi2(df)
Independent                its base distribution's draw
MixtureSameFamily          the component index from a keyed Categorical draw, then every
                           component's draw (torch's own scheme), the chosen one gathered
TransformedDistribution    the base distribution's draw through the transforms: LogNormal,
                           HalfNormal, HalfCauchy, Gumbel, Weibull, Pareto, Kumaraswamy,
                           InverseGamma, LogisticNormal, RelaxedBernoulli, RelaxedOneHotCategorical
=========================  ======================================================================

A subclass of a listed class is drawn like it unless it defines its own ``sample`` or ``rsample``;
everything else (Poisson, Binomial, Multinomial, NegativeBinomial, VonMises, LKJCholesky, Wishart,
ContinuousBernoulli, ...) raises :class:`UnsupportedDistributionError` naming the type and this
list, before any draw. Location-scale and transformed families are reparameterised (gradients reach
the parameters through the keyed noise, as with ``rsample``); Gamma-based draws carry no gradient
to concentrations or ``df`` (a Gamma's ``rate`` and a StudentT's ``loc``, ``scale`` do).

**Rejection, keyed.** Each Gamma value first gets one boost uniform and one Marsaglia-Tsang try
(a normal and a uniform) from the streams: a fixed draw for every sample. Values whose try is
rejected (fewer than 5 %: the acceptance rate is at least 0.95 for every shape) get further tries
from the fork ``"genproto.distributions.gamma@P"`` (``P``: the streams' position when the draw
began), one round at a time, with :meth:`~genproto.streams.KeyedStreams.select` on the rows still
waiting. A round's draws sit at the same fork position whichever rows take part, so a value's
tries depend only on its own stream, and the main streams advance by the same count whatever was
rejected.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import distributions as D
from torch.distributions.relaxed_bernoulli import LogitRelaxedBernoulli
from torch.distributions.relaxed_categorical import ExpRelaxedCategorical

from genproto.errors import ArgumentTypeError, InvalidArgumentError
from genproto.streams import KeyedStreams

__all__ = ["SUPPORTED", "UnsupportedDistributionError", "draw"]

_Drawer = Callable[[KeyedStreams, Any, tuple[int, ...]], torch.Tensor]

#: Gamma rejection rounds after the first try; each leaves a value waiting with probability
#: < 0.05, so 100 rounds fail only for parameters that can never accept (NaN, infinity).
_MAX_GAMMA_ROUNDS = 100


class UnsupportedDistributionError(ArgumentTypeError):
    """:func:`draw` has no keyed sampler for this distribution type.

    Attributes:
        distribution: the unsupported type's qualified name (e.g. ``torch.distributions.Poisson``).
        supported: the names of the supported types.
    """

    def __init__(self, distribution: type, where: str) -> None:
        self.distribution = f"{distribution.__module__}.{distribution.__qualname__}"
        self.supported = SUPPORTED
        super().__init__(
            f"draw() cannot sample {distribution.__qualname__}{where} from keyed streams",
            value=self.distribution,
            allowed=", ".join(SUPPORTED) + " (and subclasses that keep their sample and rsample)",
            fix="Draw its noise from the streams yourself (streams.uniform, normal, gumbel, ...) "
            "and transform it; keep dist.log_prob for the likelihood",
        )


# ---------------------------------------------------------------------------------------------
# The public function
# ---------------------------------------------------------------------------------------------


def draw(
    streams: KeyedStreams,
    dist: D.Distribution,
    sample_shape: Sequence[int] | torch.Size = (),
) -> torch.Tensor:
    """Sample ``dist`` from keyed streams: one draw per sample (and per ``sample_shape`` entry).

    Args:
        streams: the keyed streams of the batch (``B = len(streams)`` samples).
        dist: a supported ``torch.distributions`` object whose ``batch_shape`` is ``()``
            (broadcast to every sample) or ``(B, ...)`` (row ``b`` for sample ``b``).
        sample_shape: extra draws per sample, as for ``dist.sample(sample_shape)``.

    Returns:
        ``(*sample_shape, B, *batch_shape[1:], *event_shape)``, the shape and dtype of
        ``dist.expand((B, *batch_shape[1:])).sample(sample_shape)``, on the parameters' device;
        sample ``b``'s values depend only on its own stream.

    Raises:
        UnsupportedDistributionError: a type (or a part of it) with no keyed sampler.
        InvalidArgumentError: a ``batch_shape`` that does not start with ``B``, or a bad
            ``sample_shape``.
    """
    if not isinstance(streams, KeyedStreams):
        raise ArgumentTypeError(
            "draw() streams must be a KeyedStreams",
            value=streams,
            allowed="genproto.streams.KeyedStreams",
            fix="Pass the streams that sample_batch or log_likelihood_batch received",
        )
    if not isinstance(dist, D.Distribution):
        raise ArgumentTypeError(
            "draw() dist must be a torch.distributions.Distribution",
            value=dist,
            allowed="a torch.distributions object, e.g. torch.distributions.Normal(0.0, 1.0)",
            fix="Build the distribution object first, then draw(streams, dist)",
        )
    shape = _check_sample_shape(sample_shape)
    _check_supported(dist, "")
    batch = tuple(dist.batch_shape)
    rows = len(streams)
    target: tuple[int, ...]
    if not batch:
        target = (rows,)
    elif batch[0] == rows:
        target = batch
    else:
        raise InvalidArgumentError(
            f"draw() distribution batch_shape {batch} does not fit {rows} sample(s)",
            allowed=f"batch_shape () (broadcast to every sample) or ({rows}, ...)",
            fix=f"Give one row of parameters per sample, dist.expand(({rows}, ...)) a shared "
            "one, or wrap per-event batch dimensions in torch.distributions.Independent",
        )
    return _draw(streams, dist.expand(torch.Size(target)), shape)


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _check_sample_shape(sample_shape: Any) -> tuple[int, ...]:
    fix = "Pass sample_shape as a tuple of ints >= 0, e.g. (8,), or torch.Size([8])"
    if isinstance(sample_shape, str) or not isinstance(sample_shape, Sequence):
        raise ArgumentTypeError(
            "draw() sample_shape must be a sequence of ints",
            value=sample_shape,
            allowed="tuple or torch.Size of ints >= 0",
            fix=fix,
        )
    dims: list[int] = []
    for dim in sample_shape:
        if isinstance(dim, bool) or not hasattr(dim, "__index__"):
            raise ArgumentTypeError(
                "draw() sample_shape entry must be an int",
                value=dim,
                allowed="ints >= 0",
                fix=fix,
            )
        number = operator.index(dim)
        if number < 0:
            raise InvalidArgumentError(
                "draw() sample_shape entry", value=dim, allowed="ints >= 0", fix=fix
            )
        dims.append(number)
    return tuple(dims)


def _drawer(cls: type) -> _Drawer | None:
    """The drawer of ``cls``: its own, or a base's when nothing in between defines a sampler."""
    for base in cls.__mro__:
        if base in _DRAWERS:
            return _DRAWERS[base]
        if "sample" in vars(base) or "rsample" in vars(base):
            return None
    return None


def _check_supported(dist: D.Distribution, where: str) -> None:
    """Raise for the first unsupported type in ``dist`` or its parts, before anything is drawn."""
    if _drawer(type(dist)) is None:
        raise UnsupportedDistributionError(type(dist), where)
    name = type(dist).__qualname__
    if isinstance(dist, D.Independent | D.TransformedDistribution):
        _check_supported(dist.base_dist, f" (the base_dist of {name}{where})")
    elif isinstance(dist, D.MixtureSameFamily):
        for part in ("mixture_distribution", "component_distribution"):
            _check_supported(getattr(dist, part), f" (the {part} of {name}{where})")


# ---------------------------------------------------------------------------------------------
# Helpers. Every drawer receives a distribution expanded to batch_shape (B, ...) and returns
# (*S, B, ..., *event); keyed draws come row-first, (B, *S, ...), and are moved to torch's layout.
# ---------------------------------------------------------------------------------------------


def _noise_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _torch_layout(
    values: torch.Tensor, sample_shape: tuple[int, ...], like: torch.Tensor
) -> torch.Tensor:
    """(B, *S, ...) keyed values -> (*S, B, ...) on ``like``'s device."""
    return values.movedim(0, len(sample_shape)).to(like.device)


def _per_row(dist: D.Distribution) -> tuple[int, ...]:
    """The batch dimensions after the sample dimension."""
    return tuple(dist.batch_shape[1:])


def _normal(streams: KeyedStreams, dist: D.Normal, shape: tuple[int, ...]) -> torch.Tensor:
    loc, scale = dist.loc, dist.scale
    z = streams.normal(*shape, *_per_row(dist), dtype=_noise_dtype(loc.dtype))
    return (loc + scale * _torch_layout(z, shape, loc)).to(loc.dtype)


def _uniform(streams: KeyedStreams, dist: D.Uniform, shape: tuple[int, ...]) -> torch.Tensor:
    low, high = dist.low, dist.high
    u = streams.uniform(*shape, *_per_row(dist), dtype=_noise_dtype(low.dtype))
    x = (low + (high - low) * _torch_layout(u, shape, low)).to(low.dtype)
    return torch.minimum(x, torch.nextafter(high, low))  # the support is [low, high)


def _exponential(
    streams: KeyedStreams, dist: D.Exponential, shape: tuple[int, ...]
) -> torch.Tensor:
    rate = dist.rate
    u = streams.uniform(*shape, *_per_row(dist), dtype=_noise_dtype(rate.dtype))
    return (-_torch_layout(u, shape, rate).log() / rate).to(rate.dtype)


def _laplace(streams: KeyedStreams, dist: D.Laplace, shape: tuple[int, ...]) -> torch.Tensor:
    loc, scale = dist.loc, dist.scale
    u = _torch_layout(streams.uniform(*shape, *_per_row(dist), dtype=torch.float64), shape, loc)
    # 2u and 1 - u are exact in float64: each tail is computed from its own small probability
    t = torch.where(u < 0.5, (2 * u).log(), -(2 * (1 - u)).log())
    return (loc + scale * t.to(_noise_dtype(loc.dtype))).to(loc.dtype)


def _cauchy(streams: KeyedStreams, dist: D.Cauchy, shape: tuple[int, ...]) -> torch.Tensor:
    loc, scale = dist.loc, dist.scale
    u = _torch_layout(streams.uniform(*shape, *_per_row(dist), dtype=torch.float64), shape, loc)
    # tan(pi (u - 1/2)) = -cot(pi u) = cot(pi (1 - u)): the outer quarters from small angles
    t = torch.where(
        u < 0.25,
        -1 / torch.tan(math.pi * u),
        torch.where(u > 0.75, 1 / torch.tan(math.pi * (1 - u)), torch.tan(math.pi * (u - 0.5))),
    )
    return (loc + scale * t.to(_noise_dtype(loc.dtype))).to(loc.dtype)


def _bernoulli(streams: KeyedStreams, dist: D.Bernoulli, shape: tuple[int, ...]) -> torch.Tensor:
    probs = dist.probs
    u = streams.uniform(*shape, *_per_row(dist), dtype=_noise_dtype(probs.dtype))
    return (_torch_layout(u, shape, probs) < probs).to(probs.dtype)


def _geometric(streams: KeyedStreams, dist: D.Geometric, shape: tuple[int, ...]) -> torch.Tensor:
    probs = dist.probs
    u = streams.uniform(*shape, *_per_row(dist), dtype=_noise_dtype(probs.dtype))
    return (_torch_layout(u, shape, probs).log() / (-probs).log1p()).floor().to(probs.dtype)


def _gumbel_scores(
    streams: KeyedStreams, dist: Any, shape: tuple[int, ...], logits: torch.Tensor
) -> torch.Tensor:
    """``logits + g`` with keyed Gumbel noise g, (*S, B, ..., C)."""
    work = _noise_dtype(logits.dtype)
    g = streams.gumbel(*shape, *_per_row(dist), logits.shape[-1], dtype=work)
    return logits.to(work) + _torch_layout(g, shape, logits)


def _category(
    streams: KeyedStreams, dist: D.Categorical | D.OneHotCategorical, shape: tuple[int, ...]
) -> torch.Tensor:
    # a given probability of 0 must never be drawn: torch's logits for probs clamp it to ~1e-7
    logits = dist.logits.masked_fill(dist.probs == 0, -math.inf)
    return _gumbel_scores(streams, dist, shape, logits).argmax(dim=-1)


def _categorical(
    streams: KeyedStreams, dist: D.Categorical, shape: tuple[int, ...]
) -> torch.Tensor:
    return _category(streams, dist, shape)


def _one_hot(
    streams: KeyedStreams, dist: D.OneHotCategorical, shape: tuple[int, ...]
) -> torch.Tensor:
    index = _category(streams, dist, shape)
    return torch.nn.functional.one_hot(index, dist.probs.shape[-1]).to(dist.probs.dtype)


def _exp_relaxed(
    streams: KeyedStreams, dist: ExpRelaxedCategorical, shape: tuple[int, ...]
) -> torch.Tensor:
    logits = dist.logits
    scores = _gumbel_scores(streams, dist, shape, logits) / dist.temperature
    out: torch.Tensor = (scores - scores.logsumexp(dim=-1, keepdim=True)).to(logits.dtype)
    return out


def _logit_relaxed(
    streams: KeyedStreams, dist: LogitRelaxedBernoulli, shape: tuple[int, ...]
) -> torch.Tensor:
    logits = dist.logits
    u = _torch_layout(
        streams.uniform(*shape, *_per_row(dist), dtype=_noise_dtype(logits.dtype)), shape, logits
    )
    out: torch.Tensor = ((u.log() - (-u).log1p() + logits) / dist.temperature).to(logits.dtype)
    return out


def _multivariate_normal(
    streams: KeyedStreams, dist: D.MultivariateNormal, shape: tuple[int, ...]
) -> torch.Tensor:
    loc = dist.loc
    z = streams.normal(*shape, *_per_row(dist), loc.shape[-1], dtype=_noise_dtype(loc.dtype))
    z = _torch_layout(z, shape, loc)  # (*S, B, ..., d)
    return (loc + (dist.scale_tril @ z.unsqueeze(-1)).squeeze(-1)).to(loc.dtype)


def _low_rank(
    streams: KeyedStreams, dist: D.LowRankMultivariateNormal, shape: tuple[int, ...]
) -> torch.Tensor:
    loc: torch.Tensor = dist.loc  # (B, ..., d)
    factor: torch.Tensor = dist.cov_factor  # (B, ..., d, r)
    d, rank = factor.shape[-2], factor.shape[-1]
    z = streams.normal(*shape, *_per_row(dist), rank + d, dtype=_noise_dtype(loc.dtype))
    z = _torch_layout(z, shape, loc)  # (*S, B, ..., r + d)
    z_w, z_d = z[..., :rank], z[..., rank:]
    x: torch.Tensor = loc + (factor @ z_w.unsqueeze(-1)).squeeze(-1) + dist.cov_diag.sqrt() * z_d
    return x.to(loc.dtype)


# -- Gamma and its relatives --------------------------------------------------------------------


def _log_standard_gamma(
    streams: KeyedStreams, concentration: torch.Tensor, shape: tuple[int, ...]
) -> torch.Tensor:
    """log G, G ~ Gamma(concentration, 1), float64 (*S, B, ...), by Marsaglia & Tsang (2000).

    ``concentration`` is (B, ...). For alpha >= 1 with d = alpha - 1/3, c = 1 / sqrt(9 d): try
    x ~ N(0, 1), v = (1 + c x)^3, u ~ U(0, 1); accept d v when v > 0 and
    log u < x^2 / 2 + d - d v + d log v. For alpha < 1: G(alpha + 1) U^(1/alpha).
    """
    rows, n = len(streams), len(shape)
    start = streams.position
    alpha = concentration.detach().to(streams.device, torch.float64)  # (B, ...)
    alpha = alpha.reshape(rows, *([1] * n), *alpha.shape[1:])
    alpha = alpha.expand(rows, *shape, *alpha.shape[n + 1 :])  # (B, *S, ...) row-first
    each = tuple(alpha.shape[1:])  # per sample
    small = alpha < 1
    d = torch.where(small, alpha + 1, alpha) - 1 / 3
    c = (9 * d).rsqrt()
    tiny = torch.finfo(torch.float64).tiny

    def attempt(
        source: KeyedStreams, d: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = source.normal(*each, dtype=torch.float64)
        u = source.uniform(*each, dtype=torch.float64)
        v = (1 + c * x) ** 3
        log_v = v.clamp(min=tiny).log()
        accept = (v > 0) & (u.log() < 0.5 * x * x + d - d * v + d * log_v)
        return accept, d.log() + log_v

    # 1. the fixed draws of every sample: boost uniforms, then one try
    boost = streams.uniform(*each, dtype=torch.float64)
    done, log_g = attempt(streams, d, c)
    # 2. further tries for the rejected values, round by round, from a fork at fixed positions
    retry: KeyedStreams | None = None
    for _ in range(_MAX_GAMMA_ROUNDS):
        pending = ~done if done.dim() == 1 else (~done).flatten(1).any(dim=1)  # (B,)
        waiting = pending.nonzero().reshape(-1)
        if waiting.numel() == 0:
            break
        if retry is None:
            retry = streams.fork(f"genproto.distributions.gamma@{start}")
        accept, value = attempt(retry.select(waiting), d[waiting], c[waiting])
        take = accept & ~done[waiting]
        log_g[waiting] = torch.where(take, value, log_g[waiting])
        done[waiting] |= take
    else:
        if not bool(done.all()):
            raise InvalidArgumentError(
                f"draw() found no Gamma value in {_MAX_GAMMA_ROUNDS} rejection rounds",
                value=concentration,
                allowed="finite concentrations > 0",
                fix="Check the distribution's parameters (NaN or infinite concentration?)",
            )
    # 3. the boost for alpha < 1, in log space so that tiny alphas do not underflow
    log_g = log_g + torch.where(small, boost.log() / alpha, torch.zeros_like(alpha))
    return log_g.movedim(0, n)


def _gamma(streams: KeyedStreams, dist: D.Gamma, shape: tuple[int, ...]) -> torch.Tensor:
    rate = dist.rate
    log_g = _log_standard_gamma(streams, dist.concentration, shape).to(rate.device)
    value = (log_g.exp().to(_noise_dtype(rate.dtype)) / rate).to(rate.dtype)
    return value.clamp(min=torch.finfo(rate.dtype).tiny)  # as torch: a Gamma value is > 0


def _simplex(
    streams: KeyedStreams, concentration: torch.Tensor, shape: tuple[int, ...]
) -> torch.Tensor:
    """Dirichlet(concentration) in float64: normalised Gammas, (*S, B, ..., K)."""
    log_g = _log_standard_gamma(streams, concentration, shape).to(concentration.device)
    return torch.softmax(log_g, dim=-1)


def _dirichlet(streams: KeyedStreams, dist: D.Dirichlet, shape: tuple[int, ...]) -> torch.Tensor:
    dtype = dist.concentration.dtype
    return _simplex(streams, dist.concentration, shape).to(dtype).clamp(min=torch.finfo(dtype).tiny)


def _beta(streams: KeyedStreams, dist: D.Beta, shape: tuple[int, ...]) -> torch.Tensor:
    c1, c0 = dist.concentration1, dist.concentration0
    x = _simplex(streams, torch.stack([c1, c0], dim=-1), shape)[..., 0].to(c1.dtype)
    one = torch.ones((), dtype=c1.dtype, device=x.device)
    # strictly inside (0, 1): rounding to float32 may reach 1, where log_prob is infinite
    return x.clamp(min=torch.finfo(c1.dtype).tiny, max=float(torch.nextafter(one, one * 0)))


def _student_t(streams: KeyedStreams, dist: D.StudentT, shape: tuple[int, ...]) -> torch.Tensor:
    loc, scale, df = dist.loc, dist.scale, dist.df
    z = _torch_layout(
        streams.normal(*shape, *_per_row(dist), dtype=_noise_dtype(loc.dtype)), shape, loc
    )
    log_g = _log_standard_gamma(streams, 0.5 * df, shape).to(loc.device)  # X = 2 G ~ Chi2(df)
    factor = (0.5 * (df.detach().double().log() - math.log(2.0) - log_g)).exp()  # sqrt(df / X)
    return (loc + scale * z * factor.to(z.dtype)).to(loc.dtype)


# -- Compositions ---------------------------------------------------------------------------------


def _independent(
    streams: KeyedStreams, dist: D.Independent[Any], shape: tuple[int, ...]
) -> torch.Tensor:
    return _draw(streams, dist.base_dist, shape)


def _transformed(
    streams: KeyedStreams, dist: D.TransformedDistribution, shape: tuple[int, ...]
) -> torch.Tensor:
    x = _draw(streams, dist.base_dist, shape)
    for transform in dist.transforms:
        x = transform(x)  # deterministic maps: no random numbers
    return x


def _mixture(
    streams: KeyedStreams, dist: D.MixtureSameFamily, shape: tuple[int, ...]
) -> torch.Tensor:
    # 1. which component, (*S, B, ...); 2. every component's draw, (*S, B, ..., K, *E)
    index = _draw(streams, dist.mixture_distribution, shape)
    values = _draw(streams, dist.component_distribution, shape)
    # 3. gather the chosen component along K
    event = tuple(dist.event_shape)
    axis = len(shape) + len(dist.batch_shape)
    index = index.to(values.device).reshape(*index.shape, 1, *([1] * len(event)))
    index = index.expand(*index.shape[: axis + 1], *event)
    return values.gather(axis, index).squeeze(axis)


_DRAWERS: dict[type, _Drawer] = {
    D.Normal: _normal,
    D.MultivariateNormal: _multivariate_normal,
    D.LowRankMultivariateNormal: _low_rank,
    D.Uniform: _uniform,
    D.Exponential: _exponential,
    D.Laplace: _laplace,
    D.Cauchy: _cauchy,
    D.Bernoulli: _bernoulli,
    D.Geometric: _geometric,
    D.Categorical: _categorical,
    D.OneHotCategorical: _one_hot,
    ExpRelaxedCategorical: _exp_relaxed,
    LogitRelaxedBernoulli: _logit_relaxed,
    D.Gamma: _gamma,
    D.Dirichlet: _dirichlet,
    D.Beta: _beta,
    D.StudentT: _student_t,
    D.Independent: _independent,
    D.MixtureSameFamily: _mixture,
    D.TransformedDistribution: _transformed,
}

#: The names of the supported types (subclasses that keep their sampler are drawn like them).
SUPPORTED: tuple[str, ...] = tuple(cls.__name__ for cls in _DRAWERS)


def _draw(streams: KeyedStreams, dist: D.Distribution, shape: tuple[int, ...]) -> torch.Tensor:
    drawer = _drawer(type(dist))
    if drawer is None:  # checked before drawing; a part built lazily could still surprise
        raise UnsupportedDistributionError(type(dist), "")
    return drawer(streams, dist, shape)
