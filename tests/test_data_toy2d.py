"""The toy 2-D densities: normalised, sampled from the density they declare, explicit RNG only.

Statistical tests use fixed seeds, so they are deterministic; each is sized so
that a *correct* sampler would fail it for at most 1 in 1,000 seeds (stated per
test), and a failure message carries the reproduction (name, n, seed).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest
import torch

from genproto.data import (
    TOY2D_EVENT,
    TOY2D_NAMES,
    Checkerboard2D,
    Dataset,
    GaussianMixture2D,
    Toy2D,
    load_toy2d,
    toy2d,
)
from genproto.data import toy as toy_module
from genproto.errors import ArgumentTypeError, InputError, InputTypeError, InvalidArgumentError

MIXTURES = ("eight_gaussians", "two_moons", "grid25", "gaussian")
N_SAMPLES = 20_000
SEEDS = {"eight_gaussians": 11, "two_moons": 12, "checkerboard": 13, "gaussian": 14, "grid25": 15}


def _grid(low: float, high: float, h: float) -> torch.Tensor:
    """Points of the square grid ``low, low + h, ..., high`` in both axes, float64, (M*M, 2)."""
    axis = torch.linspace(low, high, round((high - low) / h) + 1, dtype=torch.float64)
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


@functools.cache
def _grid_log_prob(name: str) -> tuple[torch.Tensor, float]:
    """log p on the trapezoid grid over [-6, 6]^2 with step 0.05, as (M, M), and the step."""
    h = 0.05
    points = _grid(-6.0, 6.0, h)
    m = round(12.0 / h) + 1
    return toy2d(name).log_prob(points).reshape(m, m), h


def _trapezoid_2d(values: torch.Tensor, h: float) -> float:
    return float(torch.trapezoid(torch.trapezoid(values, dx=h, dim=1), dx=h))


def _samples(name: str) -> torch.Tensor:
    return toy2d(name).sample(N_SAMPLES, torch.Generator().manual_seed(SEEDS[name]))


def test_names_build_densities_that_keep_the_protocol() -> None:
    assert set(TOY2D_NAMES) >= {"eight_gaussians", "two_moons", "checkerboard", "gaussian"}
    for name in TOY2D_NAMES:
        density = toy2d(name)
        assert isinstance(density, Toy2D)
        assert density.name == name
        assert density.description


@pytest.mark.parametrize("name", MIXTURES)
def test_log_density_integrates_to_one(name: str) -> None:
    # Trapezoid rule over [-6, 6]^2, step 0.05. For smooth integrands that decay
    # inside the box the rule is spectrally accurate (error ~ exp(-2 pi^2 s^2 / h^2),
    # below 1e-30 for the smallest std s = 0.1); the mass outside the box is below
    # 1e-7 (the Gaussian's x-marginal, 5.5 std from its mean). Tolerance 1e-6.
    log_p, h = _grid_log_prob(name)
    assert _trapezoid_2d(log_p.exp(), h) == pytest.approx(1.0, abs=1e-6)


def test_checkerboard_integrates_to_one_over_its_squares_exactly() -> None:
    density = toy2d("checkerboard")
    # 1. exactly: density at the centre of each of the 16 unit squares, times area 1.
    centres = torch.tensor(
        [[a + 0.5, b + 0.5] for a in range(-2, 2) for b in range(-2, 2)], dtype=torch.float64
    )
    log_p = density.log_prob(centres)
    black = torch.tensor([(a + b) % 2 == 0 for a in range(-2, 2) for b in range(-2, 2)])
    assert torch.all(log_p[black] == -math.log(8))
    assert torch.all(log_p[~black] == -math.inf)
    assert float(log_p.exp().sum()) == pytest.approx(1.0, abs=1e-12)
    # 2. the density is constant on each square: a midpoint rule aligned to the squares
    #    over [-3, 3]^2 (step 1/8) is exact, and sees nothing outside the board.
    h = 1 / 8
    midpoints = _grid(-3 + h / 2, 3 - h / 2, h)
    total = float(density.log_prob(midpoints).exp().sum()) * h * h
    assert total == pytest.approx(1.0, abs=1e-12)


def test_checkerboard_support_edges() -> None:
    density = toy2d("checkerboard")
    x = torch.tensor(
        [[-2.0, -2.0], [-1.0, -1.0], [1.999, 1.999], [2.0, 1.5], [-2.001, -1.5], [0.0, 0.5]],
        dtype=torch.float64,
    )
    expected = [-math.log(8), -math.log(8), -math.log(8), -math.inf, -math.inf, -math.log(8)]
    assert density.log_prob(x).tolist() == expected


@pytest.mark.parametrize("name", MIXTURES)
def test_mixture_log_prob_equals_torch_distributions(name: str) -> None:
    density = toy2d(name)
    assert isinstance(density, GaussianMixture2D)
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    reference = density.distribution(torch.float64).log_prob(x)
    assert torch.allclose(density.log_prob(x), reference, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_log_prob_keeps_the_input_dtype(name: str) -> None:
    x64 = toy2d(name).sample(200, torch.Generator().manual_seed(1)).double()
    out32, out64 = toy2d(name).log_prob(x64.float()), toy2d(name).log_prob(x64)
    assert out32.dtype == torch.float32
    assert out64.dtype == torch.float64
    assert out64.shape == (200,)
    assert torch.allclose(out32.double(), out64, atol=1e-4)


def _chi_square_p_value(name: str, samples: torch.Tensor) -> tuple[float, float, int]:
    """Pearson's binned goodness of fit of ``samples`` against ``toy2d(name).log_prob``.

    Bins: 32 x 32 squares of side 1/4 over [-4, 4]^2, plus one bin for outside.
    Expected probabilities integrate the density over each bin with a midpoint rule
    of 8 x 8 points (exact for the checkerboard, whose squares align with the bins;
    relative error about h^2/24 |p''/p| < 1% for the mixtures, far below the noise).
    Bins expecting fewer than 5 samples are merged into one.
    """
    bins, sub, low, side = 32, 8, -4.0, 0.25
    h = side / sub
    midpoints = _grid(low + h / 2, -low - h / 2, h)  # (256*256, 2)
    p = toy2d(name).log_prob(midpoints).exp().reshape(bins, sub, bins, sub) * h * h
    probs = p.sum(dim=(1, 3)).reshape(-1)  # (1024,)
    probs = torch.cat([probs, (1 - probs.sum()).clamp(min=0).reshape(1)])  # outside bin

    index = torch.floor((samples.double() - low) / side).long()  # (n, 2)
    inside = ((index >= 0) & (index < bins)).all(dim=1)
    flat = torch.where(inside, index[:, 0] * bins + index[:, 1], bins * bins)
    counts = torch.bincount(flat, minlength=bins * bins + 1).double()

    expected = probs * len(samples)
    small = expected < 5
    observed = torch.cat([counts[~small], counts[small].sum().reshape(1)])
    expected = torch.cat([expected[~small], expected[small].sum().reshape(1)])
    if float(expected[-1]) < 5:  # too little merged mass to test on its own
        observed, expected = observed[:-1], expected[:-1]
    statistic = float(((observed - expected) ** 2 / expected).sum())
    df = len(expected) - 1
    p_value = float(torch.special.gammaincc(torch.tensor(df / 2.0), torch.tensor(statistic / 2)))
    return p_value, statistic, df


@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_sampler_matches_density_chi_square(name: str) -> None:
    # False-alarm rate 1e-3: a correct sampler gives p < 1e-3 for 1 seed in 1,000.
    p_value, statistic, df = _chi_square_p_value(name, _samples(name))
    assert p_value > 1e-3, (
        f"chi-square {statistic:.1f} on {df} df (p={p_value:.2e}) "
        f"for toy2d({name!r}).sample(n={N_SAMPLES}, seed={SEEDS[name]})"
    )


def test_chi_square_detects_a_wrong_sampler() -> None:
    # The test above can fail: samples of one density do not pass for another.
    p_value, _, _ = _chi_square_p_value("two_moons", _samples("eight_gaussians"))
    assert p_value < 1e-10
    wider = _samples("gaussian") * 1.05
    p_value, _, _ = _chi_square_p_value("gaussian", wider)
    assert p_value < 1e-3


@pytest.mark.parametrize("name", MIXTURES)
def test_mean_log_prob_of_samples_matches_grid_expectation(name: str) -> None:
    # E[log p(X)] = integral of p log p (trapezoid grid as above). The sample mean
    # lies within 5 standard errors of it except with probability ~6e-7 (CLT).
    log_p, h = _grid_log_prob(name)
    expected = _trapezoid_2d(log_p.exp() * log_p, h)
    values = toy2d(name).log_prob(_samples(name).double())
    error = float(values.std()) / math.sqrt(len(values))
    assert abs(float(values.mean()) - expected) < 5 * error, (
        f"mean log p {float(values.mean()):.4f} vs {expected:.4f} +- {error:.4f} "
        f"for toy2d({name!r}).sample(n={N_SAMPLES}, seed={SEEDS[name]})"
    )


def test_checkerboard_samples_lie_on_black_squares() -> None:
    log_p = toy2d("checkerboard").log_prob(_samples("checkerboard").double())
    assert torch.all(log_p == -math.log(8))


def test_checkerboard_sample_never_rounds_onto_the_far_edge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # torch.rand can return 1 - 2**-24; in float32, 1 + that rounds to 2.0, which is
    # off the board. The sampler clamps to just below the square's far edge.
    def rand_near_one(*size: int, **kwargs: Any) -> torch.Tensor:
        return torch.full(size, 1 - 2**-24, dtype=torch.float32)

    monkeypatch.setattr(torch, "rand", rand_near_one)
    x = Checkerboard2D().sample(200, torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(Checkerboard2D().log_prob(x)).all())
    assert float(x.max()) < 2.0


@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_samples_have_shape_and_dtype(name: str) -> None:
    density = toy2d(name)
    generator = torch.Generator().manual_seed(0)
    x = density.sample(7, generator)
    assert x.shape == (7, 2)
    assert x.dtype == torch.float32
    assert density.sample(0, generator).shape == (0, 2)


@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_samples_use_only_the_given_generator(name: str) -> None:
    density = toy2d(name)
    state = torch.get_rng_state()
    first = density.sample(100, torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state), "the global RNG was used"
    torch.manual_seed(999)  # moving the global RNG changes nothing
    again = density.sample(100, torch.Generator().manual_seed(5))
    other = density.sample(100, torch.Generator().manual_seed(6))
    torch.set_rng_state(state)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(InvalidArgumentError, match="Did you mean 'two_moons'") as info:
        toy2d("two_moon")
    assert "'two_moon'" in str(info.value)
    assert all(repr(name) in str(info.value) for name in TOY2D_NAMES)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", ["spiral", "", None, 3])
def test_bad_name_is_refused(name: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=repr(name)):
        toy2d(name)


@pytest.mark.parametrize(
    ("n", "generator", "error", "phrase"),
    [
        (-1, torch.Generator(), InvalidArgumentError, "-1"),
        (2.0, torch.Generator(), ArgumentTypeError, "2.0"),
        (True, torch.Generator(), ArgumentTypeError, "True"),
        (3, None, ArgumentTypeError, "None"),
        (3, 42, ArgumentTypeError, "42"),
    ],
)
@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_bad_sample_arguments_are_refused(
    name: str, n: Any, generator: Any, error: type[Exception], phrase: str
) -> None:
    with pytest.raises(error, match=phrase):
        toy2d(name).sample(n, generator)


@pytest.mark.parametrize(
    ("x", "error", "phrase"),
    [
        ([[0.0, 0.0]], InputTypeError, r"\[\[0.0, 0.0\]\]"),
        (torch.zeros(3, 2, dtype=torch.int64), InputTypeError, "torch.int64"),
        (torch.zeros(3, 3), InputError, r"\(3, 3\)"),
        (torch.zeros(2), InputError, r"\(2,\)"),
        (torch.tensor([[0.0, math.nan]]), InputError, "NaN"),
    ],
)
@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_bad_points_are_refused(name: str, x: Any, error: type[Exception], phrase: str) -> None:
    with pytest.raises(error, match=phrase):
        toy2d(name).log_prob(x)


@pytest.mark.parametrize(
    ("kwargs", "phrase"),
    [
        ({"means": [], "covariance": ((1.0, 0.0), (0.0, 1.0))}, "at least one"),
        ({"means": [(0.0, 0.0)], "covariance": ((1.0, 2.0), (2.0, 1.0))}, "positive-definite"),
        ({"means": [(0.0, 0.0)], "covariance": ((1.0, 0.1), (0.0, 1.0))}, "symmetric"),
        ({"means": [(0.0, 0.0, 1.0)], "covariance": ((1.0, 0.0), (0.0, 1.0))}, "pair"),
        ({"means": [(0.0, math.inf)], "covariance": ((1.0, 0.0), (0.0, 1.0))}, "finite"),
        ({"means": [(0.0, 0.0)], "covariance": (1.0, 0.0)}, "2x2"),
    ],
)
def test_mixture_parameters_are_validated(kwargs: dict[str, Any], phrase: str) -> None:
    with pytest.raises(InvalidArgumentError, match=phrase):
        GaussianMixture2D("bad", **kwargs)


def test_load_toy2d_is_a_deterministic_unlabelled_dataset() -> None:
    data = load_toy2d("two_moons", n=300, seed=3)
    assert isinstance(data, Dataset)
    assert len(data) == 300
    assert data.name == "toy2d/two_moons"
    assert data.event == TOY2D_EVENT
    assert data.x.dtype == torch.float32
    assert data.y is None
    assert data.num_classes is None
    assert torch.equal(data.x, load_toy2d("two_moons", n=300, seed=3).x)
    assert not torch.equal(data.x, load_toy2d("two_moons", n=300, seed=4).x)
    expected = toy2d("two_moons").sample(300, torch.Generator().manual_seed(3))
    assert torch.equal(data.x, expected)
    assert len(load_toy2d("gaussian")) == 10_000


@pytest.mark.parametrize(
    ("kwargs", "error", "phrase"),
    [
        ({"name": "moons"}, InvalidArgumentError, "two_moons"),
        ({"name": "gaussian", "n": 0}, InvalidArgumentError, "'n'.*0"),
        ({"name": "gaussian", "n": 1.5}, ArgumentTypeError, "1.5"),
        ({"name": "gaussian", "seed": -1}, InvalidArgumentError, "'seed'.*-1"),
        ({"name": "gaussian", "seed": "0"}, ArgumentTypeError, "'0'"),
    ],
)
def test_load_toy2d_refuses_bad_arguments(
    kwargs: dict[str, Any], error: type[Exception], phrase: str
) -> None:
    with pytest.raises(error, match=phrase):
        load_toy2d(**kwargs)


def test_module_exports_what_it_documents() -> None:
    assert set(toy_module.__all__) <= set(dir(toy_module))
