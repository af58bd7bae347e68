"""Measuring a model of 2-D points against the exact density: :func:`evaluate_points`.

On the toy densities of :mod:`genproto.data.toy` the truth is known, so each model is measured
against it (:mod:`genproto.metrics.points`), whatever its paradigm:

1. *Held-out points* ``load_toy2d(dataset, N, seed=1 + seed)`` -- a draw the training draw
   (``seed=0``) never sees -- give ``KL(data || model) = E[log p_data - log p_model]`` with its
   standard error (:func:`~genproto.metrics.points.kl_to_truth`): unbiased for an exact
   likelihood, an upper bound for a bound, an estimate for an estimate. A bound with a
   likelihood option ``k`` (the VAE) is measured twice, the ELBO (``k=1``) and the IWAE bound
   (``k`` = :data:`IWAE_K`; Burda et al. 2016), so ``ELBO <= IWAE <= truth`` can be checked.
2. ``n`` unconditional samples give the counted evaluations per sample, samples per second and
   the coverage of the density's components
   (:func:`~genproto.metrics.points.component_coverage`).
3. A model with a ``steps`` sample option (diffusion) is sampled again at each step count of the
   sweep (:func:`~genproto.compare.measure.sweep_steps`), coverage and cost at each.

The truth itself is measured the same way (:func:`measure_truth`): the reference row.
A model offers a points configuration through its ``dataset`` factory option
(:func:`points_datasets`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from genproto.compare.measure import (
    DEFAULT_STEPS,
    _error,
    _identity,
    _Run,
    _sample,
    _sweep_runs,
    check_count,
    check_steps,
)
from genproto.compare.points_records import (
    Gap,
    PointsReport,
    PointsStatus,
    PointsSweep,
    TruthReport,
)
from genproto.compare.records import Outcome, Stage
from genproto.compare.routes import PointsRoute, route_label, timed_likelihood
from genproto.errors import InvalidArgumentError, LikelihoodUnavailable, NoShippedWeights
from genproto.protocol import EventKind, Likelihood

if TYPE_CHECKING:
    from genproto.data.toy import Toy2D
    from genproto.metrics.points import ComponentCoverage, KLEstimate
    from genproto.protocol import Capabilities, GenerativeModel
    from genproto.registry import ModelEntry

__all__ = [
    "DATASET_OPTION",
    "DEFAULT_HELD_OUT",
    "DEFAULT_POINTS_N",
    "IWAE_K",
    "POINTS_DATASETS",
    "SCATTER_N",
    "TRAINING_SEED",
    "check_datasets",
    "evaluate_points",
    "evaluate_points_route",
    "held_out_seed",
    "measure_truth",
    "points_datasets",
    "unmeasured",
]

#: The 2-D datasets ``genproto compare --data points`` measures every model on by default.
POINTS_DATASETS: tuple[str, ...] = ("grid25", "two_moons")
#: The factory option through which a model offers a points configuration.
DATASET_OPTION = "dataset"
#: Unconditional samples per (model, dataset): coverage, cost and speed.
DEFAULT_POINTS_N = 10_000
#: Held-out points per dataset the KL is measured on.
DEFAULT_HELD_OUT = 5_000
#: Importance samples of the IWAE bound beside the ELBO (capped at the option's maximum).
IWAE_K = 64
#: Samples per (model, dataset) kept for the chart's scatter panels.
SCATTER_N = 2_000
#: The seed of the draw the shipped points models are trained on (``load_toy2d(name, n, 0)``).
TRAINING_SEED = 0


def held_out_seed(seed: int) -> int:
    """The ``load_toy2d`` seed of the held-out points of a run with ``seed``: never the
    training draw's :data:`TRAINING_SEED`."""
    return TRAINING_SEED + 1 + seed


def check_datasets(datasets: Any) -> tuple[str, ...]:
    """``datasets`` as a tuple of toy density names (order kept, repeats dropped).

    Raises:
        InvalidArgumentError: none given, or a name :func:`genproto.data.toy2d` does not know.
    """
    from genproto.data import toy2d

    names = (datasets,) if isinstance(datasets, str) else tuple(datasets)
    if not names:
        raise InvalidArgumentError("points datasets", value=[], allowed="at least one toy 2-D "
                                   "density, e.g. " + ", ".join(POINTS_DATASETS))
    for name in names:
        toy2d(name)  # raises, suggesting close names
    return tuple(dict.fromkeys(names))


