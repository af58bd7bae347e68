"""The cheatsheet's table of paradigms, measured: ``genproto compare``.

The cheatsheet that inspired genproto compares the paradigms in prose -- what
each trains on, how it samples, whether it has a likelihood, how sampling cost
grows, how each fails. Here every number in that table is measured on the
installed models:

* :func:`evaluate` measures one model and returns a :class:`ModelReport`:
  network evaluations per sample *counted* by the shared sampler's forward hooks
  (not the declared cost), samples per second (timed), the likelihood in bits
  per dimension on the digits test split with its kind, and, for models of the
  8x8 digits, the sample-quality metrics of :mod:`genproto.metrics` (Frechet
  distance in the reference classifier's features, conditional accuracy, mode
  coverage). Models with a ``steps`` sample option (diffusion) are measured at
  several step counts, so quality can be drawn against cost as a curve.
* :func:`judge` turns the reports into :class:`Claim` s: for each of the
  cheatsheet's statements and each installed paradigm, whether it *holds*,
  *does not hold*, or was *not measured*, with the numbers that decided it.
* :func:`compare` does both for every model in a registry (or those named);
  :class:`Comparison` renders the result as text, markdown or JSON, and
  :func:`comparison_chart` draws quality against cost (:mod:`genproto.plot`).

Conventions, stated once (they are repeated in every report):

* **Likelihood.** ``log_likelihood`` of the 359 digits test images, with
  ``condition=None``: for a class-conditional model that is the marginal
  ``log sum_c p(x|c) p(c)`` with uniform ``p(c)`` (the same quantity an
  unconditional model gives, so the numbers compare); a model whose condition
  is required is evaluated on the true labels instead, and says so. Discrete
  models see the levels (bin width 1); continuous 8x8 models see ``z = x + u``,
  ``u ~ U[0, 1)^64`` (unit-width cells, bin width 1), which makes their
  bits/dim an upper bound on the discrete one (see
  :func:`genproto.metrics.bits_per_dim`).
* **Quality.** Unconditional samples (``condition=None``; a conditional model
  draws each sample's class uniformly) of ``n`` images give the Frechet
  distance against the test split and the class coverage; ``per_class``
  samples of each class give the conditional accuracy. Compare Frechet
  distances at equal ``n`` only, and against :func:`genproto.metrics.frechet_floor`.
* **Cost.** The evaluations the sampler counts per sample of the first run, and
  samples per second of that run's wall time (the machine's load shows in it).
"""

from __future__ import annotations

import enum
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import torch

from genproto.errors import InvalidArgumentError, LikelihoodUnavailable
from genproto.generative_classifier import (
    NUM_DIGIT_CLASSES,
    digits_input,
    is_digits_event,
    log_likelihood,
    to_levels,
)
from genproto.protocol import Capabilities, CostGrowth, EventKind, Likelihood, Paradigm

if TYPE_CHECKING:
    from PIL import Image

    from genproto.metrics import Coverage
    from genproto.protocol import GenerativeModel
    from genproto.registry import ModelEntry, Registry

__all__ = [
    "COLLAPSE_RATIO",
    "DEFAULT_N",
    "DEFAULT_PER_CLASS",
    "DEFAULT_STEPS",
    "HYBRID_CLAIMS",
    "QUALITY_GAIN",
    "Claim",
    "Comparison",
    "ModelReport",
    "Status",
    "SweepPoint",
    "compare",
    "comparison_chart",
    "equal_steps",
    "evaluate",
    "judge",
    "save_chart",
    "sweep_steps",
]

#: Unconditional samples per model (Frechet distance, coverage, cost, speed).
DEFAULT_N = 1000
#: Conditional samples per class (conditional accuracy).
DEFAULT_PER_CLASS = 100
#: Step counts of the quality-against-steps sweep (the model's default is added).
DEFAULT_STEPS = (5, 10, 20, 50)
#: A GAN has collapsed when a class is missing or the rarest class is below this
#: fraction of the uniform frequency (the real test split: about 0.97).
COLLAPSE_RATIO = 0.5
#: "Quality improves with steps" when the Frechet distance at the most steps is
#: lower than at the fewest by more than this fraction.
QUALITY_GAIN = 0.10
#: Samples used for the cost sweep of a model without image metrics (counting only).
_COUNT_ONLY_N = 64
#: Own samples whose likelihood is asked when there is no test split for the event space.
_PROBE_N = 16
_EPS = 1e-9


