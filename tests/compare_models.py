"""Small digits models with known answers, for the tests of ``genproto compare`` and ``classify``.

* :class:`Resampler` -- samples are digits of the test split, drawn with ``streams.randint``
  (of the asked class when conditional); its exact likelihood is the empirical distribution of
  the test split mixed with a little uniform mass. Its Frechet distance is small, its coverage
  is full, its conditional accuracy is the reference classifier's, its bits/dim are computable
  by hand, and as a generative classifier it looks every test image up: accuracy 1.
* ``collapse_to=c`` makes it always draw class ``c`` whatever it is asked (a collapsed GAN).
* ``calls`` sets how often it evaluates its network per batch, independently of the cost it
  declares (a model whose declaration is false).
* :class:`Denoiser` -- a ``steps`` option; with K steps it makes K network calls and replaces
  each pixel of a resampled digit by a random level with probability 1/K, so quality improves
  with K (a diffusion stand-in).
* :class:`Uniform` -- every pixel uniform over the 17 levels: log p(x) = -64 log 17 exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from genproto import Capabilities, ConditionSpec, EventSpace, Likelihood, Paradigm, SampleCost
from genproto.data import DIGITS_EVENT, load_digits
from genproto.model import Model
from genproto.options import Option
from genproto.streams import KeyedStreams

LEVELS = 17
CLASSES = 10
EPSILON = 1e-3  # weight of the uniform component of the Resampler's likelihood


class Counted(torch.nn.Module):
    """A network that does nothing but get counted by the sampler's forward hooks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def capabilities(paradigm: Paradigm = Paradigm.AUTOREGRESSIVE,
                 likelihood: Likelihood = Likelihood.EXACT,
                 cost: SampleCost | None = None, *, conditional: bool = True) -> Capabilities:
    return Capabilities(
        paradigms=(paradigm,),
        likelihood=likelihood,
        cost=cost or SampleCost.per_token(64),
        event=DIGITS_EVENT,
        condition=ConditionSpec(CLASSES, "digit class") if conditional else None,
        objective="none (a test model)",
        sampling="resample the test split",
    )


class OneNetwork(Model):
    """A test model whose one network, ``net``, is :class:`Counted` (the sampler counts it)."""

    def __init__(self, caps: Capabilities, *, name: str) -> None:
        super().__init__(caps, name=name)
        self.net = Counted()

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}


class Resampler(OneNetwork):
    """Test-split digits drawn by ``streams.randint`` (see the module docstring)."""

    def __init__(self, caps: Capabilities | None = None, *, name: str = "resampler",
                 calls: int | None = None, collapse_to: int | None = None) -> None:
        caps = caps or capabilities()
        super().__init__(caps, name=name)
        self.calls = caps.cost.evaluations if calls is None else calls
        self.collapse_to = collapse_to
        test = load_digits("test")
        assert test.y is not None
        order = torch.argsort(test.y, stable=True)
        self.images = test.x[order]  # (359, 8, 8), sorted by class
        self.labels = test.y[order]
        self.counts = torch.bincount(self.labels, minlength=CLASSES)  # (10,)
        self.starts = torch.cumsum(self.counts, 0) - self.counts  # (10,)
        # An exact integer hash of an image: sum of levels times 40-bit weights (< 2^50).
        self.weights = torch.randint(0, 2**40, (64,), generator=torch.Generator().manual_seed(0))
        self.keys = self._hash(self.images)  # (359,)

    def _hash(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(len(x), 64).to(torch.int64) * self.weights).sum(1)

    def _draw(self, streams: KeyedStreams, condition: torch.Tensor | None) -> torch.Tensor:
        b = len(streams)
        pick = streams.randint(2**32).reshape(b)  # (B,) one word per sample
        if self.collapse_to is not None:
            classes = torch.full((b,), self.collapse_to, dtype=torch.int64)
        elif condition is not None:
            classes = condition.to(torch.int64).cpu()
        else:
            classes = streams.fork("class").randint(CLASSES).reshape(b)
        rows = self.starts[classes] + pick % self.counts[classes]
        return self.images[rows].clone()  # (B, 8, 8)

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        x = self._draw(streams, condition)
        for _ in range(self.calls):
            x = self.net(x)
        return x

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        """log((1 - eps) * #{test images of class c equal to x} / n_c + eps * 17^-64)."""
        equal = self._hash(x.cpu())[:, None] == self.keys[None, :]  # (B, 359)
        if condition is None:  # an unconditional resampler: the whole split
            hits = equal.sum(1).double() / len(self.keys)
        else:
            same = self.labels[None, :] == condition[:, None].cpu()  # (B, 359)
            hits = (equal & same).sum(1).double() / self.counts[condition.cpu()].double()
        empirical = torch.log1p(torch.tensor(-EPSILON, dtype=torch.float64)) + hits.log()
        uniform = torch.full_like(empirical, math.log(EPSILON) - 64 * math.log(LEVELS))
        self.net(x)
        return torch.logaddexp(empirical, uniform).float()