def points_datasets(entry: ModelEntry, datasets: Sequence[str] = POINTS_DATASETS
                    ) -> tuple[str, ...]:
    """The ``datasets`` the registration's declared ``dataset`` option accepts (``()`` for a
    model without one: it has no points configuration)."""
    option = next((o for o in entry.options if o.name == DATASET_OPTION), None)
    if option is None:
        return ()
    accepted = []
    for name in datasets:
        try:
            option.validate(name, where=f"model {entry.name!r}")
        except (ValueError, TypeError):
            continue
        accepted.append(name)
    return tuple(accepted)


def _coverage(density: Toy2D, samples: torch.Tensor) -> ComponentCoverage | None:
    from genproto.data.toy import GaussianMixture2D
    from genproto.metrics.points import component_coverage

    if not isinstance(density, GaussianMixture2D):
        return None
    return component_coverage(samples, density.means, density.covariance)


def measure_truth(dataset: str, *, n: int = DEFAULT_POINTS_N, held_out: int = DEFAULT_HELD_OUT,
                  seed: int = 0) -> tuple[TruthReport, torch.Tensor]:
    """The density of ``dataset`` measured like a model, and the held-out points ``(held_out, 2)``.

    One draw of ``max(n, held_out)`` points with seed :func:`held_out_seed`: its first
    ``held_out`` points are the held-out set every model's KL is measured on; its first ``n``
    give the truth's own coverage (what a perfect sampler scores).
    """
    from genproto.data import load_toy2d, toy2d

    density = toy2d(dataset)
    draw = load_toy2d(dataset, max(n, held_out), seed=held_out_seed(seed)).x  # (max(n, N), 2)
    points = draw[:held_out]  # (N, 2) float32
    log_p = density.log_prob(points.double())  # (N,)
    report = TruthReport(
        dataset=dataset, description=density.description, log_prob=float(log_p.mean()),
        stderr=float(log_p.std(correction=1)) / held_out**0.5,
        coverage=_coverage(density, draw[:n]), held_out=held_out, n=n,
        seed=held_out_seed(seed))
    return report, points


def _declared(caps: Capabilities, model: GenerativeModel | None) -> dict[str, Any]:
    cost = caps.cost
    if model is not None:
        try:
            cost = model.cost()  # at the default options, as the first run sampled
        except Exception:
            cost = caps.cost
    return {"paradigms": caps.paradigms, "likelihood": caps.likelihood,
            "declared_growth": cost.growth, "declared_evaluations": cost.evaluations,
            "cost_bound": cost.bound}


def unmeasured(entry: ModelEntry, dataset: str, options: Mapping[str, Any],
               exc: BaseException, *, n: int, held_out: int, seed: int) -> PointsReport:
    """The row of a configuration that could not be built: "no shipped weights" for
    :class:`~genproto.errors.NoShippedWeights` (with the command that trains it), else failed."""
    try:
        caps = entry.capabilities_for(**options)
    except Exception:
        caps = entry.capabilities
    command = exc.command if isinstance(exc, NoShippedWeights) else None
    no_weights = command is not None
    notes = (f"no shipped weights; train them: {command}",) if no_weights else ()
    return PointsReport(
        name=entry.name, dataset=dataset, distribution=entry.distribution,
        version=entry.version, options=tuple(sorted(options.items())),
        status=PointsStatus.NO_WEIGHTS if no_weights else PointsStatus.FAILED,
        likelihood_outcome=Outcome.NOT_TRIED, kl=None, iwae=None, iwae_k=None, iwae_gain=None,
        coverage=None, counted_evaluations=None, samples_per_second=None, sweep=(),
        notes=notes, errors=() if no_weights else (_error(Stage.BUILD, exc),), n=n,
        held_out=held_out, seed=seed, seconds=0.0, weights_sha256=None,
        **_declared(caps, None))