class Status(enum.Enum):
    """The verdict on a claim."""

    HOLDS = "holds"
    DOES_NOT_HOLD = "does not hold"
    NOT_MEASURED = "not measured"


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
    """What :func:`evaluate` measured for one model (``None``: not measured; see ``notes``).

    The declared facts (paradigms, objective, sampling, likelihood kind,
    declared cost) come from the model's capabilities; everything else was
    measured. ``errors`` holds the stages that failed, ``notes`` the metrics
    skipped and why.
    """

    name: str
    distribution: str | None
    version: str | None
    paradigms: tuple[str, ...]
    objective: str
    sampling: str
    event: str
    event_length: int
    conditional: bool
    digits: bool
    likelihood: str
    declared_growth: str
    declared_units: int
    declared_evaluations: int
    likelihood_outcome: str
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

    @property
    def built(self) -> bool:
        """False when the model could not even be built (see ``errors``)."""
        return not any(e.startswith("build:") for e in self.errors)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=True, value_serializer=_jsonable)


def _jsonable(instance: Any, field: Any, value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------------------------
# Measuring one model
# --------------------------------------------------------------------------------------------


def _check_int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(what, value=value, allowed=f"an int >= {minimum}")
    return value


def _check_steps(steps: Any) -> tuple[int, ...]:
    try:
        values = tuple(steps)
    except TypeError:
        values = (steps,)
    for k in values:
        _check_int(k, "a step count in 'steps'", 1)
    return tuple(sorted(set(values)))


def _steps_option(model: GenerativeModel) -> Any:
    """The model's declared ``steps`` sample option, if it has one."""
    from genproto.model import Model

    if not isinstance(model, Model):
        return None
    return next((o for o in model.sample_options if o.name == "steps"), None)


def _default_steps(model: GenerativeModel, option: Any) -> int | None:
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
    wanted = set(_check_steps(steps))
    default = _default_steps(model, option)
    if default is not None:
        wanted.add(default)
    low = option.minimum if option.minimum is not None else 1
    high = option.maximum if option.maximum is not None else math.inf
    return tuple(sorted(k for k in wanted if low <= k <= high))


def planned_stages(model: GenerativeModel, steps: Sequence[int] = DEFAULT_STEPS) -> list[str]:
    """The stages :func:`evaluate` will run, in order (for progress bars)."""
    caps = model.capabilities
    stages = ["samples", "likelihood"]
    if caps.condition is not None and is_digits_event(caps.event):
        stages.append("conditional")
    default = _default_steps(model, _steps_option(model)) if _steps_option(model) else None
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
    if isinstance(model, Model):
        result = sampling.run(model, n, condition=condition, seed=seed, batch_size=batch_size,
                              progress=False, **options)
        seconds = time.perf_counter() - start
        return _Run(result.samples, result.evaluations_per_sample, n / max(seconds, 1e-9),
                    result.provenance.weights_sha256)
    samples = model.sample(n, condition=condition, seed=seed, batch_size=batch_size, **options)
    seconds = time.perf_counter() - start
    return _Run(samples, None, n / max(seconds, 1e-9), None)


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

    n = _check_int(n, "evaluate() argument 'n'", 2)
    per_class = _check_int(per_class, "evaluate() argument 'per_class'", 1)
    seed = _check_int(seed, "evaluate() argument 'seed'", 0)
    steps = _check_steps(steps)
    caps = model.capabilities
    digits = is_digits_event(caps.event)
    notes: list[str] = []
    errors: list[str] = []
    stage = on_stage or (lambda _: None)
    began = time.perf_counter()
    values: dict[str, Any] = dict.fromkeys(
        ("bits_per_dim", "counted_evaluations", "samples_per_second", "frechet",
         "conditional_accuracy", "coverage", "weights_sha256"))
    if not digits:
        notes.append(
            f"image metrics (Frechet distance, coverage, conditional accuracy) and bits/dim "
            f"need 8x8 digits; this model's events are {caps.event.describe()}"
        )

    # 1. Unconditional samples at the default settings: counted cost, speed, quality.
    stage("samples")
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
        errors.append(_error("samples", exc))

    # 2. Likelihood: bits/dim on the test split, and whether log_likelihood keeps the declared kind.
    stage("likelihood")
    outcome, basis = _likelihood(model, caps, digits, main, seed, batch_size, values, errors)

    # 3. Conditional accuracy: per_class samples of each digit class.
    if caps.condition is not None and digits:
        stage("conditional")
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
                errors.append(_error("conditional", exc))

    # 4. The steps sweep (diffusion): cost and quality at each step count.
    sweep = _sweep(model, steps, digits, main, n, seed, batch_size, stage, errors)

    origin = getattr(model, "origin", None)
    try:
        declared = model.cost()  # at the default options, as the first run sampled
    except Exception:
        declared = caps.cost
    return ModelReport(
        name=model.name,
        distribution=entry.distribution if entry else getattr(origin, "distribution", None),
        version=entry.version if entry else getattr(origin, "version", None),
        paradigms=tuple(p.value for p in caps.paradigms),
        objective=caps.objective,
        sampling=caps.sampling,
        event=caps.event.describe(),
        event_length=caps.event.dimension,
        conditional=caps.conditional,
        digits=digits,
        likelihood=caps.likelihood.value,
        declared_growth=declared.growth.value,
        declared_units=declared.units,
        declared_evaluations=declared.evaluations,
        likelihood_outcome=outcome,
        bits_per_dim_basis=basis,
        sweep=sweep,
        notes=tuple(notes),
        errors=tuple(errors),
        n=n,
        per_class=per_class,
        seed=seed,
        seconds=time.perf_counter() - began,
        **values,
    )


def _likelihood(model: GenerativeModel, caps: Capabilities, digits: bool, main: _Run | None,
                seed: int, batch_size: int | None, values: dict[str, Any],
                errors: list[str]) -> tuple[str, str]:
    """Ask for the likelihood; return (outcome, basis) and fill ``values['bits_per_dim']``.

    Outcomes: ``"values"`` (finite numbers came back), ``"unavailable"``
    (``LikelihoodUnavailable`` was raised), ``"error"``, ``"not tried"``.
    """
    from genproto.data import load_digits
    from genproto.metrics import bits_per_dim

    if digits:
        test = load_digits("test")
        x = digits_input(caps.event, test.x, seed=seed)
        condition: Any = test.y if caps.condition is not None and caps.condition.required else None
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
        return "not tried", "not measured: no data to evaluate (sampling failed)"
    try:
        nats = log_likelihood(model, x, condition, seed=seed, batch_size=batch_size)
    except LikelihoodUnavailable:
        return "unavailable", basis
    except Exception as exc:
        errors.append(_error("likelihood", exc))
        return "error", basis
    if not bool(torch.isfinite(nats).all()):
        errors.append("likelihood: log_likelihood returned NaN or inf")
        return "error", basis
    if digits and caps.likelihood is not Likelihood.NONE:
        values["bits_per_dim"] = bits_per_dim(nats.to("cpu", torch.float64), caps.event.dimension,
                                              bin_width=1.0)
    return "values", basis


def _sweep(model: GenerativeModel, steps: Sequence[int], digits: bool, main: _Run | None, n: int,
           seed: int, batch_size: int | None, stage: Callable[[str], None],
           errors: list[str]) -> tuple[SweepPoint, ...]:
    from genproto import metrics

    option = _steps_option(model)
    if option is None:
        return ()
    default = _default_steps(model, option)
    points = []
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
                run = _sample(model, n if digits else min(n, _COUNT_ONLY_N), condition=None,
                              seed=seed, batch_size=batch_size, options={"steps": k})
            except Exception as exc:
                errors.append(_error(f"steps={k}", exc))
                continue
        frechet = None
        if digits:
            try:
                frechet = metrics.digits_frechet(to_levels(model.capabilities.event, run.samples))
            except Exception as exc:
                errors.append(_error(f"steps={k} quality", exc))
        points.append(SweepPoint(k, declared, run.counted, run.per_second, frechet))
    return tuple(points)


def _failed_report(entry: ModelEntry, exc: BaseException, *, n: int, per_class: int,
                   seed: int) -> ModelReport:
    """The report of a model that could not be built: its declarations, and the error."""
    caps = entry.capabilities
    return ModelReport(
        name=entry.name, distribution=entry.distribution, version=entry.version,
        paradigms=tuple(p.value for p in caps.paradigms), objective=caps.objective,
        sampling=caps.sampling, event=caps.event.describe(), event_length=caps.event.dimension,
        conditional=caps.conditional, digits=is_digits_event(caps.event),
        likelihood=caps.likelihood.value, declared_growth=caps.cost.growth.value,
        declared_units=caps.cost.units, declared_evaluations=caps.cost.evaluations,
        likelihood_outcome="not tried", bits_per_dim=None,
        bits_per_dim_basis="not measured: the model could not be built",
        counted_evaluations=None, samples_per_second=None, frechet=None,
        conditional_accuracy=None, coverage=None, sweep=(), notes=(),
        errors=(_error("build", exc),), n=n, per_class=per_class, seed=seed, seconds=0.0,
        weights_sha256=None,
    )


# --------------------------------------------------------------------------------------------
# The cheatsheet's claims
# --------------------------------------------------------------------------------------------


@attrs.frozen
class Claim:
    """One statement of the cheatsheet about one paradigm, judged on the measured numbers.

    Attributes:
        key: a stable identifier, e.g. ``"adversarial.likelihood"``.
        paradigm: the paradigm it is about.
        statement: the claim, in words.
        status: holds / does not hold / not measured.
        evidence: the numbers that decided it (per model), or why it was not measured.
    """

    key: str
    paradigm: str
    statement: str
    status: Status
    evidence: str

    def verdict(self) -> str:
        """``"holds"``, ``"does not hold"`` or ``"not measured (why)"``."""
        if self.status is Status.NOT_MEASURED:
            return f"not measured ({self.evidence})"
        return str(self.status.value)

    def line(self) -> str:
        if self.status is Status.NOT_MEASURED:
            return f"{self.statement}: {self.verdict()}"
        return f"{self.statement}: {self.verdict()} — {self.evidence}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "paradigm": self.paradigm, "statement": self.statement,
                "status": self.status.value, "verdict": self.verdict(),
                "evidence": self.evidence}


