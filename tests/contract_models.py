"""Deliberately broken models: each breaks ONE contract property of a correct reference model.

``BROKEN`` maps a name to (factory, the property that must catch it, a phrase its message must
hold, extra ``check_model`` arguments). Every model is a small subclass of a reference model in
``genproto.testing.reference`` that changes one method, so whatever else it does is known to be
correct. ``MISTAKES`` groups the models of each class of mistake issue 17 found passing (at least
two different models a class, each caught by the class's property).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import condition_models
import event_models
import numpy as np
import torch

from genproto import Capabilities, EventSpace, Likelihood, Paradigm, SampleCost
from genproto.data import toy2d
from genproto.model import Model
from genproto.protocol import BatchTolerance
from genproto.streams import KeyedStreams
from genproto.testing.reference import (
    Categorical,
    EstimatedGaussianMixture,
    GaussianMixture,
    LatentGaussianMixture,
)

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


# -- issue 17: each class of mistake that passed before, at least two ways ----------------------

# 1. an "exact" likelihood whose value depends on the seed or on the row (exact_determinism)


class IWAEDeclaredExact(EstimatedGaussianMixture):
    """An importance-sampled estimate (IWAE, k = 16) declared exact: it moves with the seed."""

    def __init__(self) -> None:
        super().__init__(likelihood=Likelihood.EXACT)

    @staticmethod
    def _kinds() -> tuple[Likelihood, ...]:
        return (Likelihood.EXACT,)


class FixedSeedProbes(GaussianMixture):
    """An exact value plus a zero-mean probe correction drawn with seed 0 "to make it
    deterministic": no longer seed-dependent, but row i always gets probe i."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        probes = KeyedStreams(0, streams.indices).fork("probes").normal()  # (B,)
        return super().log_likelihood_batch(x, condition, streams, **options) + 0.05 * probes


class JitteredCategorical(Categorical):
    """A discrete exact likelihood with a small jitter from the streams "to break ties"."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        jitter = streams.fork("ties").uniform()  # (B,) in (0, 1)
        return super().log_likelihood_batch(x, condition, streams, **options) - 0.01 * jitter


# 2. a model that changes itself on its first calls, then settles (side_effects)


class LazyCalibration(GaussianMixture):
    """Built with scales 5% off; its first sample_batch "calibrates" them in place (an ActNorm-
    style lazy initialisation). Every later call sees the calibrated, correct model."""

    def __init__(self) -> None:
        super().__init__()
        self._calibrated = False
        with torch.no_grad():
            self.net.log_scale.add_(0.05)

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        if not self._calibrated:
            with torch.no_grad():
                self.net.log_scale.fill_(math.log(0.2))
            self._calibrated = True
        return super().sample_batch(streams, condition, **options)


class RoundsOnFirstLikelihood(GaussianMixture):
    """Its first log_likelihood_batch rounds the component means in place to 3 decimals."""

    def __init__(self) -> None:
        super().__init__()
        self._rounded = False

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        if not self._rounded:
            with torch.no_grad():
                self.net.loc.copy_(torch.round(self.net.loc * 1000) / 1000)
            self._rounded = True
        return super().log_likelihood_batch(x, condition, streams, **options)


class SeedsGlobalsOnce(GaussianMixture):
    """Seeds numpy's and Python's global RNGs "for reproducibility" on its first sample call."""

    def __init__(self) -> None:
        super().__init__()
        self._seeded = False

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        if not self._seeded:
            np.random.seed(0)
            random.seed(0)
            self._seeded = True
        return super().sample_batch(streams, condition, **options)


class ShufflesWithRandom(GaussianMixture):
    """Sums its components in an order shuffled by Python's global ``random`` (same value)."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        order = list(range(self.net.loc.shape[1]))
        random.shuffle(order)
        return super().log_likelihood_batch(x, condition, streams, **options)


# 3. log_likelihood_batch returning a malformed output (likelihood_values)


class LikelihoodSum(GaussianMixture):
    """Returns the batch's total log-likelihood, a scalar."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return super().log_likelihood_batch(x, condition, streams, **options).sum()


class LikelihoodColumn(Categorical):
    """Returns an (n, 1) column (forgot to squeeze after gather)."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return super().log_likelihood_batch(x, condition, streams, **options)[:, None]