def expected_marginal_bits_per_dim() -> float:
    """The Resampler's bits/dim on the test split, marginal over classes, computed directly."""
    test = load_digits("test")
    assert test.y is not None
    flat = test.x.reshape(len(test), -1)
    counts = torch.bincount(test.y, minlength=CLASSES).double()
    total = 0.0
    for i in range(len(test)):
        equal = (flat == flat[i]).all(1)
        p = 0.0
        for c in range(CLASSES):
            hits = float((equal & (test.y == c)).sum()) / float(counts[c])
            p += ((1 - EPSILON) * hits + EPSILON * LEVELS**-64) / CLASSES
        total += math.log(p)
    return -total / len(test) / (64 * math.log(2))


class Denoiser(Resampler):
    """K network calls; each pixel replaced by a random level with probability 1/K."""

    sample_options = (Option("steps", int, 16, "denoising steps K", minimum=1, maximum=64),)

    def __init__(self, *, name: str = "denoiser", likelihood: Likelihood = Likelihood.BOUND,
                 paradigm: Paradigm = Paradigm.DIFFUSION) -> None:
        super().__init__(capabilities(paradigm, likelihood, SampleCost.per_step(16)), name=name)

    def cost(self, **options: Any) -> SampleCost:
        return SampleCost.per_step(self.check_sample_options(options)["steps"])

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        k = options["steps"]
        x = self._draw(streams, condition)
        u = streams.uniform(8, 8)  # (B, 8, 8): the same draws whatever K is
        noise = streams.randint(LEVELS, 8, 8)  # (B, 8, 8)
        x = torch.where(u < 1.0 / k, noise, x)
        for _ in range(k):
            x = self.net(x)
        return x


class Uniform(OneNetwork):
    """Every pixel uniform over the 17 levels; ``log p(x) = -64 log 17 - gap`` (gap 0: exact)."""

    def __init__(self, *, name: str = "uniform", paradigm: Paradigm = Paradigm.LATENT_VARIABLE,
                 likelihood: Likelihood = Likelihood.EXACT, gap: float = 0.0,
                 conditional: bool = False) -> None:
        super().__init__(capabilities(paradigm, likelihood, SampleCost.single_pass(),
                                      conditional=conditional), name=name)
        self.gap = gap

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return self.net(streams.randint(LEVELS, 8, 8))

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return torch.full((len(x),), -64 * math.log(LEVELS) - self.gap)


class ContinuousUniform(OneNetwork):
    """A continuous 8x8 model: z uniform on [0, 17)^64, so log p(z) = -64 log 17 inside the cube.

    Dequantised digits (z = x + u) lie inside it, so its bits/dim at bin width 1 are exactly
    log2(17), and its samples read back as levels by flooring.
    """

    def __init__(self, *, name: str = "flow") -> None:
        super().__init__(
            Capabilities((Paradigm.FLOW,), Likelihood.EXACT, SampleCost.single_pass(),
                         EventSpace.continuous((8, 8)), objective="none (a test model)",
                         sampling="uniform on the cube"),
            name=name,
        )

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return self.net(streams.uniform(8, 8) * LEVELS)

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        inside = ((x >= 0) & (x < LEVELS)).flatten(1).all(1)
        return torch.where(inside, -64 * math.log(LEVELS), -math.inf).float()


class Gaussian2D(OneNetwork):
    """A 2-D standard Gaussian 'flow': exact likelihood, one pass; no digits, no image metrics."""

    def __init__(self) -> None:
        super().__init__(
            Capabilities((Paradigm.FLOW,), Likelihood.EXACT, SampleCost.single_pass(),
                         EventSpace.continuous((2,)), objective="maximum likelihood",
                         sampling="one pass"),
            name="gauss2d",
        )

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return self.net(streams.normal(2))

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return -0.5 * (x**2).sum(1) - math.log(2 * math.pi)


class ClassScores(Uniform):
    """log p(x | c) = bias[c] + noise * N(0, 1) from the keyed streams, whatever x is (its
    samples are :class:`Uniform`'s).

    With the same random numbers for every class of a row (common random numbers), a
    generative classifier on it predicts argmax(bias) for every image, however loud the noise.
    The likelihood option ``sign`` multiplies the bias (``-1``: the argmin wins).
    """

    likelihood_options = (Option("sign", float, 1.0, "multiplies the bias"),)

    def __init__(self, bias: torch.Tensor, *, noise: float = 0.0,
                 likelihood: Likelihood = Likelihood.BOUND) -> None:
        super().__init__(name="scores", likelihood=likelihood, conditional=True)
        self.bias = bias.double()
        self.noise = noise

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        assert condition is not None
        z = streams.normal(1).reshape(len(x)).double()
        bias = options["sign"] * self.bias[condition.cpu()]
        return (bias + self.noise * z - 64 * math.log(LEVELS)).float()
