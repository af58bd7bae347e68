"""Measuring one model for ``genproto compare``: :func:`evaluate` and the stages it runs.

:func:`evaluate` builds a :class:`~genproto.compare.records.ModelReport`:
network evaluations per sample *counted* by the shared sampler (:mod:`genproto.counting`)
(not the declared cost), samples per second (timed), the likelihood in bits
per dimension on the digits test split with its kind, and, for models of the
8x8 digits, the sample-quality metrics of :mod:`genproto.metrics` (Frechet
distance in the reference classifier's features, conditional accuracy, mode
coverage). A model with a ``steps`` sample option (diffusion) is also sampled
at several step counts (:func:`sweep_steps`), so quality can be drawn against
cost as a curve. A text model of the Census names is measured per list instead
(:func:`_evaluate_text`, :mod:`genproto.metrics.text`). The conventions are
stated in :mod:`genproto.compare`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import torch

from genproto.compare.records import ModelReport, Outcome, Stage, SweepPoint
from genproto.compare.routes import Route, route_label, timed_likelihood
from genproto.errors import InvalidArgumentError, LikelihoodUnavailable
from genproto.generative_classifier import (
    NUM_DIGIT_CLASSES,
    digits_input,
    is_digits_event,
    to_levels,
)
from genproto.metrics.text import is_text_model
from genproto.protocol import Capabilities, CostGrowth, EventKind, Likelihood, SampleCost

if TYPE_CHECKING:
    from genproto.options import Option
    from genproto.protocol import GenerativeModel
    from genproto.registry import ModelEntry

__all__ = [
    "DEFAULT_N",
    "DEFAULT_PER_CLASS",
    "DEFAULT_STEPS",
    "check_count",
    "check_steps",
    "evaluate",
    "evaluate_route",
    "failed_report",
    "planned_stages",
    "sweep_steps",
]

#: Unconditional samples per model (Frechet distance, coverage, cost, speed).
DEFAULT_N = 1000
#: Conditional samples per class (conditional accuracy).
DEFAULT_PER_CLASS = 100
#: Step counts of the quality-against-steps sweep (the model's default is added).
DEFAULT_STEPS = (5, 10, 20, 50)
#: Samples used for the cost sweep of a model without image metrics (counting only).
_COUNT_ONLY_N = 64
#: Own samples whose likelihood is asked when there is no test split for the event space.
_PROBE_N = 16


def check_count(value: Any, what: str, minimum: int) -> int:
    """``value`` if it is an int >= ``minimum``, else ``InvalidArgumentError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(what, value=value, allowed=f"an int >= {minimum}")
    return value


def check_steps(steps: Any) -> tuple[int, ...]:
    """The step counts of ``steps`` (one int or several), sorted and without repeats."""
    try:
        values = tuple(steps)
    except TypeError:
        values = (steps,)
    for k in values:
        check_count(k, "a step count in 'steps'", 1)
    return tuple(sorted(set(values)))


def _steps_option(model: GenerativeModel) -> Option | None:
    """The model's declared ``steps`` sample option, if it has one."""
    from genproto.model import Model

    if not isinstance(model, Model):
        return None
    return next((o for o in model.sample_options if o.name == "steps"), None)


def _default_steps(model: GenerativeModel, option: Option) -> int | None:
    cost = model.cost()
    if cost.growth is CostGrowth.PER_STEP:
        return cost.units
    return option.default if isinstance(option.default, int) else None


def sweep_steps(model: GenerativeModel, steps: Sequence[int] = DEFAULT_STEPS) -> tuple[int, ...]:
    """The step counts :func:`evaluate` samples ``model`` at: ``steps`` within the option's
    bounds, plus the model's default; ``()`` for a model without a ``steps`` option."""
    option = _steps_option(model)
    if option is None:
        return ()
    wanted = set(check_steps(steps))
    default = _default_steps(model, option)
    if default is not None:
        wanted.add(default)
    low = option.minimum if option.minimum is not None else 1
    high = option.maximum if option.maximum is not None else math.inf
    return tuple(sorted(k for k in wanted if low <= k <= high))