_Verdict = tuple[Status, str]


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}g}"


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= _EPS * max(1.0, abs(b))


def _counted_or_reason(r: ModelReport) -> _Verdict | None:
    if r.counted_evaluations is None:
        why = r.errors[0] if r.errors else "evaluations not counted"
        return Status.NOT_MEASURED, why
    return None


def _per_token(r: ModelReport) -> _Verdict:
    missing = _counted_or_reason(r)
    if missing:
        return missing
    ok = (r.declared_growth == CostGrowth.PER_TOKEN.value
          and _same(r.counted_evaluations, r.declared_evaluations)
          and r.declared_units == r.event_length)
    return (Status.HOLDS if ok else Status.DOES_NOT_HOLD,
            f"counted {_num(r.counted_evaluations)} evaluations per sample; declared "
            f"{r.declared_evaluations} ({r.declared_growth.replace('_', ' ')}, "
            f"L={r.declared_units}); event length {r.event_length}")


def _per_step(r: ModelReport) -> _Verdict:
    points = [p for p in r.sweep if p.counted_evaluations is not None]
    if len(points) < 2:
        why = ("no 'steps' sample option to vary" if not r.sweep
               else "fewer than two step counts were measured")
        return Status.NOT_MEASURED, why
    matches = all(_same(p.counted_evaluations, p.declared_evaluations) for p in points)
    first, last = points[0], points[-1]
    assert first.counted_evaluations is not None
    assert last.counted_evaluations is not None
    slope = (last.counted_evaluations - first.counted_evaluations) / (last.steps - first.steps)
    linear = slope >= 1 - _EPS and all(
        _same(p.counted_evaluations, first.counted_evaluations + slope * (p.steps - first.steps))
        for p in points)
    ok = r.declared_growth == CostGrowth.PER_STEP.value and matches and linear
    counted = ", ".join(_num(p.counted_evaluations) for p in points)
    declared = ", ".join(_num(p.declared_evaluations) for p in points)
    ks = ", ".join(str(p.steps) for p in points)
    return (Status.HOLDS if ok else Status.DOES_NOT_HOLD,
            f"counted {counted} evaluations per sample at K = {ks} (declared {declared}; "
            f"{_num(slope)} per step)")


