"""What ``genproto compare --data points`` measured: :class:`PointsReport` per (model, dataset),
:class:`TruthReport` per dataset and :class:`PointsSweep` per step count.

A report keeps the model's declarations as the protocol's enums beside the numbers
:mod:`genproto.compare.points` measured against the exact density, so the claims
(:mod:`genproto.compare.points_claims`) branch on enums, never on words.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import attrs
import torch

from genproto.compare.records import Outcome, Stage
from genproto.compare.routes import PointsRoute
from genproto.metrics.points import ComponentCoverage, KLEstimate, beats_truth
from genproto.protocol import CostGrowth, Likelihood, Paradigm

__all__ = ["Gap", "PointsReport", "PointsStatus", "PointsSweep", "TruthReport", "jsonable"]


class PointsStatus(enum.StrEnum):
    """Whether a (model, dataset) was measured."""

    MEASURED = "measured"
    NO_WEIGHTS = "no shipped weights"  # NoShippedWeights: listed, not a failure
    FAILED = "failed"  # the model could not be built (see errors)


@attrs.frozen
class Gap:
    """A paired mean difference ``mean(a - b)`` over the held-out points, with its standard error
    (IWAE minus ELBO: at least 0 for bounds that tighten with k)."""

    value: float
    stderr: float

    @classmethod
    def of(cls, a: torch.Tensor, b: torch.Tensor) -> Gap:
        diff = a.double() - b.double()
        return cls(float(diff.mean()), float(diff.std(correction=1)) / math.sqrt(diff.numel()))


@attrs.frozen
class PointsSweep:
    """One step count K of a model with a ``steps`` sample option, on one dataset.

    Attributes:
        steps: K.
        declared_evaluations: ``model.cost(steps=K).evaluations`` (``None`` if it failed).
        counted_evaluations: evaluations per sample counted by the sampler.
        samples_per_second: of this run.
        coverage: of its ``n`` samples against the density's components (``None`` for a density
            that is not a Gaussian mixture).
    """

    steps: int
    declared_evaluations: int | None
    counted_evaluations: float | None
    samples_per_second: float | None
    coverage: ComponentCoverage | None


@attrs.frozen
class TruthReport:
    """The exact density of one dataset measured like a model: the reference row.

    Attributes:
        dataset: the toy density's name (:func:`genproto.data.toy2d`).
        description: what the density is, in one line.
        log_prob: mean ``log p_data`` of the held-out points (an estimate of minus the
            differential entropy), nats.
        stderr: its standard error.
        coverage: of ``n`` of the held-out draw's points (``None``: not a Gaussian mixture).
        held_out: points the KL is measured on.
        n: points the coverage is measured on.
        seed: the seed of ``load_toy2d`` that drew them.
    """

    dataset: str
    description: str
    log_prob: float
    stderr: float
    coverage: ComponentCoverage | None
    held_out: int
    n: int
    seed: int


def _paradigms(values: Any) -> tuple[Paradigm, ...]:
    return tuple(Paradigm(p) for p in values)


@attrs.frozen
class PointsReport:
    """What :func:`~genproto.compare.points.evaluate_points` measured for one model on one dataset
    (``None``: not measured; ``notes`` say why, ``errors`` name the stage that failed).

    Attributes:
        name, dataset: the model's registry name and the toy density's name.
        options: the factory options it was built with (``dataset`` included).
        status: measured, no shipped weights, or failed.
        likelihood: the declared kind; ``kl`` is an unbiased estimate (``EXACT``), an upper
            bound (``BOUND``) or an estimate (``ESTIMATE``) of ``KL(data || model)``.
        kl: at the default likelihood options (a VAE: ``k=1``, the ELBO).
        iwae, iwae_k: a bound with a likelihood option ``k``: the IWAE bound at ``k = iwae_k``.
        iwae_gain: ``mean(IWAE - ELBO)`` per point with its error (>= 0 for a bound that
            tightens with k).
        coverage: of ``n`` unconditional samples against the density's components.
        counted_evaluations, samples_per_second: of that run (the sampler counts evaluations).
        sweep: the steps sweep (a model with a ``steps`` sample option).
        scatter: the first samples, for the chart (not in the JSON form).
    """

    name: str
    dataset: str
    distribution: str | None
    version: str | None
    options: tuple[tuple[str, Any], ...]
    status: PointsStatus = attrs.field(converter=PointsStatus)
    paradigms: tuple[Paradigm, ...] = attrs.field(converter=_paradigms)
    likelihood: Likelihood = attrs.field(converter=Likelihood)
    declared_growth: CostGrowth = attrs.field(converter=CostGrowth)
    declared_evaluations: int
    cost_bound: bool
    likelihood_outcome: Outcome = attrs.field(converter=Outcome)
    kl: KLEstimate | None
    iwae: KLEstimate | None
    iwae_k: int | None
    iwae_gain: Gap | None
    coverage: ComponentCoverage | None
    counted_evaluations: float | None
    samples_per_second: float | None
    sweep: tuple[PointsSweep, ...]
    notes: tuple[str, ...]
    errors: tuple[str, ...]
    n: int
    held_out: int
    seed: int
    seconds: float
    weights_sha256: str | None
    scatter: torch.Tensor | None = attrs.field(default=None, eq=False, repr=False)
    #: What the default likelihood cost: wall seconds and counted network evaluations per
    #: held-out point.
    likelihood_seconds: float | None = attrs.field(default=None, kw_only=True)
    likelihood_evaluations: float | None = attrs.field(default=None, kw_only=True)
    #: The model's other likelihood routes on the same weights (:mod:`genproto.compare.routes`).
    routes: tuple[PointsRoute, ...] = attrs.field(default=(), kw_only=True)

    @property
    def measured(self) -> bool:
        return self.status is PointsStatus.MEASURED

    @property
    def estimates(self) -> tuple[KLEstimate, ...]:
        """Every KL estimate measured (the default likelihood, the IWAE, then the other
        routes)."""
        routes = tuple(r.kl for r in self.routes)
        return tuple(e for e in (self.kl, self.iwae, *routes) if e is not None)

    @property
    def broken(self) -> bool:
        """Some declared log-likelihood beats the truth's beyond its error
        (:func:`~genproto.metrics.points.beats_truth`): not a density, or a bound that is not."""
        return any(beats_truth(e) for e in self.estimates)

    @property
    def label(self) -> str:
        return f"{self.name} on {self.dataset}"

    def error_at(self, *stages: Stage) -> str | None:
        """The first error recorded at one of ``stages``, or ``None``."""
        prefixes = tuple(f"{stage.value}:" for stage in stages)
        return next((e for e in self.errors if e.startswith(prefixes)), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the scatter left out), with ``broken`` added."""
        out = attrs.asdict(self, recurse=True, value_serializer=jsonable,
                           filter=lambda field, _: field.name != "scatter")
        out["options"] = dict(self.options)
        out["broken"] = self.broken
        return out


def jsonable(instance: Any, field: Any, value: Any) -> Any:
    """An attrs value serializer: enums as their values, non-finite floats as ``None``."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
