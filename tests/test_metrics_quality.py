"""Sample-quality metrics: Frechet distance, conditional accuracy, mode coverage, bits/dim."""

from __future__ import annotations

import math

import pytest
import torch

from genproto.data import load_digits
from genproto.errors import (
    ArgumentTypeError,
    InputError,
    InputTypeError,
    InvalidArgumentError,
)
from genproto.metrics import (
    Coverage,
    accuracy,
    bits_per_dim,
    conditional_accuracy,
    digits_frechet,
    frechet_distance,
    frechet_floor,
    mode_coverage,
)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _exact_moments(n: int, mean: torch.Tensor, cov: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """n rows whose sample mean and (unbiased) covariance are exactly ``mean`` and ``cov``."""
    d = mean.shape[0]
    z = torch.randn(n, d, generator=_generator(seed), dtype=torch.float64)
    z = z - z.mean(0)
    whiten = torch.linalg.cholesky(z.T @ z / (n - 1))  # z's sample covariance = L L^T
    z = torch.linalg.solve_triangular(whiten, z.T, upper=False).T  # identity covariance
    rows: torch.Tensor = mean + z @ torch.linalg.cholesky(cov).T  # (n, d)
    return rows


@pytest.fixture(scope="module")
def test_split() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits("test")
    assert data.y is not None
    return data.x, data.y


# --- Frechet distance --------------------------------------------------------------------


def test_frechet_of_a_set_with_itself_is_zero() -> None:
    a = torch.randn(200, 16, generator=_generator())
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_in_one_dimension_is_the_gaussian_closed_form() -> None:
    # d^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2
    one = torch.ones(1, dtype=torch.float64)
    a = _exact_moments(50, 1.0 * one, 4.0 * one[:, None])
    b = _exact_moments(80, -2.0 * one, 9.0 * one[:, None])
    assert frechet_distance(a, b) == pytest.approx(9.0 + 1.0, rel=1e-9)


def test_frechet_with_diagonal_covariances_is_the_closed_form() -> None:
    # Diagonal covariances commute: tr (Sa Sb)^(1/2) = sum sqrt(va vb), so
    # d^2 = ||ma - mb||^2 + sum (sqrt(va) - sqrt(vb))^2.
    ma, mb = torch.arange(6.0).double(), torch.linspace(-1, 1, 6).double()
    va = torch.tensor([1.0, 2, 3, 4, 5, 6], dtype=torch.float64)
    vb = torch.tensor([6.0, 1, 1, 2, 0.5, 9], dtype=torch.float64)
    a = _exact_moments(300, ma, torch.diag(va), seed=1)
    b = _exact_moments(150, mb, torch.diag(vb), seed=2)
    expected = float(((ma - mb) ** 2).sum() + ((va.sqrt() - vb.sqrt()) ** 2).sum())
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_with_full_covariances_matches_the_eigenvalues_of_their_product() -> None:
    # An independent route: the eigenvalues of Sa Sb are real and >= 0 and
    # tr (Sa Sb)^(1/2) is the sum of their square roots.
    g = _generator(3)
    a = torch.randn(400, 5, generator=g).double() @ torch.randn(5, 5, generator=g).double()
    b = torch.randn(300, 5, generator=g).double() @ torch.randn(5, 5, generator=g).double()
    sa, sb = torch.cov(a.T), torch.cov(b.T)
    root = torch.linalg.eigvals(sa @ sb).real.clamp(min=0).sqrt().sum()
    expected = float(((a.mean(0) - b.mean(0)) ** 2).sum() + sa.trace() + sb.trace() - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_is_symmetric() -> None:
    g = _generator(4)
    a = torch.randn(100, 12, generator=g)
    b = torch.randn(70, 12, generator=g) * 2 + 0.5
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_shifting_one_set_by_d_adds_the_squared_norm_of_d() -> None:
    g = _generator(5)
    a = torch.randn(150, 8, generator=g)
    b = torch.randn(150, 8, generator=g) * 1.5
    d = torch.randn(8, generator=g) * 3
    added = frechet_distance(a, b + d) - frechet_distance(a, b)
    assert added == pytest.approx(float(((a.mean(0) - b.mean(0) - d) ** 2).sum())
                                  - float(((a.mean(0) - b.mean(0)) ** 2).sum()), rel=1e-6)
    assert frechet_distance(a, a + d) == pytest.approx(float((d.double() ** 2).sum()), rel=1e-6)


def test_frechet_handles_singular_covariances() -> None:
    # Fewer rows than features: rank-deficient covariances, still finite and >= 0.
    g = _generator(6)
    a, b = torch.randn(5, 40, generator=g), torch.randn(7, 40, generator=g)
    distance = frechet_distance(a, b)
    assert math.isfinite(distance)
    assert distance > 0
    assert frechet_distance(a, a.clone()) == pytest.approx(0.0, abs=1e-8)


def test_floor_is_small_but_positive_and_noise_is_far_worse() -> None:
    floor = frechet_floor()
    assert 0 < floor < 20
    noise = torch.randint(0, 17, (359, 8, 8), generator=_generator(7))
    assert digits_frechet(noise) > 20 * floor
    blank = torch.zeros(359, 8, 8, dtype=torch.int64)
    blank[:, 3, 3] = torch.randint(0, 17, (359,), generator=_generator(8))
    assert digits_frechet(blank) > 20 * floor


def test_digits_frechet_of_the_reference_split_itself_is_zero(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, _ = test_split
    assert digits_frechet(x) == pytest.approx(0.0, abs=1e-6)
    assert digits_frechet(x, reference="train") == pytest.approx(frechet_floor(), rel=1e-5)
    assert digits_frechet(load_digits("train").x, reference="train") == pytest.approx(0, abs=1e-6)


def test_digits_frechet_grows_as_samples_lose_a_class(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    without_zeros = x[y != 0]
    only_ones = x[y == 1]
    assert frechet_floor() < digits_frechet(without_zeros) < digits_frechet(only_ones)


@pytest.mark.parametrize(
    ("a", "b", "error", "message"),
    [
        ([[1.0, 2.0]] * 3, torch.zeros(3, 2), InputTypeError, "argument 'a_features': got [["),
        (torch.zeros(3, 2), torch.zeros(3, 2).bool(), InputTypeError, "got 'torch.bool'"),
        (torch.zeros(6), torch.zeros(3, 2), InputError, "shape of frechet_distance() argument"),
        (torch.zeros(1, 2), torch.zeros(3, 2), InputError, "got 1 (int); allowed: at least 2 rows"),
        (torch.zeros(3, 2), torch.zeros(3, 4), InputError, "feature dimensions"),
        (
            torch.zeros(3, 2),
            torch.tensor([[0.0, 1.0], [float("nan"), 0.0], [1.0, 1.0]]),
            InputError,
            "holds NaN or inf (first in row 1)",
        ),
    ],
)
def test_frechet_rejects_bad_features(
    a: object, b: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        frechet_distance(a, b)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_digits_frechet_rejects_bad_arguments(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, _ = test_split
    with pytest.raises(InvalidArgumentError, match="got 'tset'.*Did you mean 'test'"):
        digits_frechet(x, reference="tset")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="too few images: got 1"):
        digits_frechet(x[:1])
    with pytest.raises(InputTypeError, match="dtype of digits_frechet"):
        digits_frechet(x.float() / 16)


# --- conditional accuracy ---------------------------------------------------------------


def test_conditional_accuracy_of_real_digits_is_the_classifier_accuracy(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    assert conditional_accuracy(x, y) == accuracy(x, y)
    assert conditional_accuracy(x, y) >= 0.97


def test_conditional_accuracy_with_shuffled_labels_is_chance(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    shuffled = y[torch.randperm(len(y), generator=_generator(9))]
    # Chance is about 0.1; the standard deviation over permutations is about 0.016.
    assert conditional_accuracy(x, shuffled) == pytest.approx(0.1, abs=0.06)


def test_conditional_accuracy_takes_one_int_for_all(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    sevens = x[y == 7]
    assert conditional_accuracy(sevens, 7) >= 0.9
    assert conditional_accuracy(sevens, 3) <= 0.1


def test_conditional_accuracy_rejects_bad_labels(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    with pytest.raises(InputError, match=r"values of conditional_accuracy\(\) argument 'labels'"):
        conditional_accuracy(x[:3], 10)
    with pytest.raises(InputError, match=r"got \(2,\) \(tuple\); allowed: .* shape \(3,\)"):
        conditional_accuracy(x[:3], y[:2])
    with pytest.raises(InputTypeError, match="got 'torch.float32'"):
        conditional_accuracy(x[:3], y[:3].float())


# --- mode coverage -----------------------------------------------------------------------


def test_one_class_only_covers_a_tenth() -> None:
    coverage = mode_coverage(torch.full((50,), 4))
    assert coverage.classes_present == 1
    assert coverage.fraction_present == pytest.approx(0.1)
    assert coverage.frequencies == (0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert coverage.min_ratio == 0.0


def test_uniform_labels_have_min_ratio_one() -> None:
    coverage = mode_coverage(torch.arange(100) % 10)
    assert coverage.classes_present == 10
    assert coverage.min_ratio == pytest.approx(1.0)
    assert coverage.frequencies == pytest.approx((0.1,) * 10)


def test_min_ratio_is_the_rarest_frequency_over_uniform() -> None:
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 2)  # frequencies .5 .3 .2
    coverage = mode_coverage(labels, num_classes=3)
    assert coverage.min_ratio == pytest.approx(0.2 * 3)
    assert coverage.frequencies == pytest.approx((0.5, 0.3, 0.2))


def test_real_test_digits_cover_every_class_nearly_evenly(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    from_images = mode_coverage(x)
    from_labels = mode_coverage(y)
    assert from_images.classes_present == from_labels.classes_present == 10
    assert from_labels.min_ratio == pytest.approx(35 / 359 * 10)
    assert from_images.min_ratio > 0.85


def test_mode_coverage_rejects_bad_input(test_split: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, _ = test_split
    with pytest.raises(InputError, match=r"got 10 \(int\); allowed: .*labels 0\.\.9"):
        mode_coverage(torch.tensor([0, 10]))
    with pytest.raises(InvalidArgumentError, match="'num_classes' with digit images: got 5"):
        mode_coverage(x, num_classes=5)
    with pytest.raises(InputError, match=r"shape of .*got \(2, 3\)"):
        mode_coverage(torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(InputTypeError, match="got 'torch.float32'"):
        mode_coverage(torch.zeros(4))
    with pytest.raises(InputError, match="is empty"):
        mode_coverage(torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ArgumentTypeError, match="'num_classes': got 2.5"):
        mode_coverage(torch.zeros(4, dtype=torch.int64), num_classes=2.5)  # type: ignore[arg-type]


def test_coverage_validates_itself() -> None:
    with pytest.raises(ValueError, match="summing to 1"):
        Coverage(classes_present=1, min_ratio=0.0, frequencies=(0.5, 0.2))
    with pytest.raises(ValueError, match="classes_present must be in 0..2"):
        Coverage(classes_present=3, min_ratio=0.0, frequencies=(0.5, 0.5))


# --- bits per dimension ------------------------------------------------------------------


def test_uniform_over_17_levels_is_log2_17_bits() -> None:
    d = 64
    nats = torch.full((10,), -d * math.log(17))
    assert bits_per_dim(nats, d) == pytest.approx(math.log2(17))


def test_a_standard_normal_scores_half_log2_of_two_pi_e() -> None:
    # E[-log N(x; 0, I_D)] = D/2 log(2 pi e), so bits/dim = log2(2 pi e) / 2 = 2.047.
    d = 16
    x = torch.randn(20_000, d, generator=_generator(10), dtype=torch.float64)
    nats = (-0.5 * x**2 - 0.5 * math.log(2 * math.pi)).sum(1)  # log N(x; 0, I), (N,)
    # Per-dim variance of -log p is 1/2 nats^2, so the standard error is tiny.
    assert bits_per_dim(nats, d) == pytest.approx(0.5 * math.log2(2 * math.pi * math.e), abs=0.01)


def test_dequantised_density_matches_the_discrete_model_through_bin_width() -> None:
    # The uniform density on [0, 1)^D, seen by a model of z = (x + u) / 17, has
    # log p(z) = 0; the cells have width 1/17, so it must score log2(17) bits/dim
    # like the uniform discrete distribution over 17 levels.
    d = 64
    assert bits_per_dim(torch.zeros(5), d, bin_width=1 / 17) == pytest.approx(math.log2(17))
    # Rescaling by 1/16 adds exactly log2(16) = 4 bits per dimension.
    nats = torch.tensor([-100.0, -120.0])
    shift = bits_per_dim(nats, d, bin_width=1 / 16) - bits_per_dim(nats, d)
    assert shift == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("nats", "dimension", "bin_width", "error", "message"),
    [
        ([1.0], 4, 1.0, InputTypeError, "argument 'nats': got [1.0]"),
        (torch.tensor([1, 2]), 4, 1.0, InputTypeError, "got 'torch.int64'"),
        (torch.zeros(2, 3), 4, 1.0, InputError, "got (2, 3) (tuple); allowed: (N,)"),
        (torch.zeros(0), 4, 1.0, InputError, "got (0,)"),
        (torch.tensor([0.0, float("-inf")]), 4, 1.0, InputError, "holds NaN or inf"),
        (torch.zeros(2), 0, 1.0, InvalidArgumentError, "'dimension': got 0 (int)"),
        (torch.zeros(2), 4.0, 1.0, ArgumentTypeError, "'dimension': got 4.0 (float)"),
        (torch.zeros(2), 4, 0.0, InvalidArgumentError, "'bin_width': got 0.0"),
        (torch.zeros(2), 4, "1/16", ArgumentTypeError, "'bin_width': got '1/16'"),
    ],
)
def test_bits_per_dim_rejects_bad_arguments(
    nats: object, dimension: object, bin_width: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        bits_per_dim(nats, dimension, bin_width=bin_width)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_image_errors_name_the_metric_called() -> None:
    floats = torch.zeros(3, 8, 8)
    with pytest.raises(InputTypeError, match=r"dtype of conditional_accuracy\(\) argument"):
        conditional_accuracy(floats, 0)
    with pytest.raises(InputTypeError, match=r"dtype of mode_coverage\(\) argument"):
        mode_coverage(floats)
