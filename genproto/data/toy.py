"""Procedural 2-D densities with exact log-densities, for ground-truth tests.

Each density knows its own ``log_prob`` in closed form, so a model trained on
its samples can be scored against the truth (the gap in mean log-likelihood is
the KL divergence) and a sampler can be checked against the density itself.

==================  ============================================================
name                density
==================  ============================================================
``eight_gaussians`` 8 equal-weight isotropic Gaussians, std 0.2, centred at
                    ``2 (cos(2 pi k / 8), sin(2 pi k / 8))``, k = 0..7 (the ring
                    of Grathwohl et al., 2019, FFJORD, at radius 2).
``two_moons``       64 equal-weight isotropic Gaussians, std 0.1, centred at 32
                    evenly spaced points on each of the two half circles of
                    scikit-learn's ``make_moons`` (upper arc ``(cos t, sin t)``,
                    lower arc ``(1 - cos t, 1/2 - sin t)``, t in [0, pi]),
                    shifted by ``(-1/2, -1/4)`` to centre the figure. The
                    centres are 0.10 apart along each arc, one std, so the
                    density is smooth along the arcs; unlike "arc + noise" it
                    has an exact log-density.
``grid25``          25 equal-weight isotropic Gaussians, std 0.1, centred on the
                    5x5 grid ``{-2, -1, 0, 1, 2}^2``: the standard test of mode
                    collapse (the 2-D grid of Dumoulin et al., 2017, ALI, and
                    Srivastava et al., 2017, VEEGAN), here with centres 10 stds
                    apart, so the density between two modes is ``exp(-12.5)``
                    of its peak and a sample belongs to one mode unambiguously.
``checkerboard``    uniform on the 8 black squares of a 4x4 board of unit
                    squares on [-2, 2]^2; square ``[a, a+1) x [b, b+1)`` (a, b
                    integers) is black when ``a + b`` is even, so the corner
                    square at (-2, -2) is black. ``log_prob`` is ``-log 8`` on
                    the black squares and ``-inf`` elsewhere (white squares and
                    outside the board); squares are half-open, which only moves
                    the boundary, a set of measure zero.
``gaussian``        one correlated Gaussian, mean ``(0.5, -0.5)``, covariance
                    ``[[1.0, 0.6], [0.6, 0.5]]`` (correlation 0.85).
==================  ============================================================

Samplers draw only from the ``torch.Generator`` they are given, never from the
global RNG. Log-densities are in nats and are computed in the dtype of ``x``
(pass float64 for accurate numerical integration).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import attrs
import torch
from torch import distributions as D

from genproto.data.dataset import Dataset
from genproto.errors import ArgumentTypeError, InputError, InputTypeError, InvalidArgumentError
from genproto.protocol import EventSpace

__all__ = [
    "TOY2D_EVENT",
    "TOY2D_NAMES",
    "Checkerboard2D",
    "GaussianMixture2D",
    "Toy2D",
    "load_toy2d",
    "toy2d",
]

#: Every toy density lives in the plane.
TOY2D_EVENT = EventSpace.continuous((2,))

Pair = tuple[float, float]

_CHUNK = 65_536  # rows of x per step of GaussianMixture2D.log_prob


@runtime_checkable
class Toy2D(Protocol):
    """A 2-D density with an exact ``log_prob`` and a sampler on an explicit generator."""

    @property
    def name(self) -> str:
        """The name :func:`toy2d` builds it under."""
        ...

    @property
    def description(self) -> str:
        """One line saying what the density is."""
        ...

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` in nats for ``x`` of shape ``(N, 2)``; shape ``(N,)``, dtype of ``x``."""
        ...

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` float32 samples, shape ``(n, 2)``, drawn only from ``generator``."""
        ...


def _check_points(x: Any, who: str) -> torch.Tensor:
    """Return ``x`` if it is a finite floating tensor of shape ``(N, 2)``, else raise."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise InputTypeError(
            f"{who}.log_prob() argument 'x'",
            value=x if not isinstance(x, torch.Tensor) else f"tensor of dtype {x.dtype}",
            allowed="a floating-point torch.Tensor of shape (N, 2)",
            fix="Convert with torch.as_tensor(x, dtype=torch.float64)",
        )
    if x.dim() != 2 or x.shape[1] != 2:
        raise InputError(
            f"{who}.log_prob() argument 'x' shape",
            value=tuple(x.shape),
            allowed="(N, 2)",
            fix="Stack the points as rows, e.g. x.reshape(-1, 2)",
        )
    if not bool(torch.isfinite(x).all()):
        raise InputError(
            f"{who}.log_prob() argument 'x' has NaN or infinite values",
            allowed="finite values",
            fix="Drop the non-finite rows",
        )
    return x


def _check_sample_args(n: Any, generator: Any, who: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise ArgumentTypeError(f"{who}.sample() argument 'n'", value=n, allowed="an int >= 0")
    if n < 0:
        raise InvalidArgumentError(f"{who}.sample() argument 'n'", value=n, allowed="an int >= 0")
    if not isinstance(generator, torch.Generator):
        raise ArgumentTypeError(
            f"{who}.sample() argument 'generator'",
            value=generator,
            allowed="a torch.Generator",
            fix="Pass torch.Generator().manual_seed(seed); the global RNG is never used",
        )


def _means(value: Any) -> tuple[Pair, ...]:
    try:
        means = tuple((float(a), float(b)) for a, b in value)
    except (TypeError, ValueError):
        means = ()
    if not means or not all(map(math.isfinite, (v for pair in means for v in pair))):
        raise InvalidArgumentError(
            "GaussianMixture2D 'means'",
            value=value,
            allowed="at least one finite (x, y) pair",
            fix="Pass the centres as a sequence of pairs, e.g. [(0.0, 1.0), (1.0, 0.0)]",
        )
    return means


def _covariance(value: Any) -> tuple[Pair, Pair]:
    try:
        (a, b), (c, d) = value
        cov = ((float(a), float(b)), (float(c), float(d)))
    except (TypeError, ValueError):
        cov = ((math.nan, 0.0), (0.0, math.nan))
    # symmetric, and positive definite by Sylvester's criterion (the NaN case fails it)
    if not (cov[0][1] == cov[1][0] and cov[0][0] > 0 and cov[0][0] * cov[1][1] > cov[0][1] ** 2):
        raise InvalidArgumentError(
            "GaussianMixture2D 'covariance'",
            value=value,
            allowed="a symmetric positive-definite 2x2 matrix ((a, b), (b, c))",
            fix="Use a > 0 and a * c > b ** 2",
        )
    return cov


@attrs.frozen
class GaussianMixture2D:
    """An equal-weight mixture of K 2-D Gaussians that share one covariance ``S = L L^T``.

    ``p(x) = (1/K) sum_k N(x; mu_k, S)``. With the whitened points ``z = L^-1 x``
    and centres ``m_k = L^-1 mu_k`` (a change of variables with Jacobian ``|L|``)::

        log p(x) = logsumexp_k(-|z - m_k|^2 / 2) - log K - log(2 pi) - log |L|

    which is what :meth:`log_prob` computes; it equals
    ``torch.distributions.MixtureSameFamily`` of ``MultivariateNormal`` s
    (:meth:`distribution`, checked by the tests) at about half the cost.
    """

    name: str
    means: tuple[Pair, ...] = attrs.field(converter=_means)
    covariance: tuple[Pair, Pair] = attrs.field(converter=_covariance)
    description: str = ""

    def _tensors(
        self, dtype: torch.dtype, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The centres ``mu`` (K, 2) and the Cholesky factor ``L`` (2, 2) of the covariance."""
        loc = torch.tensor(self.means, dtype=torch.float64)  # (K, 2)
        cov = torch.tensor(self.covariance, dtype=torch.float64)  # (2, 2)
        scale_tril = torch.linalg.cholesky(cov)  # (2, 2), L L^T = S
        return loc.to(device, dtype), scale_tril.to(device, dtype)

    def distribution(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
    ) -> D.Distribution:
        """The same density as a ``torch.distributions.MixtureSameFamily``.

        Use it for its ``log_prob`` only: its ``sample`` draws from the global
        RNG, which :meth:`sample` never touches.
        """
        loc, scale_tril = self._tensors(dtype, torch.device(device))
        k = loc.shape[0]
        return D.MixtureSameFamily(
            D.Categorical(logits=torch.zeros(k, dtype=dtype, device=loc.device)),
            D.MultivariateNormal(loc, scale_tril=scale_tril.expand(k, 2, 2)),
        )

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_points(x, self.name)
        loc, scale_tril = self._tensors(x.dtype, x.device)
        # 1. whiten points and centres: z = L^-1 x, m = L^-1 mu
        z = torch.linalg.solve_triangular(scale_tril, x.T, upper=False).T  # (N, 2)
        m = torch.linalg.solve_triangular(scale_tril, loc.T, upper=False).T  # (K, 2)
        # 2. log normaliser of each component, shared: log K + log 2 pi + log |L|
        log_norm = math.log(m.shape[0]) + math.log(2 * math.pi) + scale_tril.diagonal().log().sum()
        # 3. log-sum-exp over components, in row chunks to bound memory at N x K x 2
        out = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)  # (N,)
        for start in range(0, x.shape[0], _CHUNK):
            rows = slice(start, start + _CHUNK)
            sq = (z[rows].unsqueeze(1) - m).square().sum(-1)  # (n, K)
            out[rows] = torch.logsumexp(-0.5 * sq, dim=1) - log_norm
        return out

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        _check_sample_args(n, generator, self.name)
        device = generator.device
        loc, scale_tril = self._tensors(torch.float32, device)
        # 1. a component per sample, uniformly (equal weights)
        k = torch.randint(0, loc.shape[0], (n,), generator=generator, device=device)  # (n,)
        # 2. standard normal noise, coloured by the shared Cholesky factor: x = mu_k + L eps
        eps = torch.randn(n, 2, generator=generator, device=device)  # (n, 2)
        return loc[k] + eps @ scale_tril.T  # (n, 2)


#: Lower-left corners of the black unit squares of the 4x4 board on [-2, 2]^2.
_BLACK_CORNERS: tuple[Pair, ...] = tuple(
    (float(a), float(b)) for a in range(-2, 2) for b in range(-2, 2) if (a + b) % 2 == 0
)


@attrs.frozen
class Checkerboard2D:
    """Uniform on the 8 black unit squares of a 4x4 board on [-2, 2]^2 (density 1/8)."""

    name: str = "checkerboard"
    description: str = "uniform on the 8 black squares of a 4x4 board on [-2, 2]^2"

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_points(x, self.name)
        cell = torch.floor(x)  # (N, 2) integer lower-left corners; exact, no shift
        on_board = ((x >= -2) & (x < 2)).all(dim=1)  # (N,)
        black = torch.remainder(cell.sum(dim=1), 2) == 0  # (N,)
        inside = torch.full_like(x[:, 0], -math.log(len(_BLACK_CORNERS)))
        return torch.where(on_board & black, inside, torch.full_like(inside, -math.inf))

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        _check_sample_args(n, generator, self.name)
        device = generator.device
        corners = torch.tensor(_BLACK_CORNERS, dtype=torch.float32, device=device)  # (8, 2)
        # 1. a black square per sample, uniformly (all have area 1)
        k = torch.randint(0, len(_BLACK_CORNERS), (n,), generator=generator, device=device)
        low = corners[k]  # (n, 2)
        # 2. a uniform point in it; rounding low + u up to low + 1 would leave the
        #    half-open square, so clamp to the largest float32 below low + 1.
        u = torch.rand(n, 2, generator=generator, device=device)  # (n, 2) in [0, 1)
        return torch.minimum(low + u, torch.nextafter(low + 1, low))


def _eight_gaussians() -> GaussianMixture2D:
    angles = [2 * math.pi * k / 8 for k in range(8)]
    return GaussianMixture2D(
        "eight_gaussians",
        means=[(2 * math.cos(a), 2 * math.sin(a)) for a in angles],
        covariance=((0.2**2, 0.0), (0.0, 0.2**2)),
        description="8 Gaussians (std 0.2) on a circle of radius 2",
    )


def _two_moons(per_moon: int = 32) -> GaussianMixture2D:
    ts = [math.pi * i / (per_moon - 1) for i in range(per_moon)]
    upper = [(math.cos(t) - 0.5, math.sin(t) - 0.25) for t in ts]
    lower = [(1 - math.cos(t) - 0.5, 0.5 - math.sin(t) - 0.25) for t in ts]
    return GaussianMixture2D(
        "two_moons",
        means=upper + lower,
        covariance=((0.1**2, 0.0), (0.0, 0.1**2)),
        description="64 Gaussians (std 0.1) along the two half circles of make_moons",
    )


def _grid25() -> GaussianMixture2D:
    return GaussianMixture2D(
        "grid25",
        means=[(float(a), float(b)) for a in range(-2, 3) for b in range(-2, 3)],
        covariance=((0.1**2, 0.0), (0.0, 0.1**2)),
        description="25 Gaussians (std 0.1) on the 5x5 grid {-2, -1, 0, 1, 2}^2",
    )


def _gaussian() -> GaussianMixture2D:
    return GaussianMixture2D(
        "gaussian",
        means=[(0.5, -0.5)],
        covariance=((1.0, 0.6), (0.6, 0.5)),
        description="a correlated Gaussian, mean (0.5, -0.5), covariance [[1, 0.6], [0.6, 0.5]]",
    )


_BUILDERS: dict[str, Callable[[], Toy2D]] = {
    "eight_gaussians": _eight_gaussians,
    "two_moons": _two_moons,
    "grid25": _grid25,
    "checkerboard": Checkerboard2D,
    "gaussian": _gaussian,
}

#: The names :func:`toy2d` accepts.
TOY2D_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def toy2d(name: str) -> Toy2D:
    """The toy density called ``name`` (one of :data:`TOY2D_NAMES`).

    Raises:
        InvalidArgumentError: an unknown name; the message suggests close matches.
    """
    builder = _BUILDERS.get(name) if isinstance(name, str) else None
    if builder is None:
        close = difflib.get_close_matches(name, TOY2D_NAMES, n=3) if isinstance(name, str) else []
        raise InvalidArgumentError(
            "unknown toy2d density",
            value=name,
            allowed=", ".join(repr(n) for n in TOY2D_NAMES),
            fix=f"Did you mean {', '.join(repr(c) for c in close)}?"
            if close
            else "Pick one of the allowed names",
        )
    return builder()


def load_toy2d(name: str, n: int = 10_000, seed: int = 0) -> Dataset:
    """``n`` samples of the toy density ``name`` drawn with ``seed``, as an unlabelled data set.

    The same ``(name, n, seed)`` always gives the same samples; the global RNG is
    untouched. The data set is named ``"toy2d/<name>"`` and has event space
    ``EventSpace.continuous((2,))``.

    Raises:
        InvalidArgumentError: an unknown name, ``n < 1`` or ``seed < 0``.
        ArgumentTypeError: ``n`` or ``seed`` is not an int.
    """
    density = toy2d(name)
    for arg, value, low in (("n", n, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArgumentTypeError(
                f"load_toy2d() argument {arg!r}", value=value, allowed=f"an int >= {low}"
            )
        if value < low:
            raise InvalidArgumentError(
                f"load_toy2d() argument {arg!r}", value=value, allowed=f"an int >= {low}"
            )
    x = density.sample(n, torch.Generator().manual_seed(seed))  # (n, 2)
    return Dataset(x=x, y=None, name=f"toy2d/{name}", event=TOY2D_EVENT)
