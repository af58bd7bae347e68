"""What ``genproto compare --data names`` measured: :class:`NamesListResult` per (model, list),
:class:`NamesSweep` per step count, :class:`NamesReport` per model.

A report keeps the model's declarations as the protocol's enums beside the numbers
:mod:`genproto.compare.names` measured, so the claims (:mod:`genproto.compare.names_claims`)
branch on enums, never on words. The truth is reported like a model (``name == "truth"``,
paradigms empty): its samples are draws from the Census distribution and its likelihood is
the exact one.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from genproto.compare.points_records import PointsStatus, _paradigms, jsonable
from genproto.compare.records import Outcome
from genproto.metrics.text import TextMetrics
from genproto.metrics.text_diversity import Diversity, Drift
from genproto.protocol import CostGrowth, Likelihood, Paradigm

__all__ = ["NamesListResult", "NamesReport", "NamesSweep", "TRUTH"]

#: The name of the reference row.
TRUTH = "truth"


@attrs.frozen
class NamesListResult:
    """One model's samples of one list and its likelihood of the list's test names.

    Attributes:
        list: ``"female"``, ``"male"`` or ``"surname"``.
        text: the text metrics (cross-entropy ``None`` without a likelihood).
        diversity: distinct samples and the list's mass they cover.
        drift: trigram plausibility of starts and tails, and names past the longest.
        iwae: a bound with a likelihood option ``k``: the cross-entropy (nats per test name)
            under the IWAE bound at ``k = iwae_k`` (the text metrics hold the ELBO, ``k=1``).
        counted_evaluations, samples_per_second: of this list's sampling run.
    """

    list: str
    text: TextMetrics
    diversity: Diversity
    drift: Drift
    iwae: float | None
    counted_evaluations: float | None
    samples_per_second: float | None

    @property
    def cross_entropy(self) -> float | None:
        """Nats per test name at the default likelihood options (``None``: not measured)."""
        return None if self.text.cross_entropy is None else self.text.cross_entropy.model


@attrs.frozen
class NamesSweep:
    """One step count K of a model with a ``steps`` sample option, over the three lists.

    Attributes:
        steps: K.
        declared_evaluations: ``model.cost(steps=K).evaluations``.
        counted_evaluations: per sample, counted by the sampler (mean over the lists).
        validity, real, accuracy, distinct: means over the lists of the text metrics and the
            distinct share (distinct samples / samples) of ``n`` samples per list.
    """

    steps: int
    declared_evaluations: int | None
    counted_evaluations: float | None
    validity: float
    real: float
    accuracy: float
    distinct: float


@attrs.frozen
class NamesReport:
    """What :func:`~genproto.compare.names.evaluate_names` measured for one model (or the
    truth).

    Attributes:
        name: registry name (``"truth"`` for the reference row).
        options: the factory options it was built with.
        status: measured, no shipped weights, or failed.
        paradigms, likelihood, declared_growth, declared_evaluations, cost_bound: declared.
        likelihood_outcome: whether the cross-entropy was measured.
        iwae_k: the ``k`` of the IWAE cross-entropies (``None``: none measured).
        lists: one result per list measured.
        sweep: the steps sweep (a model with a ``steps`` sample option).
        notes, errors: what to know, and the stages that failed.
        n: samples per list; seed: of every run; seconds: wall time of the whole evaluation.
    """

    name: str
    distribution: str | None
    version: str | None
    options: tuple[tuple[str, Any], ...]
    status: PointsStatus = attrs.field(converter=PointsStatus)
    paradigms: tuple[Paradigm, ...] = attrs.field(converter=_paradigms)
    likelihood: Likelihood = attrs.field(converter=Likelihood)
    declared_growth: CostGrowth | None
    declared_evaluations: int | None
    cost_bound: bool
    likelihood_outcome: Outcome = attrs.field(converter=Outcome)
    iwae_k: int | None
    lists: tuple[NamesListResult, ...]
    sweep: tuple[NamesSweep, ...]
    notes: tuple[str, ...]
    errors: tuple[str, ...]
    n: int
    seed: int
    seconds: float
    weights_sha256: str | None

    @property
    def measured(self) -> bool:
        return self.status is PointsStatus.MEASURED and bool(self.lists)

    @property
    def is_truth(self) -> bool:
        return self.name == TRUTH

    def mean(self, value: str) -> float:
        """The mean over the lists of one per-list figure, by attribute path
        (``"text.real"``, ``"diversity.mass"``, ``"cross_entropy"`` ...); NaN when any list
        lacks it."""
        values = []
        for result in self.lists:
            item: Any = result
            for part in value.split("."):
                item = getattr(item, part)
            values.append(math.nan if item is None else float(item))
        return math.fsum(values) / len(values) if values else math.nan

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self, recurse=True, value_serializer=jsonable)
        out["options"] = dict(self.options)
        return out