def _single_pass(r: ModelReport) -> _Verdict:
    missing = _counted_or_reason(r)
    if missing:
        return missing
    ok = r.declared_growth == CostGrowth.SINGLE_PASS.value and _same(r.counted_evaluations, 1.0)
    return (Status.HOLDS if ok else Status.DOES_NOT_HOLD,
            f"counted {_num(r.counted_evaluations)} evaluation(s) per sample; declared "
            f"{r.declared_evaluations} ({r.declared_growth.replace('_', ' ')})")


def _steps_plus_decoder(r: ModelReport) -> _Verdict:
    points = [p for p in r.sweep if p.counted_evaluations is not None]
    if not points:
        return Status.NOT_MEASURED, "no 'steps' sample option to vary"
    ok = r.declared_growth == CostGrowth.PER_STEP.value and all(
        _same(p.counted_evaluations, p.steps + 1) and _same(p.declared_evaluations, p.steps + 1)
        for p in points)
    trail = ", ".join(f"{_num(p.counted_evaluations)} at K={p.steps}" for p in points)
    return (Status.HOLDS if ok else Status.DOES_NOT_HOLD,
            f"counted {trail} (declared {', '.join(_num(p.declared_evaluations) for p in points)})")


def _likelihood_kind(*kinds: Likelihood) -> Callable[[ModelReport], _Verdict]:
    wanted = {k.value for k in kinds}

    def judge_one(r: ModelReport) -> _Verdict:
        if r.likelihood_outcome in ("not tried", "error"):
            why = next((e for e in r.errors if e.startswith(("likelihood", "build"))),
                       "log_likelihood was not asked")
            return Status.NOT_MEASURED, why
        expect_none = wanted == {Likelihood.NONE.value}
        if r.likelihood_outcome == "unavailable":
            said = "log_likelihood raised LikelihoodUnavailable"
        else:
            said = "log_likelihood returned finite values"
            if r.bits_per_dim is not None:
                said += f" ({_num(r.bits_per_dim, 4)} bits/dim on the digits test split)"
        behaved = (r.likelihood_outcome == "unavailable") == expect_none
        ok = r.likelihood in wanted and behaved
        return Status.HOLDS if ok else Status.DOES_NOT_HOLD, f"declared {r.likelihood}; {said}"

    return judge_one