class LikelihoodInts(GaussianMixture):
    """Returns whole nats as int64."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return super().log_likelihood_batch(x, condition, streams, **options).floor().long()


class LikelihoodNaN(GaussianMixture):
    """The log of a negative number on half the plane: NaN for x_0 > 0."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        out = super().log_likelihood_batch(x, condition, streams, **options)
        return torch.where(x[:, 0] > 0, torch.log(-out.exp()), out)


class LikelihoodPlusInf(Categorical):
    """A sign error, -log(0), for events whose first level is 0: +inf."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        out = super().log_likelihood_batch(x, condition, streams, **options)
        return torch.where(x[:, 0] == 0, -torch.log(torch.zeros_like(out)), out)


class BatchSeededIWAE(LatentGaussianMixture):
    """IWAE (k = 8) whose draws come from one torch.Generator per batch seeded by the run's seed:
    reproducible, but the values depend on how the rows are batched."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        comp = self.components(x, condition)
        joint = comp.log_prob(x.unsqueeze(1)) - math.log(comp.batch_shape[1])  # (B, M)
        log_q = torch.log_softmax(0.5 * joint, dim=1)
        generator = torch.Generator().manual_seed(streams.seed)
        z = torch.multinomial(log_q.exp(), 8, replacement=True, generator=generator)  # (B, 8)
        log_w = joint.gather(1, z) - log_q.gather(1, z)
        return torch.logsumexp(log_w, dim=1) - math.log(8)


# the engine's refusal of a bad sample_batch output, reported under shape


class SamplesNaN(GaussianMixture):
    """A sampler that divides by a zero scale for some rows: NaN samples."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        out = super().sample_batch(streams, condition, **options)
        return torch.where(out[:, :1] > 1.5, out * math.nan, out)


class FloatLevels(Categorical):
    """A discrete sampler returning its levels as floats."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return super().sample_batch(streams, condition, **options).float()


# protocol 2: a model that breaks one of its new declarations (range, stop/pad, cost bound,
# batch tolerance) or does not follow a condition of a new kind; each changes one method of a
# correct model in tests/event_models.py or tests/condition_models.py


class OutOfRange(event_models.Pixels):
    """Declares images in [-1, 1] but scales them by 1.5: values up to 1.5."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return 1.5 * super().sample_batch(streams, condition, **options)


class Unpadded(event_models.Tokens):
    """Keeps drawing tokens after a row's stop token instead of padding."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        rows, length = len(streams), event_models.MAX_LENGTH
        previous = torch.full((rows,), event_models.VOCABULARY, dtype=torch.int64)
        out = torch.empty(rows, length, dtype=torch.int64)
        for t in range(length):
            out[:, t] = streams.fork(f"t{t}").categorical(self._log_probs(previous))
            previous = out[:, t]
        return out


class DriftsAtBatchOne(GaussianMixture):
    """Declares a batch tolerance of 1e-3 but moves every sample drawn in a batch of one row
    by 1e-2 (float drift beyond what it declares)."""

    def __init__(self) -> None:
        super().__init__()
        self._capabilities = attrs.evolve(self.capabilities,
                                          batch_tolerance=BatchTolerance(atol=1e-3))

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        out = super().sample_batch(streams, condition, **options)
        return out + 1e-2 if len(streams) == 1 else out


class IgnoresPrompt(condition_models.Prompted):
    """A prompted model that always uses the null prompt, whatever it is given."""

    def ids(self, condition: Any, rows: int) -> torch.Tensor:
        return super().ids(None, rows)


class FlippedEmbedding(condition_models.Steered):
    """Samples follow the embedding e; the likelihood reads -e (a sign lost on one side)."""

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        flipped = None if condition is None else -condition
        return super().log_likelihood_batch(x, flipped, streams, **options)