def evaluate_points(
    model: GenerativeModel,
    dataset: str,
    *,
    n: int = DEFAULT_POINTS_N,
    held_out: int = DEFAULT_HELD_OUT,
    seed: int = 0,
    steps: Sequence[int] = DEFAULT_STEPS,
    batch_size: int | None = None,
    iwae_k: int = IWAE_K,
    entry: ModelEntry | None = None,
    options: Mapping[str, Any] | None = None,
    points: torch.Tensor | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> PointsReport:
    """Measure ``model`` (built for ``dataset``) against the exact density of ``dataset``.

    Args:
        model: a built model of 2-D points; a :class:`genproto.Model` gets its evaluations
            counted, any other :class:`GenerativeModel` is only timed.
        dataset: the toy density it models (:data:`POINTS_DATASETS` or another toy name).
        n: unconditional samples (coverage, cost, speed), >= 2.
        held_out: points the KL is measured on, >= 2 (ignored when ``points`` is given).
        seed: the seed of every sampling run and likelihood estimate; the held-out points are
            drawn with :func:`held_out_seed` of it.
        steps: step counts to sweep for a model with a ``steps`` sample option.
        iwae_k: the IWAE bound's ``k`` for a bound with a likelihood option ``k`` (>= 2).
        entry, options: the registration and factory options it was built from (reported).
        points: the held-out points (:func:`measure_truth`'s), to share one draw across models.
        on_stage: called with each stage's name as it starts (progress bars).

    A stage that fails is recorded in ``errors`` and the others still run.
    """
    from genproto.data import toy2d

    n = check_count(n, "evaluate_points() argument 'n'", 2)
    held_out = check_count(held_out, "evaluate_points() argument 'held_out'", 2)
    seed = check_count(seed, "evaluate_points() argument 'seed'", 0)
    iwae_k = check_count(iwae_k, "evaluate_points() argument 'iwae_k'", 2)
    steps = check_steps(steps)
    density = toy2d(dataset)
    if points is None:
        _, points = measure_truth(dataset, n=2, held_out=held_out, seed=seed)
    held_out = len(points)
    caps = model.capabilities
    stage = on_stage or (lambda _: None)
    began = time.perf_counter()
    notes: list[str] = []
    errors: list[str] = []
    values: dict[str, Any] = dict.fromkeys(
        ("kl", "iwae", "iwae_k", "iwae_gain", "coverage", "counted_evaluations",
         "samples_per_second", "weights_sha256", "scatter", "likelihood_seconds",
         "likelihood_evaluations"))
    event = caps.event
    sweep: tuple[PointsSweep, ...] = ()
    main: _Run | None = None
    if event.kind is not EventKind.CONTINUOUS or tuple(event.shape) != (2,):
        errors.append(f"{Stage.SAMPLES}: the model's events are {event.describe()}, not 2-D "
                      "points; was it built for this dataset?")
        outcome = Outcome.NOT_TRIED
    else:
        # 1. Unconditional samples at the default settings: counted cost, speed, coverage.
        stage(Stage.SAMPLES.value)
        try:
            main = _sample(model, n, condition=None, seed=seed, batch_size=batch_size,
                           options={})
            values["counted_evaluations"] = main.counted
            values["samples_per_second"] = main.per_second
            values["weights_sha256"] = main.weights_sha256
            values["scatter"] = main.samples[:SCATTER_N].detach().to("cpu", torch.float32)
            values["coverage"] = _coverage(density, main.samples)
            if main.counted is None:
                notes.append("not a genproto.Model: network evaluations could not be counted")
        except Exception as exc:  # one failing stage must not hide the others
            errors.append(_error(Stage.SAMPLES, exc))

        # 2. KL(data || model) on the held-out points (ELBO and IWAE for a bound with 'k').
        stage(Stage.LIKELIHOOD.value)
        outcome = _likelihood(model, caps.likelihood, density.log_prob(points.double()), points,
                              seed, batch_size, iwae_k, values, errors)

        # 3. The steps sweep (diffusion): coverage and cost at each step count.
        sweep = _sweep(model, density, steps, main, n, seed, batch_size, stage, errors)
    if values["coverage"] is None and main is not None:
        notes.append(f"coverage needs a Gaussian mixture; {dataset} is not one")
    return PointsReport(
        **_identity(model, entry), dataset=dataset,
        options=tuple(sorted((options or {"dataset": dataset}).items())),
        status=PointsStatus.MEASURED, likelihood_outcome=outcome, sweep=sweep,
        notes=tuple(notes), errors=tuple(errors), n=n, held_out=held_out, seed=seed,
        seconds=time.perf_counter() - began, **_declared(caps, model), **values)


def _iwae_option(model: GenerativeModel, kind: Likelihood) -> tuple[str, int | None] | None:
    """``("k", maximum)`` for a bound whose likelihood takes an importance-sample count ``k``."""
    if kind is not Likelihood.BOUND:
        return None
    option = next((o for o in getattr(model, "likelihood_options", ()) if o.name == "k"), None)
    if option is None or option.type is not int:
        return None
    return option.name, None if option.maximum is None else int(option.maximum)


def _likelihood(model: GenerativeModel, kind: Likelihood, log_p_data: torch.Tensor,
                points: torch.Tensor, seed: int, batch_size: int | None, iwae_k: int,
                values: dict[str, Any], errors: list[str]) -> Outcome:
    """Ask for ``log p_model`` of the held-out points; fill ``values`` with the KL estimates."""
    from genproto.metrics.points import kl_to_truth

    def ask(**options: Any) -> torch.Tensor:
        timed = timed_likelihood(model, points, None, seed=seed, batch_size=batch_size,
                                 options=options)
        if values["likelihood_seconds"] is None:  # the first route asked: the default's cost
            values["likelihood_seconds"] = timed.seconds_per_item
            values["likelihood_evaluations"] = timed.evaluations_per_item
        return timed.nats

    def estimate(log_p_model: torch.Tensor) -> KLEstimate:
        return kl_to_truth(log_p_data, log_p_model, kind)

    iwae = _iwae_option(model, kind)
    try:
        if iwae is None:
            values["kl"] = estimate(ask())
            return Outcome.VALUES
        name, maximum = iwae
        k = iwae_k if maximum is None else min(iwae_k, maximum)
        elbo = ask(**{name: 1})
        values["kl"] = estimate(elbo)
        if k > 1:
            tighter = ask(**{name: k})
            values.update(iwae=estimate(tighter), iwae_k=k, iwae_gain=Gap.of(tighter, elbo))
        return Outcome.VALUES
    except LikelihoodUnavailable:
        return Outcome.UNAVAILABLE
    except Exception as exc:
        errors.append(_error(Stage.LIKELIHOOD, exc))
        return Outcome.ERROR


def evaluate_points_route(model: GenerativeModel, choice: str, dataset: str,
                          points: torch.Tensor, *, seed: int = 0,
                          batch_size: int | None = None) -> PointsRoute:
    """One more likelihood route of a points model (``model`` built with ``likelihood=choice``):
    ``KL(data || model)`` on the held-out ``points`` through it, with its cost per point."""
    from genproto.data import toy2d
    from genproto.metrics.points import kl_to_truth

    kind = model.capabilities.likelihood
    option = route_label(choice)
    try:
        timed = timed_likelihood(model, points, None, seed=seed, batch_size=batch_size)
    except LikelihoodUnavailable:
        return PointsRoute(option, kind, Outcome.UNAVAILABLE, None, None, None)
    except Exception as exc:
        return PointsRoute(option, kind, Outcome.ERROR, None, None, None,
                           _error(Stage.LIKELIHOOD, exc))
    kl = kl_to_truth(toy2d(dataset).log_prob(points.double()), timed.nats, kind)
    return PointsRoute(option, kind, Outcome.VALUES, kl, timed.seconds_per_item,
                       timed.evaluations_per_item)


def _sweep(model: GenerativeModel, density: Toy2D, steps: Sequence[int], main: _Run | None,
           n: int, seed: int, batch_size: int | None, stage: Callable[[str], None],
           errors: list[str]) -> tuple[PointsSweep, ...]:
    """The steps sweep at ``n`` samples each; the default step count reuses the first run."""
    out = []
    for k, declared, run in _sweep_runs(model, steps, main, n, seed, batch_size, stage, errors):
        try:
            coverage = _coverage(density, run.samples)
        except Exception as exc:
            errors.append(_error(f"steps={k} coverage", exc))
            coverage = None
        out.append(PointsSweep(k, declared, run.counted, run.per_second, coverage))
    return tuple(out)