def _flow_likelihood(r: ModelReport) -> _Verdict:
    """Exact on a continuous event space; on a discrete one, dequantisation makes the change of
    variables a lower bound on the probability of the levels (Theis et al. 2016)."""
    discrete = "discrete" in r.event
    kind = Likelihood.BOUND if discrete else Likelihood.EXACT
    status, text = _likelihood_kind(kind)(r)
    where = "discrete events: dequantised, a bound" if discrete else "continuous events: exact"
    return status, f"{text} ({where})"


def _collapse(r: ModelReport) -> _Verdict:
    if r.coverage is None:
        why = next((e for e in r.errors if e.startswith(("samples", "build"))), None)
        return Status.NOT_MEASURED, why or "no image metrics for this event space"
    c = r.coverage
    collapsed = c.classes_present < c.num_classes or c.min_ratio < COLLAPSE_RATIO
    return (Status.HOLDS if collapsed else Status.DOES_NOT_HOLD,
            f"{c.classes_present}/{c.num_classes} classes in {r.n} unconditional samples, rarest "
            f"at {c.min_ratio:.2f} of uniform (collapse: a class missing or rarest < "
            f"{COLLAPSE_RATIO:g})")


def _quality_with_steps(r: ModelReport) -> _Verdict:
    points = [p for p in r.sweep if p.frechet is not None]
    if len(points) < 2:
        if not r.sweep:
            return Status.NOT_MEASURED, "no 'steps' sample option to vary"
        return Status.NOT_MEASURED, ("no image metrics for this event space" if not r.digits
                                     else "fewer than two step counts were measured")
    few, many = points[0], points[-1]
    assert few.frechet is not None
    assert many.frechet is not None
    ok = many.frechet < (1 - QUALITY_GAIN) * few.frechet
    trail = ", ".join(f"{p.frechet:.3g} at K={p.steps}" for p in points)
    return (Status.HOLDS if ok else Status.DOES_NOT_HOLD,
            f"Frechet distance {trail} (holds when K={many.steps} beats K={few.steps} by "
            f"more than {QUALITY_GAIN:.0%})")


#: (key, paradigm, statement, judge) for every claim, in the order they are reported.
CLAIMS: tuple[tuple[str, Paradigm, str, Callable[[ModelReport], _Verdict]], ...] = (
    ("autoregressive.cost", Paradigm.AUTOREGRESSIVE,
     "Autoregressive: sampling cost grows with the length L (one evaluation per piece)",
     _per_token),
    ("autoregressive.likelihood", Paradigm.AUTOREGRESSIVE,
     "Autoregressive: exact likelihood (chain rule)", _likelihood_kind(Likelihood.EXACT)),
    ("latent_variable.cost", Paradigm.LATENT_VARIABLE,
     "VAE: one decoder pass per sample", _single_pass),
    ("latent_variable.likelihood", Paradigm.LATENT_VARIABLE,
     "VAE: a lower bound on the likelihood (ELBO / IWAE)", _likelihood_kind(Likelihood.BOUND)),
    ("adversarial.cost", Paradigm.ADVERSARIAL,
     "GAN: one generator pass per sample", _single_pass),
    ("adversarial.likelihood", Paradigm.ADVERSARIAL,
     "GAN: no likelihood", _likelihood_kind(Likelihood.NONE)),
    ("adversarial.mode_collapse", Paradigm.ADVERSARIAL,
     "GAN: prone to mode collapse (class coverage of unconditional samples)", _collapse),
    ("diffusion.cost", Paradigm.DIFFUSION,
     "Diffusion: sampling cost grows with the number of steps K", _per_step),
    ("diffusion.likelihood", Paradigm.DIFFUSION,
     "Diffusion: an indirect likelihood (a variational bound or an ODE estimate)",
     _likelihood_kind(Likelihood.BOUND, Likelihood.ESTIMATE)),
    ("diffusion.quality_vs_steps", Paradigm.DIFFUSION,
     "Diffusion: quality needs many steps (fewer steps, worse samples)", _quality_with_steps),
    ("flow.cost", Paradigm.FLOW, "Flow: one inverse pass per sample", _single_pass),
    ("flow.likelihood", Paradigm.FLOW,
     "Flow: exact likelihood (change of variables; a bound once discrete data are dequantised)",
     _flow_likelihood),
)

