"""Sample-quality metrics: Frechet distance, conditional accuracy, mode coverage, bits/dim.

* :func:`frechet_distance` -- the Frechet (2-Wasserstein) distance between two
  Gaussians fitted to feature sets (Heusel et al. 2017, the "FID").
* :func:`digits_frechet`, :func:`frechet_floor` -- the same in the feature space
  of the reference digits classifier, against a digits split; the floor is the
  distance between the test and train splits, the best a model can hope for.
* :func:`conditional_accuracy` -- how often a conditional model draws the class
  it was asked for, as judged by the reference classifier.
* :func:`mode_coverage` -- which classes appear in a set of samples and how
  evenly: mode collapse (Goodfellow 2016, "NIPS 2016 Tutorial: Generative
  Adversarial Networks", section 5.1.1) measured.
* :func:`bits_per_dim` -- negative log-likelihood per dimension in bits, with the
  dequantisation convention that makes continuous and discrete models comparable.
"""

from __future__ import annotations

import difflib
import functools
import math
from typing import Any, Literal, cast, get_args

import attrs
import torch
from torch import Tensor

from genproto.errors import ArgumentTypeError, InputError, InputTypeError, InvalidArgumentError
from genproto.metrics._checks import (
    NUM_CLASSES,
    check_features,
    check_labels,
    check_levels,
    check_num_classes,
)
from genproto.metrics.classifier import classifier_features, classify

__all__ = [
    "Coverage",
    "ReferenceSplit",
    "bits_per_dim",
    "conditional_accuracy",
    "digits_frechet",
    "frechet_distance",
    "frechet_floor",
    "mode_coverage",
]

ReferenceSplit = Literal["test", "train"]
_REFERENCES: tuple[str, ...] = get_args(ReferenceSplit)


# ---------------------------------------------------------------------------
# Frechet distance
# ---------------------------------------------------------------------------


