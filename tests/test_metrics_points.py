"""Known-answer tests of the points metrics: KL to the truth, the truth check, mode coverage.

Statistical checks use fixed seeds; each states its false-alarm rate.
"""

from __future__ import annotations

import math

import pytest
import torch

from genproto.data import toy2d
from genproto.errors import InputError, InvalidArgumentError
from genproto.metrics import (
    ComponentCoverage,
    KLEstimate,
    beats_truth,
    component_coverage,
    kl_to_truth,
)
from genproto.metrics.points import COVERED_SHARE, TRUTH_Z
from genproto.protocol import Likelihood

GRID = toy2d("grid25")


def _normal_log_prob(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """log N(x; mean * 1, std^2 I) in 2-D, float64."""
    return (-0.5 * ((x - mean) / std).square().sum(1) - 2 * math.log(std)
            - math.log(2 * math.pi))


def _standard_points(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_kl_of_two_gaussians_matches_the_closed_form() -> None:
    # KL(N(0, I) || N(m 1, s^2 I)) in 2-D = 2 (log s + (1 + m^2) / (2 s^2) - 1/2).
    mean, std = 0.3, 1.4
    closed = 2 * (math.log(std) + (1 + mean**2) / (2 * std**2) - 0.5)
    x = _standard_points(200_000, seed=1)
    got = kl_to_truth(_normal_log_prob(x, 0.0, 1.0), _normal_log_prob(x, mean, std))
    # 4 standard errors: a false alarm with probability 6e-5
    assert abs(got.value - closed) < 4 * got.stderr
    assert 0 < got.stderr < 0.01
    assert got.n == 200_000
    assert got.kind is Likelihood.EXACT
    assert got.relation == "="
    assert got.data_log_prob - got.model_log_prob == pytest.approx(got.value)


def test_a_model_equal_to_the_truth_has_zero_kl_and_is_not_flagged() -> None:
    x = _standard_points(1000, seed=2)
    log_p = _normal_log_prob(x, 0.0, 1.0)
    got = kl_to_truth(log_p, log_p.float().double())
    assert got.value == pytest.approx(0.0, abs=1e-6)
    assert not beats_truth(got)


def test_an_unnormalised_model_is_flagged() -> None:
    # the Gaussian's exponent without its -log(2 pi) normaliser: log q = log p + log(2 pi) > log p
    x = _standard_points(1000, seed=3)
    log_p = _normal_log_prob(x, 0.0, 1.0)
    got = kl_to_truth(log_p, -0.5 * x.square().sum(1), Likelihood.BOUND)
    assert got.value == pytest.approx(-math.log(2 * math.pi))
    assert beats_truth(got)
    assert got.relation == "<="


def test_a_too_wide_unnormalised_model_is_flagged_despite_noise() -> None:
    # q = 1.5 N(0, 1.2^2 I): its KL is KL(p||N(0,1.2^2)) - log 1.5 < 0 with noisy differences
    x = _standard_points(5000, seed=4)
    got = kl_to_truth(_normal_log_prob(x, 0.0, 1.0),
                      _normal_log_prob(x, 0.0, 1.2) + math.log(1.5))
    assert got.stderr > 0
    assert beats_truth(got)


def test_the_truth_check_false_alarm_rate_is_below_its_stated_level() -> None:
    # A correct model with a tiny KL (0.0088 nats): over 400 replicates of 500 points each the
    # flag must fire at most at its 0.1 % rate; 4 or more flags happen with probability < 1e-3
    # when the rate is 0.1 % (binomial tail), so the test's own false-alarm rate is below 0.1 %.
    flags = 0
    gen = torch.Generator().manual_seed(5)
    for _ in range(400):
        x = torch.randn(500, 2, generator=gen, dtype=torch.float64)
        flags += beats_truth(kl_to_truth(_normal_log_prob(x, 0.0, 1.0),
                                         _normal_log_prob(x, 0.0, 1.07)))
    assert flags <= 3


def test_z_sets_the_strictness() -> None:
    estimate = KLEstimate(-0.01, 0.004, Likelihood.EXACT, 100, -1.0, -0.99)
    assert not beats_truth(estimate)  # -0.01 + 3.09 * 0.004 > 0
    assert beats_truth(estimate, z=2.0)
    assert pytest.approx(3.09) == TRUTH_Z


def test_a_model_missing_support_has_infinite_kl() -> None:
    x = _standard_points(10, seed=6)
    model = _normal_log_prob(x, 0.0, 1.0)
    model[3] = -math.inf
    got = kl_to_truth(_normal_log_prob(x, 0.0, 1.0), model)
    assert got.value == math.inf
    assert not beats_truth(got)


@pytest.mark.parametrize(("data", "model", "kind"), [
    (torch.zeros(5), torch.zeros(4), Likelihood.EXACT),
    (torch.zeros(1), torch.zeros(1), Likelihood.EXACT),
    (torch.zeros(5), torch.full((5,), math.nan), Likelihood.EXACT),
    (torch.zeros(5), torch.full((5,), math.inf), Likelihood.EXACT),
    (torch.zeros(5), torch.zeros(5), Likelihood.NONE),
    (torch.zeros(5, 2), torch.zeros(5, 2), Likelihood.EXACT),
    (torch.zeros(5, dtype=torch.long), torch.zeros(5), Likelihood.EXACT),
])
def test_bad_input_is_a_typed_error(data: torch.Tensor, model: torch.Tensor,
                                    kind: Likelihood) -> None:
    with pytest.raises(InputError):
        kl_to_truth(data, model, kind)


# -- component coverage ----------------------------------------------------------------------


def _grid():  # type: ignore[no-untyped-def]
    return GRID.means, GRID.covariance  # type: ignore[attr-defined]


def test_samples_on_known_modes_are_counted() -> None:
    means, cov = _grid()
    kept = torch.tensor(means[:20], dtype=torch.float32)  # 20 of the 25 modes
    samples = kept.repeat_interleave(50, dim=0)  # 1000 samples, 50 on each kept mode
    got = component_coverage(samples, means, cov)
    assert isinstance(got, ComponentCoverage)
    assert got.components == 25
    assert got.covered == 20
    assert got.precision == 1.0
    assert got.threshold == math.ceil(COVERED_SHARE * 1000 / 25) == 2
    assert got.counts == (50,) * 20 + (0,) * 5
    assert got.balance_kl == pytest.approx(math.log(25) - math.log(20))


def test_a_mode_below_the_threshold_is_not_covered_and_far_samples_are_imprecise() -> None:
    means, cov = _grid()
    on = torch.tensor([means[0]] * 98 + [means[1]] * 1, dtype=torch.float32)
    off = torch.tensor([[0.5, 0.5]])  # 5 std from every mode
    got = component_coverage(torch.cat([on, off]), means, cov)  # n = 100: threshold 1
    assert got.covered == 2
    assert got.precision == pytest.approx(0.99)
    got = component_coverage(torch.cat([on, off]), means, cov, covered_share=3.0)  # threshold 12
    assert got.threshold == 12
    assert got.covered == 1


def test_one_mode_has_the_largest_imbalance_and_nan_is_imprecise() -> None:
    means, cov = _grid()
    samples = torch.tensor([means[7]] * 9 + [[math.nan, 0.0]])
    got = component_coverage(samples, means, cov)
    assert got.covered == 1
    assert got.precision == pytest.approx(0.9)
    assert got.balance_kl == pytest.approx(math.log(25))


def test_samples_of_the_truth_cover_every_mode_with_the_chi_square_precision() -> None:
    means, cov = _grid()
    samples = GRID.sample(10_000, torch.Generator().manual_seed(7))
    got = component_coverage(samples, means, cov)
    assert got.covered == 25
    # P(|eps| > 3) for a 2-D standard normal is exp(-9/2); 4 binomial sd: false alarm 6e-5
    expected = 1 - math.exp(-4.5)
    assert abs(got.precision - expected) < 4 * math.sqrt(expected * (1 - expected) / 10_000)
    assert got.balance_kl < 0.01


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"samples": torch.zeros(3)}, InputError),
    ({"samples": torch.zeros(0, 2)}, InputError),
    ({"means": []}, InvalidArgumentError),
    ({"covariance": [[1.0, 2.0], [2.0, 1.0]]}, InvalidArgumentError),
    ({"covariance": [[1.0]]}, InvalidArgumentError),
    ({"radius": 0.0}, InvalidArgumentError),
    ({"covered_share": math.nan}, InvalidArgumentError),
])
def test_coverage_bad_input_is_a_typed_error(kwargs: dict[str, object],
                                             error: type[Exception]) -> None:
    means, cov = _grid()
    args: dict[str, object] = {"samples": torch.zeros(3, 2), "means": means, "covariance": cov}
    args.update(kwargs)
    with pytest.raises(error):
        component_coverage(**args)  # type: ignore[arg-type]
