"""Tests of genproto.distributions: torch.distributions objects sampled from the keyed streams.

What is checked: shapes and dtypes equal ``dist.sample``'s; draws are batch-size invariant (sample
``i`` the same in batches of 1, 7 and 23, in any order, and with ``sample_shape``); the draws
follow the distribution (statistical tests); the global RNGs are untouched and no
``sample``/``rsample`` is ever called; unsupported types and misfit shapes are typed errors; and a
Gaussian-mixture model whose ``sample_batch`` and ``log_likelihood_batch`` share one
``MixtureSameFamily`` passes the contract suite.

Statistical tests use fixed seeds, so they are deterministic; each states the false-alarm rate it
would have for a seed drawn at random: ``ALPHA = 1e-3`` per test item (a parametrised case is an
item), split over the item's checks by Bonferroni. KS tests use 10^4 draws against a CDF computed
here or by torch (independent of the sampling code); discrete ones use
:func:`genproto.testing.stats.cell_fit` (Bernstein bounds on every cell at ``ALPHA / K``).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import distributions as D

from genproto import Capabilities, ConditionSpec, EventSpace, Likelihood, Paradigm, SampleCost
from genproto.distributions import SUPPORTED, UnsupportedDistributionError, draw
from genproto.errors import ArgumentTypeError, GenprotoError, InvalidArgumentError
from genproto.model import Model
from genproto.streams import KeyedStreams
from genproto.testing import check_model
from genproto.testing.stats import cell_fit

ALPHA = 1e-3  # false-alarm rate of each statistical test item
N = 10_000  # draws per statistical test

# ---------------------------------------------------------------------------------------------
# Kolmogorov-Smirnov, computed here (as in tests/test_streams.py: no scipy)
# ---------------------------------------------------------------------------------------------


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution, by its two series (each fast on its side)."""
    if lam < 1.18:
        if lam <= 0:
            return 1.0
        terms = (math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * lam * lam)) for k in range(1, 20))
        return min(max(1.0 - math.sqrt(2 * math.pi) / lam * sum(terms), 0.0), 1.0)
    p = 2.0 * math.fsum((-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam) for k in range(1, 20))
    return min(max(p, 0.0), 1.0)


