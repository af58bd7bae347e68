"""The continuous-time bound, the learned schedule and the discrete denoiser, against closed forms.

Statistical checks use fixed seeds and compare a Monte Carlo estimate with its exact value within
4.5 standard errors: a false alarm rate below 1e-5 per check were the seeds drawn afresh.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from genproto_vdm import bound
from genproto_vdm.network import discrete_eps
from genproto_vdm.schedule import GAMMA_0, GAMMA_1, EndpointRange, LearnedSchedule
from torch import Tensor

from genproto.errors import InvalidArgumentError
from genproto.streams import KeyedStreams


def _schedule(gamma_0: float, gamma_1: float, seed: int, wild: bool = False) -> LearnedSchedule:
    """A schedule between the given endpoints; ``wild`` gives its shape large random weights."""
    gen = torch.Generator().manual_seed(seed)
    schedule = LearnedSchedule(hidden=64, gamma_0=gamma_0, gamma_1=gamma_1)
    with torch.no_grad():
        for p in schedule.shape_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (4.0 if wild else 0.1))
    return schedule


# --- the schedule ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_schedule_increases_and_its_derivative_is_exact(seed: int) -> None:
    schedule = _schedule(-13.3, 5.0, seed, wild=True)
    t = torch.linspace(0, 1, 4001, dtype=torch.float64)
    with torch.no_grad():
        gamma, dgamma = schedule.double()(t)
    assert bool((gamma.diff() > 0).all()), "gamma(t) must increase"
    assert bool((dgamma > 0).all())
    assert float(gamma[0]) == pytest.approx(-13.3, abs=1e-5)
    assert float(gamma[-1]) == pytest.approx(5.0, abs=1e-5)
    # gamma'(t) against central differences of gamma
    h = 1e-6
    inner = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    with torch.no_grad():
        numeric = (schedule(inner + h)[0] - schedule(inner - h)[0]) / (2 * h)
        exact = schedule(inner)[1]
    torch.testing.assert_close(exact, numeric, rtol=1e-5, atol=1e-6)


def test_endpoints_stay_in_their_declared_ranges_whatever_the_parameters() -> None:
    schedule = LearnedSchedule(hidden=8)
    for raw in (-1e4, -30.0, 0.0, 30.0, 1e4):
        with torch.no_grad():
            schedule.start.fill_(raw)
            schedule.end.fill_(-raw)
        g0, g1 = (float(v.detach()) for v in schedule.endpoints())
        assert GAMMA_0.low <= g0 <= GAMMA_0.high
        assert GAMMA_1.low <= g1 <= GAMMA_1.high
        assert g0 < g1


def test_a_start_outside_its_range_is_a_typed_error() -> None:
    with pytest.raises(InvalidArgumentError, match="schedule endpoint"):
        LearnedSchedule(gamma_0=-30.0)
    with pytest.raises(InvalidArgumentError, match="low < high"):
        EndpointRange(3.0, 1.0)


# --- the bound on Gaussian data with the exact noise predictor --------------------------------

S = 0.5  # data ~ N(0, S^2) in every dimension


def _gaussian_eps(z: Tensor, gamma: Tensor) -> Tensor:
    """E[eps | z_t] for x ~ N(0, S^2): z = alpha x + sigma eps is Gaussian, so the regression
    of eps on z is linear, ``sigma z / (alpha^2 S^2 + sigma^2)``."""
    alpha, sigma = bound.alpha_sigma(gamma.double())
    c = sigma / (alpha**2 * S**2 + sigma**2)
    return (c[:, None] * z.double()).float()


def _gaussian_exact(x: Tensor, gamma_0: float, gamma_1: float) -> Tensor:
    """The expected negative bound of rows ``x`` by quadrature over gamma (the diffusion term
    depends on the schedule only through its endpoints: int gamma'(t) f(gamma(t)) dt =
    int f(gamma) dgamma), with E||eps - c z||^2 in closed form."""
    g = torch.linspace(gamma_0, gamma_1, 200_001, dtype=torch.float64)
    alpha, sigma = bound.alpha_sigma(g)
    c = sigma / (alpha**2 * S**2 + sigma**2)
    # eps - c (alpha x + sigma eps) = (1 - c sigma) eps - c alpha x
    per_x2 = (c * alpha) ** 2  # coefficient of x_i^2
    const = (1 - c * sigma) ** 2
    integral_const = torch.trapezoid(const, g)
    integral_x2 = torch.trapezoid(per_x2, g)
    d = x.shape[1]
    diffusion = 0.5 * (d * integral_const + integral_x2 * (x.double() ** 2).sum(1))
    prior = bound.prior_term(x, torch.tensor(gamma_1, dtype=torch.float64))
    # E over z_0 of -log N(x; z_0 / alpha_0, e^gamma_0): z_0 / alpha_0 = x + e^(gamma_0/2) eps
    recon = 0.5 * d * (1 + math.log(2 * math.pi) + gamma_0) + 0 * prior
    out: Tensor = prior + recon + diffusion
    return out


def test_bound_estimate_matches_the_closed_form_and_the_true_density() -> None:
    gamma_0, gamma_1 = -19.0, 14.0
    schedule = _schedule(gamma_0, gamma_1, seed=3, wild=True)  # any shape: the same bound
    x = torch.tensor([[0.0, 0.3, -0.7], [1.2, -0.1, 0.05], [-0.4, 0.9, 0.0]], dtype=torch.float64)
    reps = 1024  # independent estimates of each row: their spread gives the standard error
    rows = x.repeat(reps, 1)
    with torch.no_grad():
        terms = bound.negative_bound(
            rows, schedule.endpoints(), schedule, _gaussian_eps,
            lambda z0, g0: bound.gaussian_reconstruction(rows, z0, g0),
            KeyedStreams.for_range(11, 0, rows.shape[0]), 64)
    estimates = terms.total.reshape(reps, 3)
    got = estimates.mean(0)
    stderr = estimates.std(0) / math.sqrt(reps)
    exact = _gaussian_exact(x, gamma_0, gamma_1)
    assert bool(((got - exact).abs() < 4.5 * stderr).all()), (got, exact, stderr)
    assert float(stderr.max()) < 0.2  # the check has teeth
    # With the exact predictor and far endpoints the bound is tight: -log N(x; 0, S^2 I).
    truth = (0.5 * x**2 / S**2 + 0.5 * math.log(2 * math.pi * S**2)).sum(1)
    torch.testing.assert_close(exact, truth, atol=2e-3, rtol=0)


def test_the_diffusion_term_does_not_depend_on_the_schedules_shape() -> None:
    """VDM eq. 16's invariance: two shapes, same endpoints, the same expected L_inf."""
    x = torch.tensor([[0.2, -0.5]], dtype=torch.float64).expand(512, 2)
    values = []
    for seed in (0, 1):
        schedule = _schedule(-10.0, 6.0, seed=seed, wild=True)
        with torch.no_grad():
            terms = bound.negative_bound(
                x, schedule.endpoints(), schedule, _gaussian_eps,
                lambda z0, g0: bound.gaussian_reconstruction(x, z0, g0),
                KeyedStreams.for_range(seed, 0, 512), 16)
        values.append(terms.diffusion)
    means = [float(v.mean()) for v in values]
    stderr = math.hypot(*(float(v.std()) / math.sqrt(512) for v in values))
    assert abs(means[0] - means[1]) < 4.5 * stderr, (means, stderr)


