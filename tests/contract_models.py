"""Deliberately broken models: each breaks ONE contract property of a correct reference model.

``BROKEN`` maps a name to (factory, the property that must catch it, a phrase its message must
hold, extra ``check_model`` arguments). Every model is a small subclass of a reference model in
``genproto.testing.reference`` that changes one method, so whatever else it does is known to be
correct.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from genproto import Likelihood, Paradigm
from genproto.data import toy2d
from genproto.streams import KeyedStreams
from genproto.testing.reference import Categorical, GaussianMixture, LatentGaussianMixture

EXACT = toy2d("eight_gaussians").log_prob


class OffByConstant(GaussianMixture):
    """Claims an exact likelihood but adds half a nat to it."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return super().log_likelihood_batch(x, condition, streams, **options) + 0.5


class IgnoresSeed(GaussianMixture):
    """Draws from the streams of seed 0, whatever seed it is given."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return super().sample_batch(KeyedStreams(0, streams.indices), condition, **options)


class GlobalRNG(GaussianMixture):
    """Draws its noise from torch's global generator."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        loc, scale = self.net(self._labels(condition, len(streams)))
        z = streams.randint(loc.shape[1])
        rows = torch.arange(len(streams))
        return loc[rows, z] + scale[rows, z, None] * torch.randn(len(streams), 2)


class BatchDependent(GaussianMixture):
    """One torch.Generator per batch, seeded by the run's seed: noise depends on batching."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        loc, scale = self.net(self._labels(condition, len(streams)))
        z = streams.randint(loc.shape[1])
        rows = torch.arange(len(streams))
        generator = torch.Generator().manual_seed(streams.seed)
        eps = torch.randn(len(streams), 2, generator=generator)
        return loc[rows, z] + scale[rows, z, None] * eps


class TenCalls(GaussianMixture):
    """Declares a single pass but calls its network ten times a batch."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        for _ in range(9):
            self.net(self._labels(condition, len(streams)))
        return super().sample_batch(streams, condition, **options)


class NoneButNumbers(GaussianMixture):
    """Declares likelihood 'none' yet returns numbers from log_likelihood."""

    def __init__(self) -> None:
        super().__init__(likelihood=Likelihood.NONE)

    def log_likelihood(self, x: torch.Tensor, condition: Any = None, **options: Any
                       ) -> torch.Tensor:
        return torch.zeros(x.shape[0])


class WrongShapeAtOne(GaussianMixture):
    """Squeezes a batch of one: (2,) instead of (1, 2)."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        out = super().sample_batch(streams, condition, **options)
        return out.squeeze(0) if out.shape[0] == 1 else out


class MutatesInput(GaussianMixture):
    """Clips x in place to [-1, 1] after using it (unconditional, so one call per batch)."""

    def __init__(self) -> None:
        super().__init__(classes=None)

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        out = super().log_likelihood_batch(x, condition, streams, **options)
        x.clamp_(-1.0, 1.0)
        return out


class BoundAboveExact(LatentGaussianMixture):
    """Declares a lower bound but returns the ELBO plus half a nat."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return super().log_likelihood_batch(x, condition, streams, **options) + 0.5


class IgnoresCondition(GaussianMixture):
    """A conditional model whose sampler picks its own class."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        own = streams.fork("own class").randint(self.classes)
        return super().sample_batch(streams, own, **options)


class Bypass(GaussianMixture):
    """Computes with its network's parameters without calling it: no evaluation is counted."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        labels = self._labels(condition, len(streams))
        loc, scale = self.net.loc[labels], self.net.log_scale[labels].exp()  # no forward call
        z = streams.randint(loc.shape[1])
        rows = torch.arange(len(streams))
        return loc[rows, z] + scale[rows, z, None] * streams.normal(2)


# -- more: one for every property, and power for the statistical checks ------------------------