def ks_pvalue(x: torch.Tensor, cdf: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """KS p-value of the values ``x`` against the continuous ``cdf`` (Stephens 1970)."""
    u = cdf(x.reshape(-1).double().sort().values).double()
    n = u.numel()
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    d = max(float((ranks / n - u).max()), float((u - (ranks - 1) / n).max()))
    return kolmogorov_sf((math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d)


def test_ks_helper_accepts_the_truth_and_rejects_a_ten_percent_scale_error() -> None:
    """The KS test has the power these tests rely on: 10^4 keyed normals vs N(0, 1.1^2)."""
    x = KeyedStreams.for_range(0, 0, N).normal(dtype=torch.float64)
    assert ks_pvalue(x, D.Normal(0.0, 1.0).cdf) > ALPHA
    assert ks_pvalue(x, D.Normal(0.0, 1.1).cdf) < ALPHA
    assert kolmogorov_sf(1.9495) == pytest.approx(1e-3, rel=1e-3)


def draws(dist: D.Distribution, seed: int, n: int = N) -> torch.Tensor:
    """``n`` draws of a batch-shape ``()`` distribution, one per sample, (n, *event)."""
    return draw(KeyedStreams.for_range(seed, 0, n), dist).double()


def beta_cdf_integer(a: int, b: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The Beta(a, b) CDF for integer a, b: P(Binomial(a + b - 1, x) >= a)."""

    def cdf(x: torch.Tensor) -> torch.Tensor:
        m = a + b - 1
        return sum(
            (math.comb(m, j) * x**j * (1 - x) ** (m - j) for j in range(a, m + 1)),
            torch.zeros_like(x),
        )

    return cdf


def gamma_cdf(alpha: float, rate: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def cdf(x: torch.Tensor) -> torch.Tensor:
        return torch.special.gammainc(torch.full_like(x, alpha), rate * x)

    return cdf


# (id, distribution with batch_shape (), the CDF of one draw (a closed form, or torch's cdf))
CONTINUOUS: list[tuple[str, D.Distribution, Callable[[torch.Tensor], torch.Tensor]]] = [
    ("normal", D.Normal(1.5, 2.0), D.Normal(1.5, 2.0).cdf),
    ("normal64", D.Normal(torch.tensor(-0.5, dtype=torch.float64), 0.1), D.Normal(-0.5, 0.1).cdf),
    ("uniform", D.Uniform(-1.0, 3.0), lambda x: ((x + 1) / 4).clamp(0, 1)),
    ("exponential", D.Exponential(2.5), lambda x: 1 - torch.exp(-2.5 * x)),
    ("laplace", D.Laplace(0.5, 1.5), D.Laplace(0.5, 1.5).cdf),
    ("cauchy", D.Cauchy(-1.0, 0.5), lambda x: 0.5 + torch.atan((x + 1) / 0.5) / math.pi),
    ("gamma_small", D.Gamma(0.3, 2.0), gamma_cdf(0.3, 2.0)),
    ("gamma_one", D.Gamma(1.0, 1.0), gamma_cdf(1.0, 1.0)),
    ("gamma_large", D.Gamma(4.5, 0.5), gamma_cdf(4.5, 0.5)),
    ("chi2", D.Chi2(3.0), gamma_cdf(1.5, 0.5)),
    ("beta", D.Beta(2.0, 3.0), beta_cdf_integer(2, 3)),
    ("beta_arcsine", D.Beta(0.5, 0.5), lambda x: 2 / math.pi * torch.asin(x.sqrt())),
    ("student_t2", D.StudentT(2.0, 1.0, 2.0), lambda x: 0.5 + ((x - 1) / 2) / (
        2 * torch.sqrt(2 + ((x - 1) / 2) ** 2))),
    ("log_normal", D.LogNormal(0.2, 0.7), lambda x: D.Normal(0.2, 0.7).cdf(x.log())),
    ("gumbel", D.Gumbel(1.0, 2.0), lambda x: torch.exp(-torch.exp(-(x - 1) / 2))),
    ("half_normal", D.HalfNormal(1.5), lambda x: torch.erf(x / (1.5 * math.sqrt(2)))),
    ("weibull", D.Weibull(2.0, 1.5), lambda x: 1 - torch.exp(-((x / 2) ** 1.5))),
    ("pareto", D.Pareto(1.0, 3.0), lambda x: 1 - x ** (-3.0)),
    ("logit_relaxed_bernoulli",
     D.Independent(D.RelaxedBernoulli(torch.tensor(0.5), probs=torch.tensor([0.3])), 1),
     # logit(y) = (L + logit p) / T, L standard logistic: P(logit y <= t) = sigmoid(T t - logit p)
     lambda y: torch.sigmoid(0.5 * torch.logit(y) - math.log(0.3 / 0.7))),
    ("mixture_1d",
     D.MixtureSameFamily(D.Categorical(torch.tensor([0.2, 0.5, 0.3])),
                         D.Normal(torch.tensor([-2.0, 0.0, 3.0]), torch.tensor([0.5, 1.0, 0.3]))),
     lambda x: (torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64) * D.Normal(
         torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64),
         torch.tensor([0.5, 1.0, 0.3], dtype=torch.float64)).cdf(x[:, None])).sum(-1)),
    ("dirichlet_marginal", D.Dirichlet(torch.tensor([1.0, 2.0, 1.0])),
     lambda x: 1 - (1 - x) ** 3),  # component 0 of Dirichlet(1, 2, 1) ~ Beta(1, 3)
]


@pytest.mark.parametrize(("name", "dist", "cdf"), CONTINUOUS, ids=[c[0] for c in CONTINUOUS])
def test_continuous_draws_follow_the_cdf(
    name: str, dist: D.Distribution, cdf: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    """KS on 10^4 draws at ALPHA; every draw inside the support, with a finite log_prob."""
    x = draw(KeyedStreams.for_range(11, 0, N), dist)
    assert bool(torch.isfinite(dist.expand((N,)).log_prob(x)).all())
    values = x[:, 0] if name in ("dirichlet_marginal", "logit_relaxed_bernoulli") else x
    p = ks_pvalue(values, cdf)
    assert p > ALPHA, f"{name}: KS p-value {p:.2e} <= {ALPHA}"


@pytest.mark.parametrize("name", ["gamma_small", "normal", "mixture_1d"])
def test_sample_shape_draws_follow_the_cdf_too(name: str) -> None:
    """100 samples x sample_shape (100,): the extra draws per sample are distributed alike."""
    _, dist, cdf = next(c for c in CONTINUOUS if c[0] == name)
    x = draw(KeyedStreams.for_range(12, 0, 100), dist, (100,))  # (100, 100)
    assert x.shape == (100, 100)
    assert ks_pvalue(x, cdf) > ALPHA


def mahalanobis_pvalues(x: torch.Tensor, dist: Any, seed_direction: int) -> tuple[float, float]:
    """KS p-values of ||L^-1 (x - mu)||^2 against chi2(d) and of one projection against N."""
    loc = dist.loc.double()
    cov = dist.covariance_matrix.double()
    d = loc.shape[-1]
    white = torch.linalg.solve_triangular(
        torch.linalg.cholesky(cov), (x.double() - loc).unsqueeze(-1), upper=False
    ).squeeze(-1)
    m2 = (white**2).sum(-1)
    p_norm = ks_pvalue(m2, gamma_cdf(d / 2, 0.5))
    a = torch.sin(torch.arange(d, dtype=torch.float64) * 1.7 + seed_direction)
    proj_std = float(a @ cov @ a) ** 0.5
    p_proj = ks_pvalue(x.double() @ a, D.Normal(float(loc @ a), proj_std).cdf)
    return p_norm, p_proj


def test_multivariate_normals_have_their_covariance() -> None:
    """MVN and low-rank MVN: squared Mahalanobis ~ chi2(d), a projection ~ N; 4 KS at ALPHA/4."""
    tril = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.3, 0.4, 0.7]])
    mvn = D.MultivariateNormal(torch.tensor([1.0, -1.0, 0.5]), scale_tril=tril)
    low = D.LowRankMultivariateNormal(
        torch.tensor([0.0, 2.0, -1.0]),
        torch.tensor([[1.0, 0.5], [-0.7, 0.2], [0.3, 1.1]]),
        torch.tensor([0.2, 0.5, 0.1]),
    )
    for seed, dist in ((21, mvn), (22, low)):
        x = draw(KeyedStreams.for_range(seed, 0, N), dist)
        assert x.shape == (N, 3)
        for p in mahalanobis_pvalues(x, dist, seed):
            assert p > ALPHA / 4, f"{type(dist).__name__}: p = {p:.2e}"


def counts_fit(values: torch.Tensor, probs: torch.Tensor, what: str) -> None:
    counts = torch.bincount(values.reshape(-1).long(), minlength=probs.numel())[: probs.numel()]
    assert int(counts.sum()) == values.numel(), f"{what}: a value outside the cells"
    fit = cell_fit(counts, probs, delta=ALPHA, slack=None)
    assert fit.passed, f"{what}: {fit.describe()}"


def test_categorical_from_probs_and_logits() -> None:
    """Gumbel-max frequencies match the probabilities (a zero probability is never drawn)."""
    probs = torch.tensor([0.1, 0.0, 0.25, 0.4, 0.25])
    x = draw(KeyedStreams.for_range(31, 0, N), D.Categorical(probs=probs))
    assert x.dtype == torch.int64
    assert not bool((x == 1).any())
    counts_fit(x, probs, "probs")
    logits = torch.tensor([0.5, -1.0, 2.0, 0.0])
    x = draw(KeyedStreams.for_range(32, 0, N), D.Categorical(logits=logits))
    counts_fit(x, logits.softmax(-1), "logits")


def test_one_hot_and_relaxed_categoricals_pick_categories_with_their_probabilities() -> None:
    """OneHotCategorical's hot index, and the argmax of a relaxed (Concrete) draw, ~ Categorical."""
    logits = torch.tensor([1.0, -0.5, 0.0])
    x = draw(KeyedStreams.for_range(33, 0, N), D.OneHotCategorical(logits=logits))
    assert x.shape == (N, 3)
    assert bool((x.sum(-1) == 1).all())
    counts_fit(x.argmax(-1), logits.softmax(-1), "one-hot")
    relaxed = D.RelaxedOneHotCategorical(torch.tensor(0.3), logits=logits)
    y = draw(KeyedStreams.for_range(34, 0, N), relaxed)
    assert torch.allclose(y.sum(-1), torch.ones(N), atol=1e-5)
    counts_fit(y.argmax(-1), logits.softmax(-1), "relaxed")  # Gumbel-max: argmax ~ softmax


def test_bernoulli_and_geometric_frequencies() -> None:
    """Bernoulli(0.3) and Geometric(0.35) (cells 0..9 and >= 10) against their probabilities."""
    x = draw(KeyedStreams.for_range(35, 0, N), D.Bernoulli(probs=0.3))
    assert x.dtype == torch.float32
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    counts_fit(x, torch.tensor([0.7, 0.3]), "bernoulli")
    assert bool((draw(KeyedStreams.for_range(35, 0, 50), D.Bernoulli(logits=-40.0)) == 0).all())
    g = draw(KeyedStreams.for_range(36, 0, N), D.Geometric(probs=0.35))
    cells = g.clamp(max=10)
    pk = 0.35 * 0.65 ** torch.arange(10, dtype=torch.float64)
    counts_fit(cells, torch.cat([pk, (0.65**10) * torch.ones(1, dtype=torch.float64)]), "geometric")


# ---------------------------------------------------------------------------------------------
# Every supported family: shapes, batch invariance, global RNG
# ---------------------------------------------------------------------------------------------


def per_row(indices: torch.Tensor, width: int = 0) -> torch.Tensor:
    """Parameters in (-1, 1) that depend only on each row's sample index, (B,) or (B, width)."""
    i = indices.double()
    if width == 0:
        return torch.sin(i * 0.37 + 0.2).float()
    return torch.sin(i[:, None] * 0.37 + torch.arange(width) * 1.3).float()


def positive(indices: torch.Tensor, width: int = 0) -> torch.Tensor:
    return 0.5 + per_row(indices, width).abs() * 2


Factory = Callable[[torch.Tensor], D.Distribution]

#: (id, factory of a distribution for the rows of ``indices``): per-row (batch (B, ...)) and
#: shared (batch ()) parameters, for every family and composition the module supports.
FAMILIES: list[tuple[str, Factory]] = [
    ("normal_rows", lambda i: D.Normal(per_row(i, 3), positive(i, 3))),
    ("normal_shared", lambda i: D.Normal(0.5, 2.0)),
    ("independent", lambda i: D.Independent(D.Normal(per_row(i, 4), 1.0), 1)),
    ("independent_shared", lambda i: D.Independent(D.Normal(torch.zeros(2, 3), 1.0), 2)),
    ("mvn_rows", lambda i: D.MultivariateNormal(
        per_row(i, 3), scale_tril=torch.diag_embed(positive(i, 3)) + torch.tril(
            per_row(i, 9).reshape(-1, 3, 3), diagonal=-1))),
    ("mvn_shared", lambda i: D.MultivariateNormal(
        torch.zeros(2), covariance_matrix=torch.tensor([[2.0, 0.5], [0.5, 1.0]]))),
    ("low_rank", lambda i: D.LowRankMultivariateNormal(
        per_row(i, 3), per_row(i, 6).reshape(-1, 3, 2), positive(i, 3))),
    ("uniform", lambda i: D.Uniform(per_row(i), per_row(i) + positive(i))),
    ("exponential", lambda i: D.Exponential(positive(i, 2))),
    ("laplace", lambda i: D.Laplace(per_row(i), positive(i))),
    ("cauchy", lambda i: D.Cauchy(per_row(i), positive(i))),
    ("bernoulli_probs", lambda i: D.Bernoulli(probs=per_row(i, 5).abs())),
    ("bernoulli_logits", lambda i: D.Bernoulli(logits=per_row(i, 5) * 3)),
    ("geometric", lambda i: D.Geometric(probs=0.1 + per_row(i).abs() * 0.8)),
    ("categorical_logits", lambda i: D.Categorical(logits=per_row(i, 6) * 2)),
    ("categorical_probs", lambda i: D.Categorical(probs=torch.tensor([0.2, 0.0, 0.8]))),
    ("one_hot", lambda i: D.OneHotCategorical(logits=per_row(i, 4))),
    ("relaxed_one_hot", lambda i: D.RelaxedOneHotCategorical(
        torch.tensor(0.5), logits=per_row(i, 4))),
    ("relaxed_bernoulli", lambda i: D.RelaxedBernoulli(torch.tensor(0.7), logits=per_row(i, 2))),
    ("gamma", lambda i: D.Gamma(positive(i, 20) - 0.45, positive(i, 20))),  # shapes 0.05 .. 2.05
    ("chi2", lambda i: D.Chi2(positive(i, 3))),
    ("beta", lambda i: D.Beta(positive(i, 3), positive(i, 3).flip(-1))),
    ("dirichlet", lambda i: D.Dirichlet(positive(i, 4) - 0.4)),
    ("student_t", lambda i: D.StudentT(positive(i) * 2, per_row(i), positive(i))),
    ("log_normal", lambda i: D.LogNormal(per_row(i), positive(i))),
    ("gumbel", lambda i: D.Gumbel(per_row(i), positive(i))),
    ("half_cauchy", lambda i: D.HalfCauchy(positive(i))),
    ("inverse_gamma", lambda i: D.InverseGamma(positive(i) + 1, positive(i))),
    ("kumaraswamy", lambda i: D.Kumaraswamy(positive(i), positive(i))),
    ("logistic_normal", lambda i: D.LogisticNormal(per_row(i, 3), positive(i, 3))),
    ("mixture_rows", lambda i: D.MixtureSameFamily(
        D.Categorical(logits=per_row(i, 3)),
        D.Independent(D.Normal(per_row(i, 6).reshape(-1, 3, 2) * 3, 0.5), 1))),
    ("mixture_shared", lambda i: D.MixtureSameFamily(
        D.Categorical(probs=torch.tensor([0.3, 0.7])), D.Gamma(torch.tensor([0.5, 3.0]), 1.0))),
    ("mixture_mvn", lambda i: D.MixtureSameFamily(
        D.Categorical(logits=torch.zeros(2)),
        D.MultivariateNormal(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]), torch.eye(2) * 0.3))),
]
FAMILY_IDS = [f[0] for f in FAMILIES]
BATCH = 23  # > 16: torch's CPU sampler changes algorithm there
#: Compared within 1e-6, not bitwise: a matmul (BLAS may block by batch size), and torch's
#: SigmoidTransform / StickBreakingTransform (its vector and scalar sigmoid kernels differ by
#: an ulp, and which one an element meets depends on the tensor's size).
NEAR_ONLY = {"mvn_rows", "mvn_shared", "low_rank", "mixture_mvn", "relaxed_bernoulli",
             "logistic_normal"}


def test_every_supported_type_has_a_family_case() -> None:
    """The meta-test of torch/distributions' tests: a new drawer without a case here fails."""
    covered: set[str] = set()
    for _, factory in FAMILIES:
        stack: list[Any] = [factory(torch.arange(3))]
        while stack:
            dist = stack.pop()
            covered.update(c.__name__ for c in type(dist).__mro__)
            stack += [getattr(dist, a) for a in ("base_dist", "mixture_distribution",
                                                  "component_distribution") if hasattr(dist, a)]
    assert set(SUPPORTED) <= covered, set(SUPPORTED) - covered


def expected_shape(dist: D.Distribution, rows: int, sample: tuple[int, ...]) -> tuple[int, ...]:
    batch = tuple(dist.batch_shape) or (rows,)
    return (*sample, *batch, *dist.event_shape)


@pytest.mark.parametrize(("name", "factory"), FAMILIES, ids=FAMILY_IDS)
def test_shape_dtype_and_log_prob_match_torch(name: str, factory: Factory) -> None:
    """Shape and dtype of ``dist.expand((B, ...)).sample(S)``; in the support (finite log_prob)."""
    streams = KeyedStreams.for_range(5, 0, BATCH)
    dist = factory(streams.indices)
    full = dist.expand((BATCH, *dist.batch_shape[1:]))
    for sample in ((), (4,), (2, 3)):
        x = draw(streams, dist, sample)
        torch_x = full.sample(sample)
        assert x.shape == torch_x.shape == expected_shape(dist, BATCH, sample)
        assert x.dtype == torch_x.dtype
        assert x.device == torch_x.device
        if not isinstance(dist, D.Categorical):
            assert bool(torch.isfinite(x).all())
        assert bool(torch.isfinite(full.log_prob(x)).all()), f"{name}: a draw outside the support"


@pytest.mark.parametrize(("name", "factory"), FAMILIES, ids=FAMILY_IDS)
def test_draws_are_batch_size_invariant(name: str, factory: Factory) -> None:
    """Sample i's draws are the same in batches of 1, 7 and 23, shuffled, and over two draws."""
    seed, sample = 7, (3,)

    def run(indices: torch.Tensor) -> tuple[list[torch.Tensor], int]:
        streams = KeyedStreams(seed, indices)
        dist = factory(indices)
        first = draw(streams, dist, sample)  # (3, B, ...)
        second = draw(streams, dist)  # (B, ...): after the first, at the same position
        return [first.movedim(len(sample), 0), second], streams.position

    whole, position = run(torch.arange(BATCH))
    parts = [torch.arange(i, min(i + 7, BATCH)) for i in range(0, BATCH, 7)]
    parts += [torch.tensor([i]) for i in (0, 13, BATCH - 1)]
    parts += [torch.randperm(BATCH, generator=torch.Generator().manual_seed(0))]
    for rows in parts:
        got, got_position = run(rows)
        assert got_position == position, f"{name}: the position depends on the batch"
        for mine, full in zip(got, whole, strict=True):
            want = full[rows]
            if name in NEAR_ONLY:
                torch.testing.assert_close(mine, want, rtol=1e-6, atol=1e-6)
            else:
                assert torch.equal(mine, want), f"{name}: rows {rows.tolist()} differ"


@pytest.mark.parametrize(("name", "factory"), FAMILIES, ids=FAMILY_IDS)
def test_draws_depend_on_the_seed_and_the_sample(name: str, factory: Factory) -> None:
    """Same seed, same draws; another seed or another sample index, other draws."""
    indices = torch.arange(4)
    dist = factory(indices)
    a = draw(KeyedStreams(3, indices), dist, (32,))
    assert torch.equal(a, draw(KeyedStreams(3, indices), dist, (32,)))
    assert not torch.equal(a, draw(KeyedStreams(4, indices), dist, (32,)))
    shared = factory(torch.zeros(4, dtype=torch.int64))  # the same parameters for every row
    b = draw(KeyedStreams(3, indices), shared, (32,)).movedim(1, 0)  # (4, 32, ...)
    assert not torch.equal(b[0], b[1])


def test_global_rngs_are_untouched_and_no_sampler_of_torch_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every family drawn with every torch sample/rsample replaced by a bomb, states compared."""
    def bomb(self: D.Distribution, *args: Any, **kwargs: Any) -> torch.Tensor:
        raise AssertionError(f"{type(self).__name__}.sample/rsample was called")

    for cls in vars(D).values():
        if isinstance(cls, type) and issubclass(cls, D.Distribution):
            for method in ("sample", "rsample"):
                if method in vars(cls):
                    monkeypatch.setattr(cls, method, bomb)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    py_state = random.getstate()
    for _, factory in FAMILIES:
        streams = KeyedStreams.for_range(9, 0, BATCH)
        draw(streams, factory(streams.indices), (2,))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state, strict=True))
    assert random.getstate() == py_state


def test_float64_parameters_draw_float64_noise() -> None:
    """float64 parameters: float64 draws from float64 noise (not float32 noise widened)."""
    streams = KeyedStreams.for_range(1, 0, 5)
    x = draw(streams, D.Normal(torch.zeros((), dtype=torch.float64), 1.0))
    assert x.dtype == torch.float64
    assert torch.equal(x, KeyedStreams.for_range(1, 0, 5).normal(dtype=torch.float64))


def test_normal_is_reparameterised_and_uses_the_streams_normals() -> None:
    """x = loc + scale * z with z = streams.normal: gradients reach loc and scale."""
    loc = torch.tensor([0.5, -1.0], requires_grad=True)
    scale = torch.tensor([2.0, 0.5], requires_grad=True)
    x = draw(KeyedStreams.for_range(2, 0, 3), D.Independent(D.Normal(loc, scale), 1))  # (3, 2)
    z = KeyedStreams.for_range(2, 0, 3).normal(2)
    torch.testing.assert_close(x, loc + scale * z)
    x.sum().backward()
    assert loc.grad is not None
    assert scale.grad is not None
    torch.testing.assert_close(loc.grad, torch.full((2,), 3.0))
    torch.testing.assert_close(scale.grad, z.sum(0))


def test_gamma_rejections_are_redrawn_from_a_fork_without_moving_the_streams() -> None:
    """Marsaglia-Tsang rejects ~5 % at shape 1: the main position is fixed, every value accepted.

    Ten Gamma values use ``uniform(10)`` (the boost), ``normal(10)`` and ``uniform(10)`` in
    float64: 10 + 10 + 10 words per sample (a float64 normal pair takes two words).
    """
    for rows in (1, 7, 200):
        streams = KeyedStreams.for_range(4, 0, rows)
        x = draw(streams, D.Gamma(torch.ones(rows, 10), 1.0))
        assert streams.position == 10 + 10 + 10
        assert bool((x > 0).all())
    # where sample 0 was rejected, its value differs from the first try's d * v
    streams = KeyedStreams.for_range(4, 0, 200)
    streams.uniform(10, dtype=torch.float64)
    x0 = streams.normal(10, dtype=torch.float64)
    u0 = streams.uniform(10, dtype=torch.float64)
    d = 1.0 - 1 / 3
    v = (1 + x0 / math.sqrt(9 * d)) ** 3
    first_try = (v > 0) & (u0.log() < 0.5 * x0**2 + d - d * v + d * v.clamp(min=1e-300).log())
    assert 0 < int((~first_try).sum()) < 0.1 * first_try.numel()  # the retry path ran
    x = draw(KeyedStreams.for_range(4, 0, 200), D.Gamma(torch.ones(200, 10), 1.0)).double()
    torch.testing.assert_close(x[first_try], (d * v)[first_try], rtol=1e-6, atol=0.0)
    assert bool((x[~first_try] != (d * v)[~first_try]).all())


def test_empty_batch() -> None:
    streams = KeyedStreams(0, torch.zeros(0, dtype=torch.int64))
    assert draw(streams, D.Normal(0.0, 1.0), (3,)).shape == (3, 0)
    assert draw(streams, D.Gamma(torch.ones(0, 2), 1.0)).shape == (0, 2)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class OwnSampler(D.Normal):
    """A Normal whose author changed how it samples: its draws must not be guessed."""

    def rsample(self, sample_shape: Any = ()) -> torch.Tensor:
        return super().rsample(sample_shape) * 2


class SameSampler(D.Normal):
    """A Normal subclass that keeps Normal's sampler: drawn as a Normal."""


def test_unsupported_types_are_typed_errors_naming_the_type_and_the_list() -> None:
    streams = KeyedStreams.for_range(0, 0, 4)
    cases = [
        (D.Poisson(2.0), "Poisson", ""),
        (OwnSampler(0.0, 1.0), "OwnSampler", ""),
        (D.MixtureSameFamily(D.Categorical(logits=torch.zeros(2)), D.Poisson(torch.ones(2))),
         "Poisson", "component_distribution of MixtureSameFamily"),
        (D.Independent(D.Binomial(3, torch.full((2,), 0.5)), 1), "Binomial", "base_dist"),
    ]
    for dist, name, where in cases:
        with pytest.raises(UnsupportedDistributionError) as info:
            draw(streams, dist)
        err = info.value
        assert isinstance(err, GenprotoError)
        assert isinstance(err, TypeError)
        assert name in str(err)
        assert where in str(err)
        assert "MixtureSameFamily" in str(err)
        assert "MultivariateNormal" in str(err)
        assert err.distribution.endswith(name)
        assert err.supported == SUPPORTED
        assert streams.position == 0  # refused before any draw
    x = draw(streams, SameSampler(0.0, 1.0))
    assert torch.equal(x, draw(KeyedStreams.for_range(0, 0, 4), D.Normal(0.0, 1.0)))


def test_misfit_shapes_and_arguments_are_typed_errors() -> None:
    streams = KeyedStreams.for_range(0, 0, 4)
    with pytest.raises(InvalidArgumentError, match=r"batch_shape \(3,\) does not fit 4"):
        draw(streams, D.Normal(torch.zeros(3), 1.0))
    with pytest.raises(InvalidArgumentError, match=r"Independent"):
        draw(streams, D.Normal(torch.zeros(2, 4), 1.0))
    with pytest.raises(ArgumentTypeError, match="torch.distributions"):
        draw(streams, torch.zeros(4))  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="KeyedStreams"):
        draw(torch.arange(4), D.Normal(0.0, 1.0))  # type: ignore[arg-type]
    for bad in (3, "3", (2.0,), (True,)):
        with pytest.raises(ArgumentTypeError, match="sample_shape"):
            draw(streams, D.Normal(0.0, 1.0), bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="sample_shape"):
        draw(streams, D.Normal(0.0, 1.0), (-1,))
    assert streams.position == 0