# --- a tiny discrete configuration: every term, the decoder, and sum exp(bound) <= 1 -----------

VALUES = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
CONFIGS = torch.tensor(list(itertools.product(range(3), repeat=2)))  # 9 rows of 2 levels
PROBS = torch.tensor([0.30, 0.05, 0.02, 0.10, 0.20, 0.03, 0.01, 0.09, 0.20], dtype=torch.float64)


def _exact_discrete_eps(z: Tensor, gamma: Tensor) -> Tensor:
    """E[eps | z_t] for data drawn from PROBS over CONFIGS, by Bayes over the 9 configurations."""
    alpha, sigma = bound.alpha_sigma(gamma.double())
    points = VALUES[CONFIGS]  # (9, 2)
    sq = ((z.double()[:, None, :] - alpha[:, None, None] * points) ** 2).sum(-1)  # (B, 9)
    post = torch.softmax(PROBS.log() - 0.5 * sq / sigma[:, None] ** 2, dim=1)
    x_hat = post @ points  # (B, 2)
    return ((z.double() - alpha[:, None] * x_hat) / sigma[:, None]).float()


def _discrete_bound(eps_fn: object, samples: int) -> Tensor:
    schedule = _schedule(-13.0, 8.0, seed=7)
    rows = CONFIGS.repeat(64, 1)  # 64 independent estimates of each configuration
    x = VALUES[rows]
    with torch.no_grad():
        terms = bound.negative_bound(
            x, schedule.endpoints(), schedule, eps_fn,  # type: ignore[arg-type]
            lambda z0, g0: bound.discrete_reconstruction(rows, z0, g0, VALUES),
            KeyedStreams.for_range(2, 0, rows.shape[0]), samples)
    return terms.total.reshape(64, 9).mean(0)  # (9,) estimates of E[L(x)]


def test_tight_on_a_tiny_discrete_distribution_and_never_above_one() -> None:
    nats = _discrete_bound(_exact_discrete_eps, 256)
    mass = torch.exp(-nats)
    # The exact predictor makes the bound nearly tight: each configuration's probability.
    torch.testing.assert_close(mass, PROBS, atol=0.01, rtol=0.05)
    assert float(mass.sum()) <= 1.0 + 0.01


def test_a_poor_predictor_gives_a_valid_but_loose_bound() -> None:
    nats = _discrete_bound(lambda z, g: torch.zeros_like(z), 64)
    assert float(torch.exp(-nats).sum()) < 0.9
    assert bool((nats > -PROBS.log() - 0.05).all())  # above -log p(x) for every configuration


def test_discrete_eps_with_marginal_logits_is_the_exact_denoiser_of_a_product_distribution(
) -> None:
    marginal = torch.tensor([0.6, 0.1, 0.3], dtype=torch.float64)  # each pixel independently
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(256, 2, generator=gen, dtype=torch.float64)
    gamma = torch.linspace(-8, 6, 256, dtype=torch.float64)
    logits = marginal.log().expand(256, 2, 3)
    got = discrete_eps(z, gamma, logits, VALUES)
    alpha, sigma = bound.alpha_sigma(gamma)
    lik = -0.5 * ((z[..., None] - alpha[:, None, None] * VALUES) / sigma[:, None, None]) ** 2
    post = torch.softmax(lik + marginal.log(), dim=-1)
    want = (z - alpha[:, None] * (post @ VALUES)) / sigma[:, None]
    torch.testing.assert_close(got, want)


def test_discrete_decoder_sums_to_one_over_the_levels() -> None:
    z0 = torch.randn(32, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for g0 in (-15.0, -6.0, 0.0):
        logp = bound.decoder_log_probs(z0, torch.tensor(g0), VALUES)
        torch.testing.assert_close(logp.exp().sum(-1), torch.ones(32, 5, dtype=torch.float64))