def planned_stages(model: GenerativeModel, steps: Sequence[int] = DEFAULT_STEPS) -> list[str]:
    """The stages :func:`evaluate` will run, in order (for progress bars)."""
    caps = model.capabilities
    stages = [Stage.SAMPLES.value, Stage.LIKELIHOOD.value]
    if is_text_model(model):
        return stages
    if caps.condition is not None and is_digits_event(caps.event):
        stages.append(Stage.CONDITIONAL.value)
    option = _steps_option(model)
    default = _default_steps(model, option) if option else None
    stages += [f"steps={k}" for k in sweep_steps(model, steps) if k != default]
    return stages


@attrs.frozen
class _Run:
    samples: torch.Tensor
    counted: float | None
    per_second: float
    weights_sha256: str | None


def _sample(model: GenerativeModel, n: int, *, condition: Any, seed: int,
            batch_size: int | None, options: Mapping[str, Any]) -> _Run:
    """Draw ``n`` samples through the shared sampler (evaluations counted) and time them."""
    from genproto import sampling
    from genproto.model import Model

    start = time.perf_counter()
    counted: float | None = None
    weights: str | None = None
    if isinstance(model, Model):
        result = sampling.run(model, n, condition=condition, seed=seed, batch_size=batch_size,
                              progress=False, **options)
        samples = result.samples
        counted, weights = result.evaluations_per_sample, result.provenance.weights_sha256
    else:
        samples = model.sample(n, condition=condition, seed=seed, batch_size=batch_size,
                               **options)
    seconds = time.perf_counter() - start
    return _Run(samples, counted, n / max(seconds, 1e-9), weights)


def _error(stage: str, exc: BaseException) -> str:
    return f"{stage}: {type(exc).__name__}: {exc}"


def _basis(caps: Capabilities, count: int) -> str:
    if caps.condition is None:
        which = "unconditional"
    elif caps.condition.required:
        which = "conditional on the true labels (the model requires a condition)"
    else:
        which = "marginal over classes (condition=None, uniform p(c))"
    if caps.event.kind is EventKind.DISCRETE:
        cells = "discrete levels, bin width 1"
    else:
        cells = "dequantised z = x + u, u ~ U[0,1)^64, bin width 1 (an upper bound)"
    return f"{which}; digits test split ({count} images); {cells}"


def _declared(caps: Capabilities, cost: SampleCost) -> dict[str, Any]:
    """The report's fields that the model declares (``cost``: at the options sampled)."""
    return {
        "paradigms": caps.paradigms, "objective": caps.objective, "sampling": caps.sampling,
        "event": caps.event.describe(), "event_kind": caps.event.kind,
        "event_length": caps.event.dimension, "conditional": caps.conditional,
        "digits": is_digits_event(caps.event), "likelihood": caps.likelihood,
        "declared_growth": cost.growth, "declared_units": cost.units,
        "declared_evaluations": cost.evaluations, "cost_bound": cost.bound,
    }