# ---------------------------------------------------------------------------------------------
# The worked example: one MixtureSameFamily for sample_batch and log_likelihood_batch
# ---------------------------------------------------------------------------------------------

CLASSES, COMPONENTS = 2, 3


class MixtureParameters(torch.nn.Module):
    """Per class: component logits (K,), means (K, 2), log-scales (K, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor([[0.0, 0.5, -0.5], [1.0, 0.0, 0.0]]))
        self.means = torch.nn.Parameter(torch.tensor(
            [[[-1.5, 0.0], [0.0, 1.0], [1.5, 0.0]], [[0.0, -1.5], [1.0, 1.0], [-1.0, 1.0]]]))
        self.log_scales = torch.nn.Parameter(torch.full((CLASSES, COMPONENTS, 2), -1.0))

    def forward(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.logits[labels], self.means[labels], self.log_scales[labels].exp()


class GaussianMixtureModel(Model):
    """A class-conditional 2-D Gaussian mixture written once, as a torch.distributions object."""

    def __init__(self) -> None:
        super().__init__(
            Capabilities(
                paradigms=(Paradigm.FLOW,),
                likelihood=Likelihood.EXACT,
                cost=SampleCost.single_pass(),
                event=EventSpace.continuous((2,)),
                condition=ConditionSpec(CLASSES, "class"),
                objective="maximum likelihood",
                sampling="genproto.distributions.draw of a MixtureSameFamily",
            ),
            name="distribution_mixture",
        )
        self.net = MixtureParameters()

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"mixture": self.net}

    def distribution(self, labels: torch.Tensor) -> D.Distribution:
        """p(x | c) for each row's class: batch shape (B,), event (2,)."""
        logits, means, scales = self.net(labels)  # (B, K), (B, K, 2), (B, K, 2)
        components = D.Independent(D.Normal(means, scales), 1)
        return D.MixtureSameFamily(D.Categorical(logits=logits), components)

    def sample_batch(
        self, streams: KeyedStreams, condition: torch.Tensor | None, **options: Any
    ) -> torch.Tensor:
        assert condition is not None  # the engine passes labels
        return draw(streams, self.distribution(condition))  # (B, 2)

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: torch.Tensor | None, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor:
        assert condition is not None
        return self.distribution(condition).log_prob(x)  # (B,)


def test_a_mixture_model_sharing_one_distribution_passes_the_contract_suite() -> None:
    check_model(GaussianMixtureModel).raise_for_failures()


def test_the_mixture_models_samples_follow_its_own_log_prob() -> None:
    """Class 0's samples, projected on x_0, against the mixture's marginal CDF (KS at ALPHA)."""
    model = GaussianMixtureModel()
    x = model.sample(N, seed=3, condition=0).detach()
    logits, means, scales = (t.detach() for t in model.net(torch.tensor(0)))
    weights = logits.softmax(-1).double()
    marginal = D.Normal(means[:, 0].double(), scales[:, 0].double())
    assert ks_pvalue(x[:, 0], lambda t: (weights * marginal.cdf(t[:, None])).sum(-1)) > ALPHA


def test_the_plugin_guides_distributions_block_runs() -> None:
    """docs/writing-a-plugin.md's ``python distributions`` block is executed, so it cannot rot."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "writing-a-plugin.md").read_text()
    (block,) = re.findall(r"```python distributions\n(.*?)```", page, flags=re.S)
    assert "draw(streams, mixture(labels))" in block
    assert ".log_prob(x)" in block
    exec(compile(block, "writing-a-plugin.md (distributions)", "exec"), {})