_LATENT_DIFFUSION = (Paradigm.LATENT_VARIABLE, Paradigm.DIFFUSION)
#: Claims about hybrids, judged on the models made of exactly these paradigms (in order).
HYBRID_CLAIMS: tuple[
    tuple[str, tuple[Paradigm, ...], str, Callable[[ModelReport], _Verdict]], ...
] = (
    ("latent_diffusion.cost", _LATENT_DIFFUSION,
     "Latent diffusion: K prior steps, then one decoder pass (K + 1 evaluations)",
     _steps_plus_decoder),
    ("latent_diffusion.likelihood", _LATENT_DIFFUSION,
     "Latent diffusion: a lower bound (decoder term + the latent diffusion bound)",
     _likelihood_kind(Likelihood.BOUND)),
)


def judge(reports: Iterable[ModelReport]) -> tuple[Claim, ...]:
    """Every claim of :data:`CLAIMS` and :data:`HYBRID_CLAIMS`, judged on the models made of
    exactly the claim's paradigms.

    A claim with no such model is "not measured (model missing)"; with several, it holds
    only if it holds for each one measured. Hybrids are judged by their own claims, not by
    the single-paradigm ones (their cost and likelihood are composed from their parts).
    """
    reports = list(reports)
    table = [(key, (paradigm,), statement, judge_one)
             for key, paradigm, statement, judge_one in CLAIMS]
    claims = []
    for key, kinds, statement, judge_one in [*table, *HYBRID_CLAIMS]:
        label = " + ".join(p.value for p in kinds)
        models = [r for r in reports if r.paradigms == tuple(p.value for p in kinds)]
        if not models:
            claims.append(Claim(key, label, statement, Status.NOT_MEASURED, "model missing"))
            continue
        verdicts = [(r, judge_one(r)) for r in models]
        measured = [v for _, (v, _) in verdicts if v is not Status.NOT_MEASURED]
        if not measured:
            status = Status.NOT_MEASURED
        elif all(v is Status.HOLDS for v in measured):
            status = Status.HOLDS
        else:
            status = Status.DOES_NOT_HOLD
        if status is Status.NOT_MEASURED:
            evidence = "; ".join(f"{r.name}: {text}" for r, (_, text) in verdicts)
        else:
            evidence = "; ".join(
                f"{r.name}: {text}" + (" [not measured]" if v is Status.NOT_MEASURED else "")
                for r, (v, text) in verdicts)
        claims.append(Claim(key, label, statement, status, evidence))
    return tuple(claims)


def equal_steps(reports: Iterable[ModelReport]) -> list[tuple[str, str, SweepPoint, SweepPoint]]:
    """``(hybrid, pixel, hybrid_point, pixel_point)`` for every step count K swept by both a
    hybrid with a diffusion part and a single-paradigm diffusion model: quality and cost of
    latent against pixel-space diffusion at equal K."""
    reports = list(reports)
    diffusion = Paradigm.DIFFUSION.value
    hybrids = [r for r in reports if len(r.paradigms) > 1 and diffusion in r.paradigms]
    pixels = [r for r in reports if r.paradigms == (diffusion,) and r.digits]
    out = []
    for h in hybrids:
        for d in pixels:
            theirs = {p.steps: p for p in d.sweep}
            out += [(h.name, d.name, p, theirs[p.steps]) for p in h.sweep if p.steps in theirs]
    return out


# --------------------------------------------------------------------------------------------
# Comparing many models
# --------------------------------------------------------------------------------------------


def _cell_likelihood(r: ModelReport) -> str:
    if r.likelihood == Likelihood.NONE.value:
        return "none (—)"
    if r.bits_per_dim is None:
        return f"{r.likelihood} (—)"
    sign = {"bound": "≤ ", "estimate": "≈ "}.get(r.likelihood, "")
    return f"{r.likelihood} ({sign}{r.bits_per_dim:.3f})"


def _cell_cost(r: ModelReport) -> str:
    if r.counted_evaluations is None:
        return f"— (declared {r.declared_evaluations})"
    return f"{r.counted_evaluations:g} (declared {r.declared_evaluations})"


