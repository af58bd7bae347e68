"""What ``genproto compare`` measured for one model: :class:`ModelReport` and :class:`SweepPoint`.

A report holds the model's declarations as the protocol's own types
(:class:`~genproto.protocol.Paradigm`, :class:`~genproto.protocol.Likelihood`,
:class:`~genproto.protocol.CostGrowth`, :class:`~genproto.protocol.EventKind`)
beside the numbers :mod:`genproto.compare.measure` measured, so the claims
(:mod:`genproto.compare.claims`) branch on enums, never on words. The fields
also take the enums' values (``likelihood="bound"``), as the JSON form writes them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from genproto.protocol import CostGrowth, EventKind, Likelihood, Paradigm

if TYPE_CHECKING:
    from genproto.metrics import Coverage

__all__ = ["ModelReport", "Outcome", "Stage", "SweepPoint", "num"]


class Outcome(enum.StrEnum):
    """What happened when ``log_likelihood`` was asked."""

    VALUES = "values"  # finite numbers came back
    UNAVAILABLE = "unavailable"  # LikelihoodUnavailable was raised
    ERROR = "error"  # anything else went wrong (see the report's errors)
    NOT_TRIED = "not tried"  # no data to ask it on (the model was not built or did not sample)


class Stage(enum.StrEnum):
    """The stages of a measurement whose failure a claim may give as its reason.

    An error is recorded as ``"<stage>: <exception type>: <message>"``; the steps
    sweep adds stages ``"steps=K"`` of its own.
    """

    BUILD = "build"
    SAMPLES = "samples"
    LIKELIHOOD = "likelihood"
    CONDITIONAL = "conditional"


def _paradigms(values: Iterable[Paradigm | str]) -> tuple[Paradigm, ...]:
    return tuple(Paradigm(p) for p in values)


@attrs.frozen
class SweepPoint:
    """One step count K of a model with a ``steps`` option.

    Attributes:
        steps: K.
        declared_evaluations: ``model.cost(steps=K).evaluations`` (``None`` if it failed).
        counted_evaluations: evaluations per sample counted by the sampler.
        samples_per_second: of this run.
        frechet: Frechet distance of its unconditional samples (digits models only).
    """

    steps: int
    declared_evaluations: int | None
    counted_evaluations: float | None
    samples_per_second: float | None
    frechet: float | None


@attrs.frozen
class ModelReport:
    """What :func:`~genproto.compare.evaluate` measured for one model (``None``: not measured).

    The declared facts (paradigms, objective, sampling, event, likelihood kind,
    declared cost) come from the model's capabilities; everything else was
    measured. ``errors`` holds the stages that failed, ``notes`` the metrics
    skipped and why.
    """

    name: str
    distribution: str | None
    version: str | None
    paradigms: tuple[Paradigm, ...] = attrs.field(converter=_paradigms)
    objective: str
    sampling: str
    event: str  # EventSpace.describe(), for people
    event_length: int
    conditional: bool
    digits: bool
    likelihood: Likelihood = attrs.field(converter=Likelihood)
    declared_growth: CostGrowth = attrs.field(converter=CostGrowth)
    declared_units: int
    declared_evaluations: int
    likelihood_outcome: Outcome = attrs.field(converter=Outcome)
    bits_per_dim: float | None
    bits_per_dim_basis: str
    counted_evaluations: float | None
    samples_per_second: float | None
    frechet: float | None
    conditional_accuracy: float | None
    coverage: Coverage | None
    sweep: tuple[SweepPoint, ...]
    notes: tuple[str, ...]
    errors: tuple[str, ...]
    n: int
    per_class: int
    seed: int
    seconds: float
    weights_sha256: str | None
    #: Whether the events are discrete levels or real numbers (the JSON form has it in ``event``).
    event_kind: EventKind = attrs.field(kw_only=True, converter=EventKind)

    @property
    def built(self) -> bool:
        """False when the model could not even be built (see ``errors``)."""
        return self.error_at(Stage.BUILD) is None

    @property
    def is_hybrid(self) -> bool:
        """Made of more than one paradigm (judged by the hybrid claims only)."""
        return len(self.paradigms) > 1

    def error_at(self, *stages: Stage) -> str | None:
        """The first error recorded at one of ``stages``, or ``None``."""
        prefixes = tuple(f"{stage.value}:" for stage in stages)
        return next((e for e in self.errors if e.startswith(prefixes)), None)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=True, value_serializer=_jsonable,
                            filter=lambda field, _: field.name != "event_kind")


def _jsonable(instance: Any, field: Any, value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def num(value: float | None, digits: int = 3) -> str:
    """A measured number as the claims and the report print it: ``digits`` significant
    digits, or ``—`` when it was not measured."""
    if value is None:
        return "—"
    return f"{value:.{digits}g}"