def evaluate(
    model: GenerativeModel,
    *,
    n: int = DEFAULT_N,
    per_class: int = DEFAULT_PER_CLASS,
    seed: int = 0,
    steps: Sequence[int] = DEFAULT_STEPS,
    batch_size: int | None = None,
    entry: ModelEntry | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ModelReport:
    """Measure one model: cost, speed, likelihood and (digits models) sample quality.

    Args:
        model: a built model; a :class:`genproto.Model` gets its evaluations
            counted, any other :class:`GenerativeModel` is only timed.
        n: unconditional samples (Frechet distance, coverage, cost, speed), >= 2.
        per_class: conditional samples per class (conditional accuracy), >= 1.
        seed: the seed of every sampling run and likelihood estimate.
        steps: step counts to sweep for a model with a ``steps`` sample option;
            its default is always included. ``()`` measures the default only.
        batch_size: passed to the sampler (``None``: automatic).
        entry: the model's registration, for the plugin's name and version.
        on_stage: called with each stage's name as it starts (progress bars).

    A stage that fails is recorded in ``errors`` and the others still run; a
    metric that does not apply (image metrics of a 2-D model) is ``None`` with
    the reason in ``notes``.
    """
    from genproto import metrics

    n = check_count(n, "evaluate() argument 'n'", 2)
    per_class = check_count(per_class, "evaluate() argument 'per_class'", 1)
    seed = check_count(seed, "evaluate() argument 'seed'", 0)
    steps = check_steps(steps)
    if is_text_model(model):
        return _evaluate_text(model, n=n, per_class=per_class, seed=seed, batch_size=batch_size,
                              entry=entry, on_stage=on_stage)
    caps = model.capabilities
    digits = is_digits_event(caps.event)
    notes: list[str] = []
    errors: list[str] = []
    stage = on_stage or (lambda _: None)
    began = time.perf_counter()
    values: dict[str, Any] = dict.fromkeys(
        ("bits_per_dim", "bits_per_dim_stderr", "likelihood_seconds", "likelihood_evaluations",
         "counted_evaluations", "samples_per_second", "frechet", "conditional_accuracy",
         "coverage", "weights_sha256"))
    if not digits:
        notes.append(
            f"image metrics (Frechet distance, coverage, conditional accuracy) and bits/dim "
            f"need 8x8 digits; this model's events are {caps.event.describe()}"
        )

    # 1. Unconditional samples at the default settings: counted cost, speed, quality.
    stage(Stage.SAMPLES.value)
    condition: Any = None
    if caps.condition is not None and caps.condition.required:
        condition = torch.arange(n) % caps.condition.num_classes
        notes.append("the model requires a condition: 'unconditional' samples cycle the classes")
    main: _Run | None = None
    try:
        main = _sample(model, n, condition=condition, seed=seed, batch_size=batch_size,
                       options={})
        values["counted_evaluations"] = main.counted
        values["samples_per_second"] = main.per_second
        values["weights_sha256"] = main.weights_sha256
        if main.counted is None:
            notes.append("not a genproto.Model: network evaluations could not be counted")
        if digits:
            levels = to_levels(caps.event, main.samples)
            values["frechet"] = metrics.digits_frechet(levels)
            values["coverage"] = metrics.mode_coverage(levels)
    except Exception as exc:  # one failing stage must not hide the others
        errors.append(_error(Stage.SAMPLES, exc))

    # 2. Likelihood: bits/dim on the test split, and whether log_likelihood keeps the declared kind.
    stage(Stage.LIKELIHOOD.value)
    outcome, basis = _likelihood(model, caps, digits, main, seed, batch_size, values, errors)

    # 3. Conditional accuracy: per_class samples of each digit class.
    if caps.condition is not None and digits:
        stage(Stage.CONDITIONAL.value)
        if caps.condition.num_classes != NUM_DIGIT_CLASSES:
            notes.append(f"conditional accuracy needs the 10 digit classes, not "
                         f"{caps.condition.num_classes}")
        else:
            labels = torch.arange(per_class * NUM_DIGIT_CLASSES) % NUM_DIGIT_CLASSES
            try:
                run = _sample(model, len(labels), condition=labels, seed=seed,
                              batch_size=batch_size, options={})
                values["conditional_accuracy"] = metrics.conditional_accuracy(
                    to_levels(caps.event, run.samples), labels)
            except Exception as exc:
                errors.append(_error(Stage.CONDITIONAL, exc))

    # 4. The steps sweep (diffusion): cost and quality at each step count.
    sweep = _sweep(model, steps, digits, main, n, seed, batch_size, stage, errors)

    return ModelReport(
        **_identity(model, entry),
        likelihood_outcome=outcome,
        bits_per_dim_basis=basis,
        sweep=sweep,
        notes=tuple(notes),
        errors=tuple(errors),
        n=n,
        per_class=per_class,
        seed=seed,
        seconds=time.perf_counter() - began,
        **_declared(caps, _declared_cost(model)),
        **values,
    )


def _declared_cost(model: GenerativeModel) -> SampleCost:
    try:
        return model.cost()  # at the default options, as the first run sampled
    except Exception:
        return model.capabilities.cost


def _identity(model: GenerativeModel, entry: ModelEntry | None) -> dict[str, Any]:
    origin = getattr(model, "origin", None)
    return {
        "name": model.name,
        "distribution": entry.distribution if entry else getattr(origin, "distribution", None),
        "version": entry.version if entry else getattr(origin, "version", None),
    }


def _evaluate_text(model: GenerativeModel, *, n: int, per_class: int, seed: int,
                   batch_size: int | None, entry: ModelEntry | None,
                   on_stage: Callable[[str], None] | None) -> ModelReport:
    """A text model of the Census names: ``n`` samples per list (condition = the list's
    name), counted and timed, and the text metrics of each list
    (:mod:`genproto.metrics.text`): cross-entropy on the test names, novelty, validity,
    length distance and the reference names classifier's accuracy."""
    from genproto.data.names import NAMES_LISTS, NamesList
    from genproto.metrics.text import (
        TextMetrics,
        log_likelihood_of_test_names,
        stopped_rows,
        text_metrics,
    )
    from genproto.protocol import TextCodec

    assert isinstance(model, TextCodec)  # is_text_model checked it
    caps = model.capabilities
    stage = on_stage or (lambda _: None)
    began = time.perf_counter()
    errors: list[str] = []
    notes = [f"a text model: {n} samples per Census list, condition = the list's name; "
             "image metrics and bits/dim do not apply (see the text metrics)"]

    # 1. Samples of every list: counted cost and speed over all of them, decoded to text.
    stage(Stage.SAMPLES.value)
    runs: dict[NamesList, _Run] = {}
    try:
        for name in NAMES_LISTS:
            runs[name] = _sample(model, n, condition=name, seed=seed, batch_size=batch_size,
                                 options={})
    except Exception as exc:
        errors.append(_error(Stage.SAMPLES, exc))
    counted = [r.counted for r in runs.values()]
    values: dict[str, Any] = {
        "counted_evaluations": (sum(counted) / len(counted)  # type: ignore[arg-type]
                                if counted and None not in counted else None),
        "samples_per_second": (len(runs) * n / sum(n / r.per_second for r in runs.values())
                               if runs else None),
        "weights_sha256": next(iter(runs.values())).weights_sha256 if runs else None,
    }
    if runs and values["counted_evaluations"] is None:
        notes.append("not a genproto.Model: network evaluations could not be counted")

    # 2. Likelihood: each list's test names (from_text, then log_likelihood with the list).
    stage(Stage.LIKELIHOOD.value)
    nats: dict[NamesList, tuple[torch.Tensor, int]] = {}
    outcome = Outcome.NOT_TRIED
    try:
        for name in NAMES_LISTS:
            nats[name] = log_likelihood_of_test_names(model, name, seed=seed,
                                                   batch_size=batch_size)
        outcome = Outcome.VALUES
    except LikelihoodUnavailable:
        outcome, nats = Outcome.UNAVAILABLE, {}
    except Exception as exc:
        errors.append(_error(Stage.LIKELIHOOD, exc))
        outcome, nats = Outcome.ERROR, {}

    # 3. The text metrics of each list that sampled.
    text: list[TextMetrics] = []
    for name, run in runs.items():
        try:
            log_likelihood, refused = nats.get(name, (None, 0))
            text.append(text_metrics(
                model.to_text(run.samples), name, log_likelihood=log_likelihood,
                stopped=stopped_rows(caps.event, run.samples), unencodable=refused))
        except Exception as exc:
            errors.append(_error(f"text metrics of {name!r}", exc))
    refused_total = sum(r for _, r in nats.values())
    if refused_total:
        notes.append(f"from_text refused {refused_total} test names (counted as probability 0)")
    basis = ("none for text: see the cross-entropy in nats per name on each list's test "
             "names (text metrics)" if outcome is Outcome.VALUES else "—")
    return ModelReport(
        **_identity(model, entry),
        likelihood_outcome=outcome, bits_per_dim=None, bits_per_dim_basis=basis,
        frechet=None, conditional_accuracy=None, coverage=None, sweep=(),
        notes=tuple(notes), errors=tuple(errors), n=n, per_class=per_class, seed=seed,
        seconds=time.perf_counter() - began, text=tuple(text),
        **_declared(caps, _declared_cost(model)), **values,
    )


def _likelihood(model: GenerativeModel, caps: Capabilities, digits: bool, main: _Run | None,
                seed: int, batch_size: int | None, values: dict[str, Any],
                errors: list[str]) -> tuple[Outcome, str]:
    """Ask for the likelihood; return (outcome, basis) and fill ``values['bits_per_dim']``."""
    condition: Any
    if digits:
        x, condition = _test_split(caps, seed)
        if caps.likelihood is Likelihood.NONE:  # only the behaviour is checked: a few rows do
            x, condition = x[:_PROBE_N], None if condition is None else condition[:_PROBE_N]
        basis = _basis(caps, len(x)) if caps.likelihood is not Likelihood.NONE else "—"
    elif main is not None:
        x = main.samples[:_PROBE_N]
        condition = None
        if caps.condition is not None and caps.condition.required:
            condition = torch.arange(len(x)) % caps.condition.num_classes
        basis = (f"not measured: no test split for {caps.event.describe()} events "
                 f"(log_likelihood asked on {len(x)} of the model's own samples)")
    else:
        return Outcome.NOT_TRIED, "not measured: no data to evaluate (sampling failed)"
    try:
        timed = timed_likelihood(model, x, condition, seed=seed, batch_size=batch_size)
    except LikelihoodUnavailable:
        return Outcome.UNAVAILABLE, basis
    except Exception as exc:
        errors.append(_error(Stage.LIKELIHOOD, exc))
        return Outcome.ERROR, basis
    if not bool(torch.isfinite(timed.nats).all()):
        errors.append(f"{Stage.LIKELIHOOD}: log_likelihood returned NaN or inf")
        return Outcome.ERROR, basis
    if digits and caps.likelihood is not Likelihood.NONE:
        values["bits_per_dim"], values["bits_per_dim_stderr"] = _bits(timed.nats,
                                                                      caps.event.dimension)
        values["likelihood_seconds"] = timed.seconds_per_item
        values["likelihood_evaluations"] = timed.evaluations_per_item
    return Outcome.VALUES, basis


def _bits(nats: torch.Tensor, dimension: int) -> tuple[float, float]:
    """Bits per dimension of the rows' log-likelihoods, and its standard error over the rows."""
    from genproto.metrics import bits_per_dim

    per_row = -nats / (dimension * math.log(2))
    stderr = float(per_row.std(correction=1)) / math.sqrt(len(per_row)) if len(per_row) > 1 \
        else math.nan
    return bits_per_dim(nats, dimension, bin_width=1.0), stderr


def _test_split(caps: Capabilities, seed: int) -> tuple[torch.Tensor, Any]:
    """The digits test split in the model's event space, and the condition its likelihood
    is asked with (the true labels only where the model requires a condition)."""
    from genproto.data import load_digits

    test = load_digits("test")
    x = digits_input(caps.event, test.x, seed=seed)
    condition = test.y if caps.condition is not None and caps.condition.required else None
    return x, condition


def evaluate_route(model: GenerativeModel, choice: str, *, seed: int = 0,
                   batch_size: int | None = None) -> Route:
    """One more likelihood route of a digits model (``model`` built with ``likelihood=choice``):
    its bits/dim on the test split, on the basis of the model's own row, with its cost."""
    caps = model.capabilities
    option = route_label(choice)
    if not is_digits_event(caps.event):
        return Route(option, caps.likelihood, Outcome.NOT_TRIED, None, None, None, None,
                     f"needs 8x8 digits; this model's events are {caps.event.describe()}")
    x, condition = _test_split(caps, seed)
    try:
        timed = timed_likelihood(model, x, condition, seed=seed, batch_size=batch_size)
    except LikelihoodUnavailable:
        return Route(option, caps.likelihood, Outcome.UNAVAILABLE, None, None, None, None)
    except Exception as exc:
        return Route(option, caps.likelihood, Outcome.ERROR, None, None, None, None,
                     _error(Stage.LIKELIHOOD, exc))
    if not bool(torch.isfinite(timed.nats).all()):
        return Route(option, caps.likelihood, Outcome.ERROR, None, None, None, None,
                     f"{Stage.LIKELIHOOD}: log_likelihood returned NaN or inf")
    bits, stderr = _bits(timed.nats, caps.event.dimension)
    return Route(option, caps.likelihood, Outcome.VALUES, bits, stderr, timed.seconds_per_item,
                 timed.evaluations_per_item)


def _sweep_runs(model: GenerativeModel, steps: Sequence[int], main: _Run | None, n: int,
                seed: int, batch_size: int | None, stage: Callable[[str], None],
                errors: list[str]) -> Iterator[tuple[int, int | None, _Run]]:
    """The runs of a steps sweep: ``(k, declared evaluations, run)`` for each step count.

    The model's default step count reuses ``main`` (skipped when it is ``None``); every other
    step count draws ``n`` samples anew. A sampling failure is appended to ``errors`` and its
    step count skipped; nothing is yielded for a model without a ``steps`` option.
    """
    option = _steps_option(model)
    if option is None:
        return
    default = _default_steps(model, option)
    for k in sweep_steps(model, steps):
        try:
            declared: int | None = model.cost(steps=k).evaluations
        except Exception:
            declared = None
        if k == default:
            if main is None:
                continue
            run: _Run = main
        else:
            stage(f"steps={k}")
            try:
                run = _sample(model, n, condition=None, seed=seed, batch_size=batch_size,
                              options={"steps": k})
            except Exception as exc:
                errors.append(_error(f"steps={k}", exc))
                continue
        yield k, declared, run


def _sweep(model: GenerativeModel, steps: Sequence[int], digits: bool, main: _Run | None, n: int,
           seed: int, batch_size: int | None, stage: Callable[[str], None],
           errors: list[str]) -> tuple[SweepPoint, ...]:
    """The steps sweep; the model's default step count reuses the first run, not a new one."""
    from genproto import metrics

    count = n if digits else min(n, _COUNT_ONLY_N)
    points = []
    for k, declared, run in _sweep_runs(model, steps, main, count, seed, batch_size, stage,
                                        errors):
        frechet = None
        if digits:
            try:
                frechet = metrics.digits_frechet(to_levels(model.capabilities.event, run.samples))
            except Exception as exc:
                errors.append(_error(f"steps={k} quality", exc))
        points.append(SweepPoint(k, declared, run.counted, run.per_second, frechet))
    return tuple(points)


def failed_report(entry: ModelEntry, exc: BaseException, *, n: int, per_class: int,
                  seed: int) -> ModelReport:
    """The report of a model that could not be built: its declarations, and the error."""
    caps = entry.capabilities
    return ModelReport(
        name=entry.name, distribution=entry.distribution, version=entry.version,
        likelihood_outcome=Outcome.NOT_TRIED, bits_per_dim=None,
        bits_per_dim_basis="not measured: the model could not be built",
        counted_evaluations=None, samples_per_second=None, frechet=None,
        conditional_accuracy=None, coverage=None, sweep=(), notes=(),
        errors=(_error(Stage.BUILD, exc),), n=n, per_class=per_class, seed=seed, seconds=0.0,
        weights_sha256=None, **_declared(caps, caps.cost),
    )