def _moments(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``(F,)`` and unbiased covariance ``(F, F)`` of float64 rows ``(N, F)``."""
    mu = features.mean(0)  # (F,)
    centred = features - mu  # (N, F)
    sigma = centred.T @ centred / (features.shape[0] - 1)  # (F, F), as numpy.cov
    return mu, sigma


def _psd_sqrt(sigma: Tensor) -> Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    eigenvalues, vectors = torch.linalg.eigh(sigma)
    root = eigenvalues.clamp(min=0).sqrt()  # rounding can leave tiny negatives
    result: Tensor = (vectors * root) @ vectors.T
    return result


def _frechet(mu_a: Tensor, sigma_a: Tensor, mu_b: Tensor, sigma_b: Tensor) -> float:
    # 1. The distance between the means: ||mu_a - mu_b||^2.
    mean_term = float(((mu_a - mu_b) ** 2).sum())
    # 2. tr (Sigma_a Sigma_b)^(1/2) = tr (S Sigma_b S)^(1/2) with S = Sigma_a^(1/2):
    #    S Sigma_b S is similar to Sigma_a Sigma_b (conjugate by S when it is
    #    invertible, by continuity otherwise), so both have the same eigenvalues,
    #    and S Sigma_b S is symmetric PSD, so eigvalsh applies and is stable.
    root_a = _psd_sqrt(sigma_a)
    middle = root_a @ sigma_b @ root_a
    middle = (middle + middle.T) / 2  # symmetric up to rounding; make it exact
    trace_root = float(torch.linalg.eigvalsh(middle).clamp(min=0).sqrt().sum())
    # 3. d^2 = ||mu_a - mu_b||^2 + tr(Sigma_a) + tr(Sigma_b) - 2 tr (Sigma_a Sigma_b)^(1/2).
    distance = mean_term + float(sigma_a.trace() + sigma_b.trace()) - 2 * trace_root
    return max(distance, 0.0)  # >= 0 in exact arithmetic


def frechet_distance(a_features: Tensor, b_features: Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(N, F)`` and ``(M, F)``.

    Measures how far apart two sample sets are in a feature space, through the
    first two moments only: with means mu and covariances Sigma (unbiased,
    as ``numpy.cov``),

        d^2 = ||mu_a - mu_b||^2 + tr(Sigma_a + Sigma_b - 2 (Sigma_a Sigma_b)^(1/2)),

    the squared 2-Wasserstein distance between N(mu_a, Sigma_a) and
    N(mu_b, Sigma_b) (Dowson & Landau 1982), used as the "FID" by Heusel et al.
    2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium". It is the *squared* distance, as FID is, and 0 for identical sets.

    Computed in float64; the trace of the matrix square root comes from the
    eigenvalues of Sigma_a^(1/2) Sigma_b Sigma_a^(1/2) (symmetric, so stable even
    when the covariances are singular, e.g. with fewer rows than features).
    The estimate is biased upwards for finite N and M; compare numbers computed
    from equally many samples.

    Raises:
        InputTypeError: an argument is not a real tensor.
        InputError: not 2-D, fewer than 2 rows, non-finite values, or the two
            feature dimensions differ.
    """
    a = check_features(a_features, "frechet_distance() argument 'a_features'")
    b = check_features(b_features, "frechet_distance() argument 'b_features'")
    if a.shape[1] != b.shape[1]:
        raise InputError(
            "frechet_distance(): feature dimensions of 'a_features' and 'b_features' differ",
            value=(int(a.shape[1]), int(b.shape[1])),
            allowed="two feature sets with the same number of columns",
            fix="Compute both with the same feature extractor",
        )
    return _frechet(*_moments(a), *_moments(b))


@functools.cache
def _split_moments(split: ReferenceSplit) -> tuple[Tensor, Tensor]:
    from genproto.data import load_digits

    features = classifier_features(load_digits(split).x).double()  # (N, 128)
    return _moments(features)


def _check_reference(reference: Any) -> ReferenceSplit:
    if not isinstance(reference, str) or reference not in _REFERENCES:
        close = (
            difflib.get_close_matches(reference, _REFERENCES, n=1)
            if isinstance(reference, str)
            else []
        )
        raise InvalidArgumentError(
            "digits_frechet() argument 'reference'",
            value=reference,
            allowed=" | ".join(repr(r) for r in _REFERENCES),
            fix=f"Did you mean {close[0]!r}?" if close else "Pass one of the digits splits",
        )
    return cast(ReferenceSplit, reference)


def digits_frechet(samples: Tensor, reference: ReferenceSplit = "test") -> float:
    """Frechet distance between digit samples and a digits split, in classifier features.

    Measures sample quality and diversity together, the way FID does (Heusel
    et al. 2017), with the reference digits classifier's 128 penultimate
    activations in place of Inception features. ``samples`` are levels
    ``(N, 8, 8)`` in ``0..16``, ``N >= 2``; ``reference`` is the ``"test"``
    split (359 images, the default) or the ``"train"`` split (1,438).

    Compare it with :func:`frechet_floor`, and compare models at equal ``N``:
    the estimate shrinks as ``N`` grows.
    """
    x = check_levels(samples, "digits_frechet() argument 'samples'")
    split = _check_reference(reference)
    if x.shape[0] < 2:
        raise InputError(
            "digits_frechet() argument 'samples' has too few images",
            value=int(x.shape[0]),
            allowed="at least 2 images (a covariance needs two)",
            fix="Draw hundreds of samples; the test split has 359",
        )
    features = check_features(classifier_features(x), "classifier features of 'samples'")
    return _frechet(*_moments(features), *_split_moments(split))


@functools.cache
def frechet_floor() -> float:
    """Frechet distance between the digits test and train splits in classifier features.

    The distance a perfect model's samples would show against the test split,
    up to sample-size effects: two independent draws of real digits are this
    far apart. Positive because both splits are finite samples (359 and 1,438
    images) and because the classifier was trained on the train split.
    """
    return _frechet(*_split_moments("test"), *_split_moments("train"))


# ---------------------------------------------------------------------------
# conditional accuracy and mode coverage
# ---------------------------------------------------------------------------


def conditional_accuracy(samples: Tensor, labels: Tensor | int) -> float:
    """Fraction of conditional samples the reference classifier assigns to the class asked for.

    Measures whether a class-conditional model obeys its condition: draw
    ``samples`` (levels ``(N, 8, 8)``) with ``condition=labels`` and pass both
    here. ``labels`` is one int for all samples or an integer tensor ``(N,)``
    in ``0..9``. Real test digits with their true labels score the
    classifier's own test accuracy (about 0.99); a model that ignores its
    condition scores about 0.1. (The "classification accuracy score" of
    Ravuri & Vinyals 2019 swaps the roles: it trains on samples, tests on data.)
    """
    predicted = classify(check_levels(samples, "conditional_accuracy() argument 'samples'"))
    y = check_labels(
        labels, len(predicted), "conditional_accuracy() argument 'labels'", broadcast=True
    )
    return float((predicted == y.to(predicted.device)).double().mean())


def _frequencies(value: Any) -> tuple[float, ...]:
    freqs = tuple(float(f) for f in value)
    if not freqs or any(not 0.0 <= f <= 1.0 for f in freqs) or abs(sum(freqs) - 1.0) > 1e-6:
        raise ValueError(f"frequencies must be >= 1 values in [0, 1] summing to 1 (got {value!r})")
    return freqs


@attrs.frozen
class Coverage:
    """How many classes a set of samples covers, and how evenly.

    Attributes:
        classes_present: number of classes with at least one sample.
        min_ratio: the rarest class's frequency divided by the uniform
            frequency 1/num_classes: 1.0 for perfectly balanced classes, 0.0
            when a class is missing (a dropped mode).
        frequencies: the fraction of samples in each class, class 0 first.
    """

    classes_present: int = attrs.field(validator=attrs.validators.instance_of(int))
    min_ratio: float = attrs.field(validator=attrs.validators.instance_of(float))
    frequencies: tuple[float, ...] = attrs.field(converter=_frequencies)

    def __attrs_post_init__(self) -> None:
        k = len(self.frequencies)
        if not 0 <= self.classes_present <= k:
            raise ValueError(f"classes_present must be in 0..{k} (got {self.classes_present})")
        if not 0.0 <= self.min_ratio <= 1.0:
            raise ValueError(f"min_ratio must be in [0, 1] (got {self.min_ratio})")

    @property
    def num_classes(self) -> int:
        return len(self.frequencies)

    @property
    def fraction_present(self) -> float:
        """``classes_present / num_classes``: 1.0 when every class appears."""
        return self.classes_present / self.num_classes

    def describe(self) -> str:
        return (
            f"{self.classes_present}/{self.num_classes} classes present, "
            f"rarest at {self.min_ratio:.2f} of uniform"
        )


def mode_coverage(samples_or_predicted_labels: Tensor, num_classes: int = NUM_CLASSES) -> Coverage:
    """Class coverage of a set of samples: the mode-collapse failure mode, measured.

    A generator that has collapsed onto a few modes (Goodfellow 2016, section
    5.1.1; Salimans et al. 2016 motivate the Inception Score's class-marginal
    term by the same concern) draws some classes rarely or never. Pass digit
    images (levels ``(N, 8, 8)``; the reference classifier labels them, and
    ``num_classes`` must be 10) or labels already predicted (integer ``(N,)`` in
    ``0..num_classes-1``). The real test split covers all 10 digits with
    ``min_ratio`` about 0.97.
    """
    what = "mode_coverage() argument 'samples_or_predicted_labels'"
    k = check_num_classes(num_classes)
    x = samples_or_predicted_labels
    if isinstance(x, torch.Tensor) and x.ndim == 3:
        if k != NUM_CLASSES:
            raise InvalidArgumentError(
                "mode_coverage() argument 'num_classes' with digit images",
                value=k,
                allowed=f"{NUM_CLASSES} (the reference classifier's classes)",
                fix="Drop num_classes, or pass predicted labels instead of images",
            )
        labels = classify(check_levels(x, what))
    elif isinstance(x, torch.Tensor) and x.ndim == 1:
        labels = check_labels(x, len(x), what, num_classes=k)
    else:
        if not isinstance(x, torch.Tensor):
            raise InputTypeError(
                what, value=x, allowed="digit levels (N, 8, 8) or labels (N,) as a tensor"
            )
        raise InputError(
            f"shape of {what}",
            value=tuple(x.shape),
            allowed="digit levels (N, 8, 8) or predicted labels (N,)",
        )
    if len(labels) == 0:
        raise InputError(f"{what} is empty", value=0, allowed="at least one sample")
    counts = torch.bincount(labels.cpu(), minlength=k)  # (k,)
    frequencies = counts.double() / len(labels)
    return Coverage(
        classes_present=int((counts > 0).sum()),
        min_ratio=min(float(frequencies.min()) * k, 1.0),  # <= 1; guard rounding
        frequencies=tuple(frequencies.tolist()),
    )


# ---------------------------------------------------------------------------
# bits per dimension
# ---------------------------------------------------------------------------


def bits_per_dim(nats: Tensor, dimension: int, *, bin_width: float = 1.0) -> float:
    """Negative log-likelihood per dimension in bits: ``mean(-nats) / (D ln 2)``.

    Measures how well a model with a likelihood compresses the data: the
    average code length per scalar, lower is better. ``nats`` holds
    ``log_likelihood`` values, one per sample (shape ``(N,)``), and
    ``dimension`` is D, the scalars per sample (``EventSpace.dimension``, 64 for
    a digit). A uniform distribution over the 17 levels scores
    log2(17) = 4.09 bits/dim; beating that is the least a model must do.

    **Discrete and continuous models on the same data.** A discrete model
    (autoregressive over levels) gives probabilities P(x) <= 1, so bits/dim >= 0.
    A continuous model gives a *density* p, whose value depends on the units of
    the data and can exceed 1. The two become comparable by uniform
    dequantisation (Theis, van den Oord & Bethge 2016, "A note on the
    evaluation of generative models", section 3.1): let the model see
    ``z = (x + u) * delta`` with ``u ~ U[0, 1)^D``, where ``delta`` is the width of
    one level's cell in the model's units (``delta = 1/16`` for ``z = (x+u)/16``,
    ``1/17`` for ``z = (x+u)/17`` in ``[0, 1)``). The discrete distribution
    ``P(x) = integral of p(z) over the cell of x`` then satisfies, by Jensen,

        log P(x) = log E_u[p(z) delta^D] >= E_u[log p(z)] + D log delta,

    so ``log p(z) + D log delta`` is a (stochastic) lower bound on log P(x), and
    the bits/dim computed from it an upper bound on the discrete model's. Pass
    the raw ``log p(z)`` as ``nats`` and the cell width as ``bin_width``; this
    function adds ``D log(bin_width)`` nats, i.e. ``log2(1/bin_width)`` bits per
    dimension (4 bits for ``bin_width=1/16``). The default ``bin_width=1``
    leaves ``nats`` unchanged: right for discrete log-probabilities and for
    densities over the level values themselves (unit-width cells). A density
    evaluated at the levels without dequantisation noise is not a bound on
    anything and must not be compared.

    Raises:
        InputTypeError: ``nats`` is not a real tensor.
        InputError: ``nats`` is not 1-D and non-empty, or holds NaN/inf.
        ArgumentTypeError, InvalidArgumentError: ``dimension`` is not an int
            >= 1, or ``bin_width`` is not a finite number > 0.
    """
    what = "bits_per_dim() argument 'nats'"
    if not isinstance(nats, torch.Tensor):
        raise InputTypeError(
            what, value=nats, allowed="a real tensor of log-likelihoods, shape (N,)",
            fix="Pass model.log_likelihood(x) as it is",
        )
    if not nats.is_floating_point():
        raise InputTypeError(
            f"dtype of {what}", value=str(nats.dtype), allowed="a floating-point tensor"
        )
    if nats.ndim != 1 or nats.shape[0] < 1:
        raise InputError(
            f"shape of {what}",
            value=tuple(nats.shape),
            allowed="(N,) with N >= 1: one log-likelihood per sample",
            fix="Pass the per-sample values, not their sum or a matrix",
        )
    if not bool(torch.isfinite(nats).all()):
        raise InputError(
            f"{what} holds NaN or inf", allowed="finite log-likelihoods",
            fix="Check the model: a finite density gives finite log-likelihoods",
        )
    if isinstance(dimension, bool) or not isinstance(dimension, int):
        raise ArgumentTypeError(
            "bits_per_dim() argument 'dimension'", value=dimension,
            allowed="an int >= 1 (e.g. model.capabilities.event.dimension)",
        )
    if dimension < 1:
        raise InvalidArgumentError(
            "bits_per_dim() argument 'dimension'", value=dimension, allowed="an int >= 1"
        )
    if isinstance(bin_width, bool) or not isinstance(bin_width, int | float):
        raise ArgumentTypeError(
            "bits_per_dim() argument 'bin_width'", value=bin_width, allowed="a float > 0"
        )
    if not (math.isfinite(bin_width) and bin_width > 0):
        raise InvalidArgumentError(
            "bits_per_dim() argument 'bin_width'", value=bin_width,
            allowed="a finite float > 0: the width of one level's cell in the model's units",
        )
    mean_nats = float(nats.double().mean()) + dimension * math.log(bin_width)
    return -mean_nats / (dimension * math.log(2))