def _cell(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


@attrs.frozen
class Comparison:
    """The measured table of paradigms: one :class:`ModelReport` per model, and the claims.

    Attributes:
        reports: one per model, in the order compared.
        claims: the cheatsheet's claims, judged (:func:`judge`).
        floor: the Frechet distance floor (test vs train split), or ``None``
            when no digits model was compared.
        n, per_class, seed: the settings every model was measured with.
        seconds: wall time of the whole comparison.
        plugin_failures: plugins that failed to load, ``"label: error"``.
    """

    reports: tuple[ModelReport, ...]
    claims: tuple[Claim, ...]
    floor: float | None
    n: int
    per_class: int
    seed: int
    seconds: float
    plugin_failures: tuple[str, ...] = ()

    HEADERS = ("model", "paradigm", "training objective", "sampling", "likelihood (bits/dim)",
               "evaluations / sample", "samples/s", "Frechet distance", "cond. accuracy",
               "coverage")

    def rows(self) -> list[list[str]]:
        """The table's cells, one row per model."""
        out = []
        for r in self.reports:
            cov = r.coverage
            out.append([
                r.name,
                " + ".join(r.paradigms),
                r.objective or "—",
                r.sampling or "—",
                _cell_likelihood(r),
                _cell_cost(r),
                _cell(r.samples_per_second, ".0f"),
                _cell(r.frechet, ".2f"),
                _cell(r.conditional_accuracy, ".3f"),
                "—" if cov is None else f"{cov.classes_present}/{cov.num_classes}, "
                                        f"min {cov.min_ratio:.2f}",
            ])
        return out

    def _settings(self) -> str:
        floor = "" if self.floor is None else f"; Frechet floor (test vs train) {self.floor:.2f}"
        return (f"n = {self.n} unconditional samples, {self.per_class} per class for accuracy, "
                f"seed {self.seed}{floor}; {self.seconds:.0f} s")

    def _notes(self) -> list[str]:
        lines = []
        for r in self.reports:
            if r.likelihood != Likelihood.NONE.value:
                lines.append(f"{r.name} bits/dim: {r.bits_per_dim_basis}")
            lines += [f"{r.name}: {note}" for note in r.notes]
            lines += [f"{r.name} error: {err}" for err in r.errors]
            lines.append(f"{r.name} measured in {r.seconds:.1f} s")
        lines += [f"plugin failed to load: {p}" for p in self.plugin_failures]
        hybrids = [r.name for r in self.reports if len(r.paradigms) > 1]
        if hybrids:
            lines.append(f"hybrids ({', '.join(hybrids)}) are judged by their own claims, not "
                         "against single-paradigm ones")
        return lines

    def _equal_steps(self) -> list[str]:
        lines = []
        for hybrid, pixel, h, d in equal_steps(self.reports):
            lines.append(
                f"{hybrid} vs {pixel} at K={h.steps}: Frechet distance {_cell(h.frechet, '.2f')}"
                f" vs {_cell(d.frechet, '.2f')}; evaluations {_num(h.counted_evaluations)} vs "
                f"{_num(d.counted_evaluations)}; samples/s {_cell(h.samples_per_second, '.0f')}"
                f" vs {_cell(d.samples_per_second, '.0f')}")
        return lines

    def _sweeps(self) -> list[str]:
        lines = []
        for r in self.reports:
            if not r.sweep:
                continue
            parts = [
                f"K={p.steps}: {_num(p.counted_evaluations)} evals, FD "
                f"{_cell(p.frechet, '.2f')}, {_cell(p.samples_per_second, '.0f')} samples/s"
                for p in r.sweep
            ]
            lines.append(f"{r.name} steps sweep — " + "; ".join(parts))
        return lines

    def text(self) -> str:
        """The table for a terminal (wrapped cells), then sweeps, claims and notes."""
        from genproto.cli.table import render_table

        table = render_table(self.HEADERS, self.rows(),
                             widths=[12, 16, 24, 24, 16, 14, 9, 10, 8, 12])
        parts = [table, "", self._settings()]
        if sweeps := self._sweeps():
            parts += ["", *sweeps]
        if pairs := self._equal_steps():
            parts += ["", "Latent against pixel-space diffusion at equal steps:", *pairs]
        parts += ["", "Claims of the cheatsheet, from the numbers above:"]
        parts += [f"  - {c.line()}" for c in self.claims]
        if notes := self._notes():
            parts += ["", "Notes:", *(f"  - {n}" for n in notes)]
        return "\n".join(parts)

    def markdown(self) -> str:
        """A markdown report: the table, the steps sweeps, the claims and the notes."""

        def row(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        lines = ["# The paradigms, measured", "", self._settings(), "",
                 row(self.HEADERS), row(["---"] * len(self.HEADERS))]
        lines += [row(cells) for cells in self.rows()]
        sweeps = [r for r in self.reports if r.sweep]
        if sweeps:
            lines += ["", "## Quality against steps", "",
                      row(["model", "K", "evaluations / sample (declared)", "Frechet distance",
                           "samples/s"]),
                      row(["---"] * 5)]
            for r in sweeps:
                lines += [row([r.name, str(p.steps),
                               f"{_num(p.counted_evaluations)} ({_num(p.declared_evaluations)})",
                               _cell(p.frechet, ".2f"), _cell(p.samples_per_second, ".0f")])
                          for p in r.sweep]
        pairs = equal_steps(self.reports)
        if pairs:
            lines += ["", "## Latent against pixel-space diffusion at equal steps", "",
                      row(["K", "models", "Frechet distance", "evaluations / sample",
                           "samples/s"]),
                      row(["---"] * 5)]
            lines += [row([str(h.steps), f"{hybrid} vs {pixel}",
                           f"{_cell(h.frechet, '.2f')} vs {_cell(d.frechet, '.2f')}",
                           f"{_num(h.counted_evaluations)} vs {_num(d.counted_evaluations)}",
                           f"{_cell(h.samples_per_second, '.0f')} vs "
                           f"{_cell(d.samples_per_second, '.0f')}"])
                      for hybrid, pixel, h, d in pairs]
        lines += ["", "## The cheatsheet's claims", ""]
        lines += [f"- **{c.statement}**: {c.verdict()}"
                  + ("" if c.status is Status.NOT_MEASURED else f" — {c.evidence}")
                  for c in self.claims]
        if notes := self._notes():
            lines += ["", "## Notes", "", *(f"- {n}" for n in notes)]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": {"n": self.n, "per_class": self.per_class, "seed": self.seed,
                         "seconds": self.seconds, "frechet_floor": self.floor},
            "models": [r.to_dict() for r in self.reports],
            "claims": [c.to_dict() for c in self.claims],
            "plugin_failures": list(self.plugin_failures),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


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
    n = _check_int(n, "compare() argument 'n'", 2)
    per_class = _check_int(per_class, "compare() argument 'per_class'", 1)
    steps = _check_steps(steps)
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
                reports.append(_failed_report(entry, exc, n=n, per_class=per_class, seed=seed))
                bar.add(-2)
                continue
            bar.add(len(planned_stages(model, steps)) - 2)
            reports.append(evaluate(model, n=n, per_class=per_class, seed=seed, steps=steps,
                                    batch_size=batch_size, entry=entry, on_stage=bar.start))
    finally:
        bar.close()
    floor = frechet_floor() if any(r.digits for r in reports) else None
    failures = tuple(f"{p.label()}: {p.error}" for p in reg.failures())
    return Comparison(tuple(reports), judge(reports), floor, n, per_class, seed,
                      time.perf_counter() - began, failures)


# --------------------------------------------------------------------------------------------
# The picture: quality against cost
# --------------------------------------------------------------------------------------------


def comparison_chart(comparison: Comparison, *, size: tuple[int, int] = (900, 560)) -> Image.Image:
    """Frechet distance against counted evaluations per sample, log-scaled cost axis.

    Each model with both numbers is a point labelled with its name; a model
    measured at several step counts (diffusion) is a curve through its step
    counts, labelled ``K=...``.
    The Frechet floor is a dashed line. The quality axis is log-scaled when the
    distances span more than a factor of 20.

    Raises:
        InvalidArgumentError: no model has both a Frechet distance and a counted cost.
    """
    from genproto.plot import Reference, Series, chart

    series = []
    for r in comparison.reports:
        points = [(p.counted_evaluations, p.frechet, f"K={p.steps}") for p in r.sweep
                  if p.counted_evaluations and p.frechet is not None]
        if len(points) >= 2:
            xs, ys, labels = zip(*points, strict=True)
            series.append(Series(r.name, xs, ys, line=True, point_labels=labels))
        elif r.counted_evaluations and r.frechet is not None:
            series.append(Series(r.name, (r.counted_evaluations,), (r.frechet,),
                                 point_labels=(r.name,)))
    if not series:
        raise InvalidArgumentError(
            "models to plot", value=[r.name for r in comparison.reports],
            allowed="at least one digits model with a Frechet distance and counted evaluations",
            fix="Compare a model of the 8x8 digits (genproto list shows each event space)",
        )
    references = []
    if comparison.floor is not None:
        references.append(Reference(comparison.floor, f"floor {comparison.floor:.2f}"))
    heights = [y for s in series for y in s.y] + [r.y for r in references]
    y_log = min(heights) > 0 and max(heights) / min(heights) > 20
    image, _ = chart(
        series,
        title=f"Sample quality against sampling cost (n = {comparison.n}, seed {comparison.seed})",
        x_label="network evaluations per sample (counted; log scale)",
        y_label="Frechet distance to the test digits" + (" (log)" if y_log else "")
        + ", lower is better",
        x_log=True,
        y_log=y_log,
        references=references,
        size=size,
    )
    return image


def save_chart(comparison: Comparison, path: str | Path) -> Path:
    """Draw :func:`comparison_chart` and save it as PNG (settings in the PNG's text chunks)."""
    from genproto.pictures import save_png

    return save_png(comparison_chart(comparison), path, {
        "genproto:comparison": {"n": comparison.n, "per_class": comparison.per_class,
                                "seed": comparison.seed,
                                "models": [r.name for r in comparison.reports]},
    })
