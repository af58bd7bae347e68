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
    from genproto.compare.routes import Route
    from genproto.metrics import Coverage
    from genproto.metrics.text import TextMetrics

__all__ = ["ModelReport", "Outcome", "Stage", "SweepPoint", "num", "text_dict"]


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
    #: Whether the declared cost is an upper bound (a sequence that stops early costs less).
    cost_bound: bool = attrs.field(default=False, kw_only=True)
    #: A text model's metrics, one per Census list (:mod:`genproto.metrics.text`); ``()``
    #: for any other model.
    text: tuple[TextMetrics, ...] = attrs.field(default=(), kw_only=True)
    #: Standard error of ``bits_per_dim`` over the test images.
    bits_per_dim_stderr: float | None = attrs.field(default=None, kw_only=True)
    #: What the likelihood cost: wall seconds and counted network evaluations per test image.
    likelihood_seconds: float | None = attrs.field(default=None, kw_only=True)
    likelihood_evaluations: float | None = attrs.field(default=None, kw_only=True)
    #: The model's other likelihood routes on the same weights (:mod:`genproto.compare.routes`).
    routes: tuple[Route, ...] = attrs.field(default=(), kw_only=True)

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

    @property
    def is_text(self) -> bool:
        """Measured as a text model (the text metrics of the Census names)."""
        return bool(self.text)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``cost_bound`` and ``text`` only when set, so the reports of
        image and point models read as before."""
        out = attrs.asdict(self, recurse=True, value_serializer=_jsonable,
                           filter=lambda field, _: field.name not in _OPTIONAL)
        if self.cost_bound:
            out["cost_bound"] = True
        if self.text:
            out["text"] = [text_dict(t) for t in self.text]
        if self.routes:
            out["routes"] = [attrs.asdict(r, value_serializer=_jsonable) for r in self.routes]
        return out


#: Fields :meth:`ModelReport.to_dict` leaves out (``event_kind``) or writes only when set.
_OPTIONAL = frozenset({"event_kind", "cost_bound", "text", "routes"})


def text_dict(metrics: TextMetrics) -> dict[str, Any]:
    """One list's text metrics as JSON values, the cross-entropy gap included."""
    out: dict[str, Any] = attrs.asdict(metrics, recurse=True, value_serializer=_jsonable)
    ce = metrics.cross_entropy
    if ce is not None:
        out["cross_entropy"]["gap"] = _jsonable(None, None, ce.gap)
    return out


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
