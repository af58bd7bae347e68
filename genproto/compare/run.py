"""``compare()``, ``compare_points()`` and ``compare_names()``: every model of a registry built,
measured and judged, with a progress bar.

The functions that use the package's parts together: :func:`compare` runs
:func:`~genproto.compare.measure.evaluate` for each model, then
:func:`~genproto.compare.claims.judge`, into a :class:`~genproto.compare.report.Comparison`;
:func:`compare_points` runs :func:`~genproto.compare.points.evaluate_points` for each model on
each 2-D dataset it offers, then :func:`~genproto.compare.points_claims.judge_points`, into a
:class:`~genproto.compare.points_report.PointsComparison`; :func:`compare_names` measures the
truth and every names model on each Census list (:func:`~genproto.compare.names.evaluate_names`),
then :func:`~genproto.compare.names_claims.judge_names`, into a
:class:`~genproto.compare.names_report.NamesComparison`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import torch

from genproto.compare.claims import judge
from genproto.compare.measure import (
    DEFAULT_N,
    DEFAULT_PER_CLASS,
    DEFAULT_STEPS,
    _error,
    check_count,
    check_steps,
    evaluate,
    evaluate_route,
    failed_report,
    planned_stages,
)
from genproto.compare.names import (
    DEFAULT_NAMES_N,
    NAMES_DATASET,
    NAMES_IWAE_K,
    NAMES_STEPS,
    SWEEP_N,
    evaluate_names,
    measure_names_truth,
    offers_names,
    unmeasured_names,
)
from genproto.compare.names_claims import judge_names
from genproto.compare.names_report import NamesComparison
from genproto.compare.points import (
    DATASET_OPTION,
    DEFAULT_HELD_OUT,
    DEFAULT_POINTS_N,
    IWAE_K,
    POINTS_DATASETS,
    check_datasets,
    evaluate_points,
    evaluate_points_route,
    measure_truth,
    points_datasets,
    unmeasured,
)
from genproto.compare.points_claims import judge_points
from genproto.compare.points_report import PointsComparison
from genproto.compare.records import Outcome, Stage
from genproto.compare.report import Comparison
from genproto.compare.routes import (
    LIKELIHOOD_OPTION,
    PointsRoute,
    Route,
    likelihood_routes,
    route_label,
)
from genproto.errors import InvalidArgumentError
from genproto.protocol import ConditionKind

if TYPE_CHECKING:
    from genproto.registry import ModelEntry, Registry

__all__ = ["compare", "compare_names", "compare_points", "names_plan", "points_plan"]


class _Stages:
    """A tqdm bar over every model's stages; the total grows as models are built."""

    def __init__(self, models: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=models * 3, disable=not enabled, desc="compare", unit="stage",
                         dynamic_ncols=True)
        self._open = False
        self.model = ""

    def add(self, count: int) -> None:
        self._bar.total += count
        self._bar.refresh()

    def start(self, label: str) -> None:
        if self._open:
            self._bar.update(1)
        self._open = True
        self._bar.set_description(f"{self.model}: {label}")

    def close(self) -> None:
        if self._open:
            self._bar.update(1)
        self._bar.total = self._bar.n
        self._bar.refresh()
        self._bar.close()


