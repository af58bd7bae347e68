"""Measurements of a model of 2-D points against the data's exact density.

On the toy 2-D densities (:mod:`genproto.data.toy`) the truth is known, so a model is measured
against it rather than against itself or a classifier:

* :func:`kl_to_truth` -- ``KL(data || model) = E_data[log p_data(x) - log p_model(x)]`` estimated
  on held-out points with its standard error. The paired differences make the estimate much
  tighter than two separate means. For an exact log-likelihood it is an unbiased estimate; for a
  lower bound on the log-likelihood (ELBO, IWAE, a diffusion VLB) it is an *upper bound* on the
  KL; for an estimate (a probability-flow ODE) it is an estimate of an estimate.
* :func:`beats_truth` -- the "no model beats the truth" test. KL is never negative, so a mean
  declared log-likelihood above the data's own beyond its error means an unnormalised density or
  a bound that is not one. Flagged when the KL estimate plus ``z`` standard errors is below zero;
  with ``z`` = :data:`TRUTH_Z` = 3.09 a correct model is flagged with probability at most 0.1 %
  (one-sided normal tail; the central limit theorem for the mean of the differences).
* :func:`component_coverage` -- for a Gaussian-mixture density (the 5x5 grid), how many of its
  components the samples cover and the share of samples within 3 standard deviations of some
  component (precision): mode collapse measured against the truth (Srivastava et al. 2017,
  VEEGAN; Lin et al. 2018, PacGAN), for every paradigm, the GAN included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import torch

from genproto.errors import InputError, InvalidArgumentError
from genproto.protocol import Likelihood

__all__ = [
    "COVERED_SHARE",
    "PRECISION_RADIUS",
    "TRUTH_SLACK",
    "TRUTH_Z",
    "ComponentCoverage",
    "KLEstimate",
    "beats_truth",
    "component_coverage",
    "kl_to_truth",
]

#: Standard errors a KL estimate must sit below zero to flag a model (one-sided 0.1 % false alarm).
TRUTH_Z = 3.09
#: Nats of float rounding forgiven before a KL below zero counts (a model equal to the truth in
#: float32 can read a few 1e-7 below it).
TRUTH_SLACK = 1e-4
#: A sample is *precise* when its Mahalanobis distance to the nearest component is at most this.
PRECISION_RADIUS = 3.0
#: A component is *covered* when it holds at least this share of its fair share ``n / K`` of the
#: precise samples (0.05: 20 of the 400 a component expects in 10,000 samples of 25 modes).
COVERED_SHARE = 0.05


@attrs.frozen
class KLEstimate:
    """``KL(data || model)`` in nats from paired log-densities on held-out data.

    Attributes:
        value: mean of ``log p_data(x) - log p_model(x)`` over the points (``inf`` when the model
            gives some point zero density).
        stderr: its standard error (sample standard deviation / sqrt(n)).
        kind: the model's declared likelihood: ``EXACT`` makes ``value`` an unbiased estimate,
            ``BOUND`` an upper bound on the KL, ``ESTIMATE`` an estimate.
        n: points.
        data_log_prob: mean ``log p_data`` (minus the data's differential entropy).
        model_log_prob: mean ``log p_model`` as declared (exact, bound or estimate).
    """

    value: float
    stderr: float
    kind: Likelihood
    n: int
    data_log_prob: float
    model_log_prob: float

    @property
    def relation(self) -> str:
        """How :attr:`value` relates to the true KL: ``"="``, ``"<="`` (bound) or ``"~"``."""
        return {Likelihood.EXACT: "=", Likelihood.BOUND: "<="}.get(self.kind, "~")


def _vector(x: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 1 or not x.is_floating_point():
        raise InputError(what, value=getattr(x, "shape", x),
                         allowed="a 1-D floating tensor, one log-density per point")
    return x.double()


def kl_to_truth(log_p_data: torch.Tensor, log_p_model: torch.Tensor,
                kind: Likelihood = Likelihood.EXACT) -> KLEstimate:
    """``KL(data || model)`` from ``log p_data`` and the model's ``log p`` of the same points.

    The points must be drawn from the data density and not used in training. A ``-inf`` model
    log-density makes the KL infinite (the model misses part of the data's support), reported
    as ``inf`` with an infinite error; a NaN or a ``+inf`` is an :class:`InputError`.

    Raises:
        InputError: shapes differ, fewer than 2 points, NaN, ``+inf``, or a kind without a
            likelihood (``NONE``: there is nothing to compare).
    """
    data = _vector(log_p_data, "kl_to_truth() argument 'log_p_data'")
    model = _vector(log_p_model, "kl_to_truth() argument 'log_p_model'")
    if data.shape != model.shape or data.numel() < 2:
        raise InputError("kl_to_truth() arguments", value=(tuple(data.shape), tuple(model.shape)),
                         allowed="two vectors of the same length, at least 2 points")
    if kind is Likelihood.NONE:
        raise InputError("kl_to_truth() argument 'kind'", value=kind.value,
                         allowed="exact, bound or estimate",
                         fix="A model without a likelihood has no KL to measure; "
                         "use component_coverage on its samples")
    if bool(torch.isnan(model).any() or torch.isposinf(model).any() or ~torch.isfinite(data).all()):
        raise InputError("kl_to_truth() log-densities", value="NaN or +inf",
                         allowed="finite values (the model may give -inf)")
    n = int(data.numel())
    if bool(torch.isneginf(model).any()):
        return KLEstimate(math.inf, math.inf, kind, n, float(data.mean()), -math.inf)
    diff = data - model
    return KLEstimate(float(diff.mean()), float(diff.std(correction=1)) / math.sqrt(n), kind, n,
                      float(data.mean()), float(model.mean()))


def beats_truth(estimate: KLEstimate, *, z: float = TRUTH_Z, slack: float = TRUTH_SLACK) -> bool:
    """Whether the model's declared log-likelihood exceeds the truth's beyond its error.

    ``True`` means the model is broken: ``estimate.value + z * estimate.stderr < -slack``. For a
    correct exact or bound model the KL estimate's mean is at least 0, so this happens with
    probability at most the normal tail beyond ``z`` (0.1 % at the default).
    """
    return estimate.value + z * estimate.stderr < -slack


@attrs.frozen
class ComponentCoverage:
    """How samples spread over a Gaussian mixture's components.

    Attributes:
        components: K, the mixture's components (25 on the grid).
        covered: components holding at least ``threshold`` precise samples.
        precision: share of samples within :data:`PRECISION_RADIUS` standard deviations
            (Mahalanobis) of their nearest component.
        counts: precise samples per component, in the mixture's order.
        threshold: the precise samples a component needs to count as covered.
        balance_kl: ``KL(share of precise samples per component || uniform)`` in nats: 0 when
            the covered components are equally used, ``log K`` when one holds everything.
        n: samples.
    """

    components: int
    covered: int
    precision: float
    counts: tuple[int, ...]
    threshold: int
    balance_kl: float
    n: int


def component_coverage(samples: torch.Tensor, means: Sequence[tuple[float, float]] | torch.Tensor,
                       covariance: Sequence[Sequence[float]] | torch.Tensor, *,
                       radius: float = PRECISION_RADIUS,
                       covered_share: float = COVERED_SHARE) -> ComponentCoverage:
    """Components covered and precision of ``samples`` (N, 2) against a mixture's components.

    Each sample is assigned to its nearest component in the metric of the shared ``covariance``
    and is *precise* when that distance is at most ``radius`` standard deviations. A component
    is covered when its precise samples reach ``max(1, ceil(covered_share * N / K))``.
    Non-finite samples count as imprecise.

    Raises:
        InputError: ``samples`` is not ``(N, 2)`` with N >= 1.
        InvalidArgumentError: no means, a covariance that is not 2x2 positive definite, or a
            radius or share that is not positive.
    """
    if not isinstance(samples, torch.Tensor) or samples.dim() != 2 or samples.shape[1] != 2 \
            or samples.shape[0] < 1:
        raise InputError("component_coverage() argument 'samples'",
                         value=getattr(samples, "shape", samples),
                         allowed="a tensor (N, 2), N >= 1")
    mu = torch.as_tensor(means, dtype=torch.float64)
    cov = torch.as_tensor(covariance, dtype=torch.float64)
    if mu.dim() != 2 or mu.shape[1] != 2 or mu.shape[0] < 1:
        raise InvalidArgumentError("component_coverage() argument 'means'",
                                   value=tuple(mu.shape), allowed="(K, 2), K >= 1")
    try:
        chol = torch.linalg.cholesky(cov)
    except RuntimeError:
        chol = None
    if cov.shape != (2, 2) or chol is None:
        raise InvalidArgumentError("component_coverage() argument 'covariance'",
                                   value=cov.tolist(), allowed="a 2x2 positive-definite matrix")
    for name, value in (("radius", radius), ("covered_share", covered_share)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise InvalidArgumentError(f"component_coverage() argument {name!r}", value=value,
                                       allowed="a finite number > 0")
    x = samples.detach().to("cpu", torch.float64)
    finite = torch.isfinite(x).all(dim=1)
    x = torch.where(finite[:, None], x, torch.zeros_like(x))
    # whiten, so Euclidean distance is the Mahalanobis distance of the shared covariance
    z = torch.linalg.solve_triangular(chol, x.T, upper=False).T  # (N, 2)
    m = torch.linalg.solve_triangular(chol, mu.T, upper=False).T  # (K, 2)
    dist, nearest = torch.cdist(z, m).min(dim=1)  # (N,), (N,)
    precise = finite & (dist <= radius)
    k, n = int(mu.shape[0]), int(x.shape[0])
    counts = torch.bincount(nearest[precise], minlength=k)  # (K,)
    threshold = max(1, math.ceil(covered_share * n / k))
    total = int(counts.sum())
    if total:
        share = counts.double() / total
        used = share[share > 0]
        balance = float(math.log(k) + (used * used.log()).sum())
    else:
        balance = math.log(k)
    return ComponentCoverage(k, int((counts >= threshold).sum()), total / n,
                             tuple(int(c) for c in counts), threshold, max(balance, 0.0), n)
