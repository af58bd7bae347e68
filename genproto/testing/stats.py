"""The statistics behind the contract suite's likelihood checks: bounds, tests and quadrature.

Every statistical check in :mod:`genproto.testing` runs on fixed seeds (so it never flakes) and
is sized for a false-alarm rate of at most ``1e-3``: the probability that a *correct* model fails
it, over the draw of the seed, is below that. The bounds are non-asymptotic where the range of the
variable is known:

* **Bernstein's inequality** (Bernstein 1924; Boucheron, Lugosi & Massart 2013, "Concentration
  Inequalities", thm 2.10): for the mean of N independent variables with ``|X_i - mu| <= b`` and
  average variance ``sigma^2``::

      P(|mean - mu| >= t) <= 2 exp(-N t^2 / (2 sigma^2 + 2 b t / 3))

  :func:`bernstein_radius` solves it for ``t`` at a given false-alarm rate ``delta``.
* **Goodness of fit on cells** (:func:`cell_fit`): the frequency of each of K cells against its
  probability, each cell at ``delta / K`` (Bonferroni), so all K hold together with probability
  at least ``1 - delta``. Unlike a chi-square test this needs no minimum expected count and no
  asymptotics.
* **Midpoint quadrature** (:func:`grid`): the integral of ``exp(log p)`` over a box in one or two
  dimensions. For smooth, rapidly decaying densities the midpoint rule converges faster than any
  power of the spacing (Trefethen & Weideman 2014, "The exponentially convergent trapezoidal
  rule", SIAM Review 56), so two resolutions that agree are a reliable error estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import torch

__all__ = [
    "FALSE_ALARM",
    "Grid",
    "bernstein_radius",
    "cell_fit",
    "enumerate_events",
    "grid",
    "normal_quantile",
]

#: The false-alarm rate every statistical check of the suite is sized for.
FALSE_ALARM = 1e-3


def bernstein_radius(n: int, variance: float, bound: float, delta: float) -> float:
    """The ``t`` with ``P(|mean - mu| >= t) <= delta`` by Bernstein's inequality.

    Args:
        n: number of independent variables averaged (>= 1).
        variance: their average variance (an upper bound is fine).
        bound: ``b`` with ``|X_i - mu| <= b`` almost surely.
        delta: the false-alarm rate, in (0, 1).
    """
    if n < 1 or not 0 < delta < 1:
        raise ValueError(f"bernstein_radius needs n >= 1 and 0 < delta < 1 (got {n}, {delta})")
    log_term = math.log(2 / delta)
    linear = 2 * bound * log_term / 3
    root = math.hypot(linear, math.sqrt(8 * n * log_term * max(variance, 0.0)))
    return (linear + root) / (2 * n)


def normal_quantile(p: float) -> float:
    """The standard normal quantile ``Phi^-1(p)``, for p in (0, 1)."""
    return float(torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))


@attrs.frozen
class CellFit:
    """The worst cell of a goodness-of-fit test (see :func:`cell_fit`)."""

    passed: bool
    cell: int
    frequency: float
    probability: float
    radius: float

    def describe(self) -> str:
        return (
            f"cell {self.cell}: sample frequency {self.frequency:.4f} vs probability "
            f"{self.probability:.4f} from the likelihood (allowed deviation {self.radius:.4f})"
        )


def cell_fit(
    counts: torch.Tensor, probabilities: torch.Tensor, *, delta: float, slack: torch.Tensor | None
) -> CellFit:
    """Test observed cell counts against cell probabilities, all cells at once.

    Cell ``k`` fails when ``|count_k / N - p_k| > t_k + slack_k`` with ``t_k`` the Bernstein radius
    of a Bernoulli(p_k) mean at ``delta / K``. The indicator of a cell has variance
    ``p (1 - p)`` and range ``max(p, 1 - p) <= 1`` around its mean; the counts may come from
    stratified draws (fixed numbers per class), whose variance is not larger. ``slack`` absorbs a
    known error in the probabilities (quadrature). Returns the cell furthest outside its radius
    (or the closest to it, when all pass).
    """
    n = int(counts.sum())
    k = counts.numel()
    freq = counts.double() / max(n, 1)
    prob = probabilities.double().clamp(0.0, 1.0)
    extra = torch.zeros_like(prob) if slack is None else slack.double()
    radius = torch.tensor(
        [
            bernstein_radius(n, float(p * (1 - p)), float(max(p, 1 - p)), delta / k)
            for p in prob.tolist()
        ],
        dtype=torch.float64,
    ) + extra
    excess = (freq - prob).abs() - radius
    worst = int(excess.argmax())
    return CellFit(
        passed=bool(excess[worst] <= 0),
        cell=worst,
        frequency=float(freq[worst]),
        probability=float(prob[worst]),
        radius=float(radius[worst]),
    )


def enumerate_events(shape: tuple[int, ...], levels: int) -> torch.Tensor:
    """Every event of a discrete space, ``(levels ** D, *shape)`` int64, in base-levels order."""
    dims = math.prod(shape)
    index = torch.arange(levels**dims, dtype=torch.int64)  # (K,)
    powers = levels ** torch.arange(dims - 1, -1, -1, dtype=torch.int64)  # (D,)
    digits = (index[:, None] // powers) % levels  # (K, D)
    return digits.reshape(-1, *shape)


@attrs.frozen
class Grid:
    """Midpoint quadrature of ``exp(log_density)`` on a box of a 1-D or 2-D space.

    Attributes:
        low, high: the box corners, ``(D,)``.
        size: points per axis.
        points: ``(size ** D, D)`` float32 midpoints, row-major (last axis fastest).
        log_p: ``(size ** D,)`` float64, the log-density at each point.
        mass: ``(size ** D,)`` float64, ``exp(log_density) * cell volume`` at each point.
    """

    low: torch.Tensor
    high: torch.Tensor
    size: int
    points: torch.Tensor
    log_p: torch.Tensor
    mass: torch.Tensor

    @property
    def total(self) -> float:
        """The integral over the box."""
        return float(self.mass.sum())

    @property
    def spacing(self) -> torch.Tensor:
        return (self.high - self.low) / self.size

    def axis_cells(self, edges: list[torch.Tensor]) -> torch.Tensor:
        """Cell number of each point for per-axis interior ``edges`` (cells in row-major order)."""
        cell = torch.zeros(self.points.shape[0], dtype=torch.int64)
        for d, cut in enumerate(edges):
            column = self.points[:, d].double().contiguous()
            cell = cell * (cut.numel() + 1) + torch.bucketize(column, cut)
        return cell


def grid(
    log_density: Callable[[torch.Tensor], torch.Tensor],
    low: torch.Tensor,
    high: torch.Tensor,
    size: int,
) -> Grid:
    """Evaluate ``log_density`` on a ``size ** D`` midpoint grid of the box ``[low, high]``."""
    dims = low.numel()
    if dims not in (1, 2):
        raise ValueError(f"quadrature is for 1-D or 2-D spaces (got {dims} dimensions)")
    low64, high64 = low.double(), high.double()
    step = (high64 - low64) / size  # (D,)
    axes = [low64[d] + (torch.arange(size, dtype=torch.float64) + 0.5) * step[d]
            for d in range(dims)]
    mesh = torch.meshgrid(*axes, indexing="ij")
    points = torch.stack([m.reshape(-1) for m in mesh], dim=1)  # (size^D, D)
    log_p = log_density(points.float()).double()  # (size^D,)
    volume = float(step.prod())
    mass = log_p.exp() * volume  # exp(-inf) = 0 outside the support; NaN and +inf stay
    return Grid(low64, high64, size, points.float(), log_p, mass)
