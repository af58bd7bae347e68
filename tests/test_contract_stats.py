"""The statistics under the likelihood checks: bounds that hold, quadrature that integrates."""

from __future__ import annotations

import math

import pytest
import torch

from genproto.testing import stats


def test_bernstein_radius_covers_bernoulli_means_at_its_rate() -> None:
    # 2000 means of 500 Bernoulli(0.1) draws: at delta = 0.05 at most ~5% may fall outside
    gen = torch.Generator().manual_seed(0)
    draws = (torch.rand(2000, 500, generator=gen) < 0.1).double().mean(1)
    radius = stats.bernstein_radius(500, 0.1 * 0.9, 0.9, 0.05)
    outside = float(((draws - 0.1).abs() > radius).double().mean())
    assert outside <= 0.05
    assert radius < 0.05  # and it is not vacuous


def test_bernstein_radius_grows_with_confidence_and_range_and_survives_huge_ranges() -> None:
    assert stats.bernstein_radius(100, 1, 1, 1e-3) > stats.bernstein_radius(100, 1, 1, 1e-1)
    assert stats.bernstein_radius(100, 1, 10, 1e-3) > stats.bernstein_radius(100, 1, 1, 1e-3)
    assert math.isfinite(stats.bernstein_radius(4000, 1e300, 1e300, 1e-3))
    with pytest.raises(ValueError, match="delta"):
        stats.bernstein_radius(10, 1, 1, 0)


def test_cell_fit_accepts_a_fair_die_and_rejects_a_loaded_one() -> None:
    gen = torch.Generator().manual_seed(1)
    probs = torch.full((6,), 1 / 6)
    fair = torch.bincount(torch.randint(0, 6, (6000,), generator=gen), minlength=6)
    assert stats.cell_fit(fair, probs, delta=1e-3, slack=None).passed
    loaded = torch.multinomial(torch.tensor([0.2, 0.16, 0.16, 0.16, 0.16, 0.16]), 6000,
                               replacement=True, generator=gen)
    fit = stats.cell_fit(torch.bincount(loaded, minlength=6), probs, delta=1e-3, slack=None)
    assert not fit.passed
    assert fit.cell == 0
    assert "cell 0" in fit.describe()


def test_enumerate_events_lists_every_event_once() -> None:
    events = stats.enumerate_events((2, 2), 3)
    assert events.shape == (81, 2, 2)
    assert len({tuple(e.reshape(-1).tolist()) for e in events}) == 81
    assert events.min() == 0
    assert events.max() == 2


@pytest.mark.parametrize("dims", [1, 2])
def test_grid_integrates_a_gaussian_to_one(dims: int) -> None:
    normal = torch.distributions.Normal(torch.tensor(0.3), torch.tensor(0.5))

    def log_p(points: torch.Tensor) -> torch.Tensor:
        return normal.log_prob(points.double()).sum(1)

    low, high = torch.full((dims,), -4.0), torch.full((dims,), 4.0)
    size = 64 if dims == 2 else 512  # 1/8 or 1/64 apart: 0.25 is a grid line
    g = stats.grid(log_p, low, high, size)
    assert abs(g.total - 1) < 1e-6
    assert g.points.shape == (size**dims, dims)
    # an edge on a grid line (-4 + 34 steps of 1/8 = 0.25) splits the mass exactly
    edge = torch.tensor([0.25], dtype=torch.float64)
    cells = g.axis_cells([edge] * dims)
    parts = torch.zeros(2**dims, dtype=torch.float64).index_add_(0, cells, g.mass)
    below = float(normal.cdf(torch.tensor(0.25)))
    want = torch.tensor([below, 1 - below], dtype=torch.float64)
    if dims == 2:
        want = torch.outer(want, want).reshape(-1)
    assert torch.allclose(parts, want, atol=1e-3)  # midpoint: O(h^2) on a half-line


def test_grid_refuses_three_dimensions() -> None:
    with pytest.raises(ValueError, match="1-D or 2-D"):
        stats.grid(lambda p: p.sum(1), torch.zeros(3), torch.ones(3), 4)


def test_normal_quantile() -> None:
    assert abs(stats.normal_quantile(0.975) - 1.959964) < 1e-5