class DiscreteOffByConstant(Categorical):
    """The tiny categorical, its exact log-likelihood lowered by 0.3 nats."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return super().log_likelihood_batch(x, condition, streams, **options) - 0.3


class TemperedSampler(Categorical):
    """Samples at temperature 0.8 but reports the untempered (normalised) likelihood."""

    def _sample_logits(self, condition: torch.Tensor) -> torch.Tensor:
        return self._logits(condition) / 0.8

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        assert condition is not None
        index = streams.categorical(self._sample_logits(condition))
        return torch.stack([index // self.levels, index % self.levels], dim=1)


class WideSampler(GaussianMixture):
    """Samples with 20% more noise than its (normalised) likelihood says."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        loc, scale = self.net(self._labels(condition, len(streams)))
        z = streams.randint(loc.shape[1])
        rows = torch.arange(len(streams))
        return loc[rows, z] + 1.2 * scale[rows, z, None] * streams.normal(2)


class UntypedErrors(GaussianMixture):
    """Checks n itself and raises a bare ValueError instead of genproto's typed error."""

    def sample(self, n: int, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        if isinstance(n, int) and n < 0:
            raise ValueError("n must be >= 0")
        return super().sample(n, **kwargs)


class UnsavedState(GaussianMixture):
    """Keeps a random shift in a module it does not declare, so a checkpoint misses it."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = torch.nn.Parameter(0.3 * torch.randn(2))  # global RNG: new each build

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return super().sample_batch(streams, condition, **options) + self.shift

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return super().log_likelihood_batch(x - self.shift, condition, streams, **options)


class LyingCapabilities(GaussianMixture):
    """Calls itself a diffusion model yet declares a single-pass cost."""

    def __init__(self) -> None:
        super().__init__()
        import attrs

        self._capabilities = attrs.evolve(self._capabilities, paradigms=(Paradigm.DIFFUSION,))


class RaisesWrongErrorForNone(GaussianMixture):
    """Declares likelihood 'none' and raises NotImplementedError, not LikelihoodUnavailable."""

    def __init__(self) -> None:
        super().__init__(likelihood=Likelihood.NONE)

    def log_likelihood(self, x: torch.Tensor, condition: Any = None, **options: Any
                       ) -> torch.Tensor:
        raise NotImplementedError("no likelihood")


#: name -> (factory, property that must catch it, phrase in its message, check_model kwargs)
BROKEN: Mapping[str, tuple[Callable[[], Any], str, str, dict[str, Any]]] = {
    # the list
    "off_by_constant": (OffByConstant, "likelihood", "not normalised", {}),
    "ignores_seed": (IgnoresSeed, "determinism", "ignores its seed", {}),
    "global_rng": (GlobalRNG, "determinism", "global RNG state", {}),
    "batch_dependent": (BatchDependent, "batch_invariance", "depend on the batch size", {}),
    "ten_calls": (TenCalls, "cost", "counted 10", {}),
    "none_but_numbers": (NoneButNumbers, "likelihood", "declares likelihood 'none' yet", {}),
    "wrong_shape_at_one": (WrongShapeAtOne, "shape", "shape (2,)", {}),
    "mutates_input": (MutatesInput, "side_effects", "modified its input x", {}),
    "bound_above_exact": (BoundAboveExact, "likelihood", "lower bound",
                          {"exact_log_prob": EXACT}),
    "ignores_condition": (IgnoresCondition, "conditioning", "ignores its condition", {}),
    "bypass": (Bypass, "cost", "bypasses its networks", {}),
    # one more for every other property, and power for the statistical checks
    "discrete_off_by_constant": (DiscreteOffByConstant, "likelihood", "not normalised", {}),
    "tempered_sampler": (TemperedSampler, "likelihood", "exp(log_likelihood)", {}),
    "wide_sampler": (WideSampler, "likelihood", "exp(log_likelihood)", {}),
    "untyped_errors": (UntypedErrors, "bad_input", "expected genproto.errors.", {}),
    "unsaved_state": (UnsavedState, "persistence", "loaded model's samples differ", {}),
    "lying_capabilities": (LyingCapabilities, "conformance", "single-pass cost", {}),
    "wrong_error_for_none": (RaisesWrongErrorForNone, "likelihood", "LikelihoodUnavailable",
                             {}),
}