def compare(
    names: Sequence[str] | None = None,
    *,
    registry: Registry | None = None,
    n: int = DEFAULT_N,
    per_class: int = DEFAULT_PER_CLASS,
    seed: int = 0,
    steps: Sequence[int] = DEFAULT_STEPS,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> Comparison:
    """Build and :func:`evaluate` every model of ``registry`` (or those named), then :func:`judge`.

    Args:
        names: registry names; ``None`` compares every registered model, in name
            order. An unknown name raises ``UnknownModelError`` before any work.
        registry: where the models come from (default: the process-wide one).
        progress: a progress bar over the models' stages on stderr; ``None``
            shows it when stderr is a terminal.

    A model whose factory fails is reported with the error and its declared
    capabilities; the others are still measured.
    """
    import sys

    from genproto import registry as registry_module
    from genproto.metrics import frechet_floor

    reg = registry if registry is not None else registry_module.default()
    entries = reg.entries() if names is None else [reg.entry(name) for name in names]
    n = check_count(n, "compare() argument 'n'", 2)
    per_class = check_count(per_class, "compare() argument 'per_class'", 1)
    steps = check_steps(steps)
    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    began = time.perf_counter()
    bar = _Stages(len(entries), enabled)
    reports = []
    try:
        for entry in entries:
            bar.model = entry.name
            bar.start("build")
            try:
                model = reg.get(entry.name)
            except Exception as exc:
                reports.append(failed_report(entry, exc, n=n, per_class=per_class, seed=seed))
                bar.add(-2)
                continue
            routes = likelihood_routes(entry)
            bar.add(len(planned_stages(model, steps)) - 2 + len(routes))
            report = evaluate(model, n=n, per_class=per_class, seed=seed, steps=steps,
                              batch_size=batch_size, entry=entry, on_stage=bar.start)
            if routes and report.digits:
                report = attrs.evolve(report, routes=tuple(
                    _route(reg, entry, choice, seed, batch_size, bar) for choice in routes))
            reports.append(report)
    finally:
        bar.close()
    floor = frechet_floor() if any(r.digits for r in reports) else None
    failures = tuple(f"{p.label()}: {p.error}" for p in reg.failures())
    return Comparison(tuple(reports), judge(reports), floor, n, per_class, seed,
                      time.perf_counter() - began, failures)



def _route(reg: Registry, entry: ModelEntry, choice: str, seed: int, batch_size: int | None,
           bar: _Stages) -> Route:
    """The digits model once more with ``likelihood=choice`` (the same shipped weights), its
    likelihood alone measured (:func:`evaluate_route`)."""
    bar.start(route_label(choice))
    try:
        model = reg.get(entry.name, **{LIKELIHOOD_OPTION: choice})
    except Exception as exc:
        return Route(route_label(choice), entry.capabilities.likelihood, Outcome.NOT_TRIED,
                     None, None, None, None, _error(Stage.BUILD, exc))
    return evaluate_route(model, choice, seed=seed, batch_size=batch_size)


def _points_route(reg: Registry, entry: ModelEntry, factory: Mapping[str, Any], choice: str,
                  dataset: str, points: torch.Tensor, seed: int, batch_size: int | None,
                  bar: _Stages) -> PointsRoute:
    """The points model once more with ``likelihood=choice``, its KL to the truth alone
    measured (:func:`evaluate_points_route`)."""
    bar.start(route_label(choice))
    try:
        model = reg.get(entry.name, **{**factory, LIKELIHOOD_OPTION: choice})
    except Exception as exc:
        return PointsRoute(route_label(choice), entry.capabilities.likelihood, Outcome.NOT_TRIED,
                           None, None, None, _error(Stage.BUILD, exc))
    return evaluate_points_route(model, choice, dataset, points, seed=seed,
                                 batch_size=batch_size)


def points_plan(registry: Registry, names: Sequence[str] | None,
                datasets: Sequence[str] = POINTS_DATASETS) -> list[tuple[str, ModelEntry]]:
    """``(dataset, entry)`` for every dataset, then every model (by name) whose ``dataset``
    option accepts it: the models named, or every registered one that offers any.

    Raises:
        UnknownModelError: a name that is not registered.
        InvalidArgumentError: a named model, or every registered one, offers none of the
            datasets; the message names the models that do.
    """
    datasets = check_datasets(datasets)
    every = registry.entries()
    offering = [e.name for e in every if points_datasets(e, datasets)]
    entries = every if names is None else [registry.entry(name) for name in names]
    lacking = [e.name for e in entries if not points_datasets(e, datasets)]
    if (names is not None and lacking) or not offering:
        raise InvalidArgumentError(
            "models without a points configuration" if offering else "points models",
            value=lacking if names is not None else [],
            allowed="models whose 'dataset' option accepts " + " or ".join(datasets)
            + (": " + ", ".join(offering) if offering else " (none is installed)"),
            fix="Name only those models, or leave the names out to measure them all"
            if offering else "Install a plugin that offers a toy 2-D configuration "
            "(genproto info NAME lists a model's 'dataset' choices)")
    return [(dataset, entry) for dataset in datasets for entry in entries
            if dataset in points_datasets(entry, (dataset,))]


def compare_points(
    names: Sequence[str] | None = None,
    *,
    registry: Registry | None = None,
    datasets: Sequence[str] = POINTS_DATASETS,
    n: int = DEFAULT_POINTS_N,
    held_out: int = DEFAULT_HELD_OUT,
    seed: int = 0,
    steps: Sequence[int] = DEFAULT_STEPS,
    batch_size: int | None = None,
    iwae_k: int = IWAE_K,
    options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> PointsComparison:
    """Every model (or those named) on every 2-D dataset its ``dataset`` option accepts,
    measured against the exact density (:func:`evaluate_points`), then judged.

    Args:
        names: registry names; ``None``: every registered model with a points configuration.
        registry: where the models come from (default: the process-wide one).
        datasets: toy 2-D densities (default :data:`POINTS_DATASETS`).
        n: samples per (model, dataset), >= 2; held_out: held-out points per dataset, >= 2.
        options: more factory options, given to each model that declares them (e.g.
            ``{"pretrained": False}`` for a smoke run of untrained networks).
        progress: a progress bar on stderr; ``None`` shows it when stderr is a terminal.

    A configuration without shipped weights (:class:`~genproto.errors.NoShippedWeights`) is
    listed as such; one whose factory fails is reported with the error; the others are measured.
    """
    import sys

    from genproto import registry as registry_module

    reg = registry if registry is not None else registry_module.default()
    n = check_count(n, "compare_points() argument 'n'", 2)
    held_out = check_count(held_out, "compare_points() argument 'held_out'", 2)
    seed = check_count(seed, "compare_points() argument 'seed'", 0)
    iwae_k = check_count(iwae_k, "compare_points() argument 'iwae_k'", 2)
    steps = check_steps(steps)
    plan = points_plan(reg, names, datasets)
    extra = dict(options or {})
    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    began = time.perf_counter()
    bar = _Stages(len(plan), enabled)
    truths, points, reports = {}, {}, []
    try:
        for dataset, entry in plan:
            if dataset not in truths:
                truths[dataset], points[dataset] = measure_truth(
                    dataset, n=n, held_out=held_out, seed=seed)
            bar.model = f"{entry.name} on {dataset}"
            bar.start("build")
            declared = {o.name for o in entry.options}
            factory = {"dataset": dataset,
                       **{k: v for k, v in extra.items() if k in declared and k != "dataset"}}
            try:
                model = reg.get(entry.name, **factory)
            except Exception as exc:
                reports.append(unmeasured(entry, dataset, factory, exc, n=n, held_out=held_out,
                                          seed=seed))
                bar.add(-2)
                continue
            routes = likelihood_routes(entry)
            bar.add(len(planned_stages(model, steps)) - 2 + len(routes))
            report = evaluate_points(
                model, dataset, n=n, seed=seed, steps=steps, batch_size=batch_size,
                iwae_k=iwae_k, entry=entry, options=factory, points=points[dataset],
                on_stage=bar.start)
            if routes and report.measured:
                report = attrs.evolve(report, routes=tuple(
                    _points_route(reg, entry, factory, choice, dataset, points[dataset], seed,
                                  batch_size, bar) for choice in routes))
            reports.append(report)
    finally:
        bar.close()
    failures = tuple(f"{p.label()}: {p.error}" for p in reg.failures())
    return PointsComparison(tuple(truths.values()), tuple(reports), judge_points(reports), n,
                            held_out, seed, iwae_k, time.perf_counter() - began, failures)


def names_plan(registry: Registry, names: Sequence[str] | None
               ) -> list[tuple[ModelEntry, dict[str, Any]]]:
    """``(entry, factory options)`` of every names model: a model whose ``dataset`` option
    accepts ``"names"`` (built with it), and a text model as it is registered (the
    transformers plugin's ``names``) -- the models named, or every registered one.

    Raises:
        UnknownModelError: a name that is not registered.
        InvalidArgumentError: a named model offers no names configuration and is not a text
            model.
    """
    every = registry.entries() if names is None else [registry.entry(name) for name in names]
    plan: list[tuple[ModelEntry, dict[str, Any]]] = []
    lacking = []
    for entry in every:
        if offers_names(entry):
            plan.append((entry, {DATASET_OPTION: NAMES_DATASET}))
        elif _declares_text(entry):
            plan.append((entry, {}))
        else:
            lacking.append(entry.name)
    if names is not None and lacking:
        raise InvalidArgumentError(
            "models without a names configuration", value=lacking,
            allowed="models whose 'dataset' option accepts 'names', or text models",
            fix="Name only those models (genproto info NAME lists a model's 'dataset' "
                "choices), or leave the names out to measure them all")
    return plan


def _declares_text(entry: ModelEntry) -> bool:
    """A registration whose default capabilities are text over a sequence with a text prompt,
    and not an adapter of a folder the user names (a ``path`` option without a default, as
    ``hf-causal-lm`` has: it wraps any causal LM, not a model of the names)."""
    caps = entry.capabilities
    adapter = any(o.name == "path" and o.default is None for o in entry.options)
    return (caps.event.is_sequence and caps.condition is not None
            and caps.condition.kind is ConditionKind.TEXT and not adapter)


def compare_names(
    names: Sequence[str] | None = None,
    *,
    registry: Registry | None = None,
    n: int = DEFAULT_NAMES_N,
    seed: int = 0,
    steps: Sequence[int] = NAMES_STEPS,
    sweep_n: int = SWEEP_N,
    batch_size: int | None = None,
    iwae_k: int = NAMES_IWAE_K,
    options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> NamesComparison:
    """The truth, then every names model (or those named) on each Census list
    (:func:`evaluate_names`), judged (:func:`judge_names`).

    Args:
        names: registry names; ``None``: every registered names model.
        n: samples per model and list, >= 1; sweep_n: per list at each step count.
        options: more factory options, given to each model that declares them (e.g.
            ``{"pretrained": False}`` for a smoke run of untrained networks).
    """
    import sys

    from genproto import registry as registry_module

    reg = registry if registry is not None else registry_module.default()
    n = check_count(n, "compare_names() argument 'n'", 1)
    seed = check_count(seed, "compare_names() argument 'seed'", 0)
    iwae_k = check_count(iwae_k, "compare_names() argument 'iwae_k'", 2)
    plan = names_plan(reg, names)
    extra = dict(options or {})
    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    began = time.perf_counter()
    bar = _Stages(len(plan) + 1, enabled)
    reports = []
    try:
        bar.model = "truth"
        bar.start("draws")
        reports.append(measure_names_truth(n=n, seed=seed))
        for entry, factory in plan:
            bar.model = entry.name
            bar.start("build")
            declared = {o.name for o in entry.options}
            built = {**factory, **{k: v for k, v in extra.items()
                                   if k in declared and k != DATASET_OPTION}}
            try:
                model = reg.get(entry.name, **built)
            except Exception as exc:
                reports.append(unmeasured_names(entry, built, exc, n=n, seed=seed))
                continue
            reports.append(evaluate_names(
                model, n=n, seed=seed, steps=steps, sweep_n=sweep_n, batch_size=batch_size,
                iwae_k=iwae_k, entry=entry, options=built, on_stage=bar.start))
    finally:
        bar.close()
    failures = tuple(f"{p.label()}: {p.error}" for p in reg.failures())
    return NamesComparison(tuple(reports), judge_names(reports), n, seed, iwae_k,
                           time.perf_counter() - began, failures)