class TruncatedPlane(Model):
    """A correct model on a declared range: x = z / 2 in [-1, 1]^2, z a standard normal
    truncated to [-2, 2]; exact. Its samples reach the range ends, so the quadrature box the
    suite widens around them must be cut at the range (outside it x is an InputError)."""

    event = EventSpace.continuous((2,), low=-1.0, high=1.0, layout="points")

    def __init__(self) -> None:
        super().__init__(
            Capabilities(Paradigm.FLOW, Likelihood.EXACT, SampleCost.single_pass(), self.event),
            name="truncated_plane",
        )
        self.net = event_models.Half()

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return self.net(streams.truncated_normal(2.0, 2))  # (B, 2)

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        z = 2 * x.double()  # (B, 2); p(x) = 2 phi(2x) / (Phi(2) - Phi(-2)) per value
        mass = math.erf(2 / math.sqrt(2))
        per_value = -0.5 * z**2 - 0.5 * math.log(2 * math.pi) + math.log(2 / mass)
        return per_value.sum(1).float()


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
    # issue 17, mistake 1: an exact likelihood that depends on the seed or the row
    "iwae_declared_exact": (IWAEDeclaredExact, "exact_determinism", "depends on the seed", {}),
    "fixed_seed_probes": (FixedSeedProbes, "exact_determinism",
                          "depends on the row's position", {}),
    "jittered_categorical": (JitteredCategorical, "exact_determinism", "depends on the seed", {}),
    # mistake 2: a model that changes itself (or a global RNG) on its first calls, then settles
    "lazy_calibration": (LazyCalibration, "side_effects",
                         "changed the model's parameter 'mixture.log_scale'", {}),
    "rounds_on_first_likelihood": (RoundsOnFirstLikelihood, "side_effects",
                                   "changed the model's parameter 'mixture.loc'", {}),
    "seeds_globals_once": (SeedsGlobalsOnce, "side_effects",
                           "changed the global RNG state of numpy, random", {}),
    "shuffles_with_random": (ShufflesWithRandom, "side_effects",
                             "changed the global RNG state of random", {}),
    # mistake 3: log_likelihood_batch's output malformed
    "likelihood_sum": (LikelihoodSum, "likelihood_values", "returned shape ()", {}),
    "likelihood_column": (LikelihoodColumn, "likelihood_values", "returned shape (16, 1)", {}),
    "likelihood_ints": (LikelihoodInts, "likelihood_values", "torch.int64", {}),
    "likelihood_nan": (LikelihoodNaN, "likelihood_values", "log_likelihood_batch returned NaN",
                       {}),
    "likelihood_plus_inf": (LikelihoodPlusInf, "likelihood_values",
                            "log_likelihood_batch returned +inf", {}),
    "batch_seeded_iwae": (BatchSeededIWAE, "likelihood_values", "depends on batch_size", {}),
    # the engine's refusal of a sampler's output, under shape
    "samples_nan": (SamplesNaN, "shape", "sample_batch returned NaN", {}),
    "float_levels": (FloatLevels, "shape", "for a discrete event", {}),
    # protocol 2: each new declaration broken once
    "sample_out_of_range": (OutOfRange, "shape", "the declared range", {}),
    "padding_broken": (Unpadded, "shape", "stop", {}),
    "cost_over_bound": (condition_models.Greedy, "cost", "at most 2 evaluations", {}),
    "drift_beyond_tolerance": (DriftsAtBatchOne, "batch_invariance",
                               "depend on the batch size", {}),
    "ignores_prompt": (IgnoresPrompt, "conditioning", "ignores its condition", {}),
    "likelihood_flips_embedding": (FlippedEmbedding, "conditioning",
                                   "do not follow the condition", {}),
    # mistake 4: which side is off, when it can be told
    "wide_sampler_known_density": (WideSampler, "likelihood", "the sampler is the side that is off",
                                   {"exact_log_prob": EXACT}),
}

#: class of mistake -> (the property meant for it, the broken models making it)
MISTAKES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "exact likelihood depends on the seed or the row": (
        "exact_determinism",
        ("iwae_declared_exact", "fixed_seed_probes", "jittered_categorical"),
    ),
    "model changes its parameters on its first calls, then settles": (
        "side_effects", ("lazy_calibration", "rounds_on_first_likelihood"),
    ),
    "model touches a global RNG (once, or in log_likelihood)": (
        "side_effects", ("seeds_globals_once", "shuffles_with_random"),
    ),
    "log_likelihood_batch returns a wrong shape or dtype": (
        "likelihood_values", ("likelihood_sum", "likelihood_column", "likelihood_ints"),
    ),
    "log_likelihood_batch returns NaN or +inf": (
        "likelihood_values", ("likelihood_nan", "likelihood_plus_inf"),
    ),
    "sample_batch returns NaN or a wrong dtype": ("shape", ("samples_nan", "float_levels")),
    "samples outside the declared event (a range, the stop/pad rule)": (
        "shape", ("sample_out_of_range", "padding_broken"),
    ),
    "a prompt or an embedding not followed": (
        "conditioning", ("ignores_prompt", "likelihood_flips_embedding"),
    ),
}
