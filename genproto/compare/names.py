"""Measuring a model of the Census names against the known distribution: :func:`evaluate_names`.

The names lists are a known distribution over strings (:mod:`genproto.data.names`), so every
text model is measured against it, whatever its paradigm, one list at a time (the condition is
the list: its label for a class condition, its name for a text prompt):

1. ``n`` samples of each list give the counted evaluations per sample, samples per second and
   the text metrics (:mod:`genproto.metrics.text`: validity, novelty, real names, length
   distance, the reference classifier's accuracy), the diversity that shows mode collapse and
   the drift that shows exposure bias (:mod:`genproto.metrics.text_diversity`).
2. A model with a likelihood gives its cross-entropy on the list's test names (names no model
   was trained on), beside the truth's and the entropy: exact for an exact likelihood, an upper
   bound for a bound -- and a bound with a likelihood option ``k`` (the VAE) a second, tighter
   one at ``k`` = :data:`NAMES_IWAE_K` (Burda et al. 2016).
3. A model with a ``steps`` sample option (diffusion) is sampled again at each step count of
   :data:`NAMES_STEPS` (:data:`SWEEP_N` samples a list): quality against K.

The truth is measured the same way (:func:`measure_names_truth`): draws from the Census
distribution and its exact likelihood, the reference row. A model offers a names configuration
through its ``dataset`` factory option (:func:`offers_names`), or is a text model already
(the transformers plugin's ``names``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from genproto.compare.measure import _error, _identity, _Run, _sample, check_count, check_steps
from genproto.compare.names_records import TRUTH, NamesListResult, NamesReport, NamesSweep
from genproto.compare.points import DATASET_OPTION, _declared, _iwae_option
from genproto.compare.points_records import PointsStatus
from genproto.compare.records import Outcome, Stage
from genproto.errors import LikelihoodUnavailable, NoShippedWeights
from genproto.protocol import ConditionKind, Likelihood, TextCodec

if TYPE_CHECKING:
    from genproto.metrics.text import TextMetrics
    from genproto.protocol import Capabilities, GenerativeModel
    from genproto.registry import ModelEntry

__all__ = [
    "DEFAULT_NAMES_N",
    "NAMES_DATASET",
    "NAMES_IWAE_K",
    "NAMES_STEPS",
    "SWEEP_N",
    "evaluate_names",
    "is_names_model",
    "measure_names_truth",
    "names_condition_value",
    "offers_names",
    "unmeasured_names",
]

#: The value of the ``dataset`` option that builds a model's names configuration.
NAMES_DATASET = "names"
#: Samples per list (the issue's "distinct names in 10,000 samples").
DEFAULT_NAMES_N = 10_000
#: Step counts of the quality-against-K sweep.
NAMES_STEPS = (2, 4, 8, 16, 32)
#: Samples per list at each step count of the sweep.
SWEEP_N = 1_000
#: Importance samples of the IWAE cross-entropy (every test name costs k encoder draws).
NAMES_IWAE_K = 16


def offers_names(entry: ModelEntry) -> bool:
    """Whether the registration's ``dataset`` option accepts ``"names"``."""
    option = next((o for o in entry.options if o.name == DATASET_OPTION), None)
    if option is None:
        return False
    try:
        option.validate(NAMES_DATASET, where=f"model {entry.name!r}")
    except (ValueError, TypeError):
        return False
    return True


def names_condition_value(caps: Capabilities, list: str) -> Any:
    """The condition that asks a names model for ``list``: the list's name for a text prompt
    or a class condition labelled with the lists, ``None`` for anything else."""
    from genproto.data.names import NAMES_LISTS

    spec = caps.condition
    if spec is None:
        return None
    if spec.kind is ConditionKind.TEXT:
        return list
    labels = getattr(spec, "labels", None)
    if spec.kind is ConditionKind.CLASS and labels and set(NAMES_LISTS) <= set(labels):
        return list
    return None


def is_names_model(model: GenerativeModel) -> bool:
    """A sequence event, :class:`~genproto.protocol.TextCodec`, and a condition that names the
    list (:func:`names_condition_value`)."""
    caps = model.capabilities
    return (caps.event.is_sequence and isinstance(model, TextCodec)
            and names_condition_value(caps, "female") is not None)


def measure_names_truth(*, n: int = DEFAULT_NAMES_N, seed: int = 0) -> NamesReport:
    """The Census distribution measured like a model: ``n`` draws a list
    (:func:`~genproto.metrics.text_diversity.truth_draws`) and its exact likelihood of the test
    names."""
    from genproto.data.names import NAMES_LISTS, load_names, names_log_prob
    from genproto.metrics.text import text_metrics
    from genproto.metrics.text_diversity import diversity, drift, truth_draws

    began = time.perf_counter()
    lists = []
    for which in NAMES_LISTS:
        texts = truth_draws(which, n, seed=seed)
        exact = names_log_prob(load_names("test", which).names, which)
        lists.append(NamesListResult(
            which, text_metrics(texts, which, log_likelihood=exact), diversity(texts, which),
            drift(texts, which), None, None, None))
    return NamesReport(
        name=TRUTH, distribution=None, version=None, options=(), status=PointsStatus.MEASURED,
        paradigms=(), likelihood=Likelihood.EXACT, declared_growth=None,
        declared_evaluations=None, cost_bound=False, likelihood_outcome=Outcome.VALUES,
        iwae_k=None, lists=tuple(lists), sweep=(),
        notes=(f"{n} draws a list from the Census distribution (seed {seed}); exact "
               "log p of the test names",), errors=(), n=n, seed=seed,
        seconds=time.perf_counter() - began, weights_sha256=None)


def unmeasured_names(entry: ModelEntry, options: Mapping[str, Any], exc: BaseException, *,
                     n: int, seed: int) -> NamesReport:
    """The row of a configuration that could not be built: "no shipped weights" for
    :class:`~genproto.errors.NoShippedWeights` (with the command that trains it), else failed."""
    try:
        caps = entry.capabilities_for(**options)
    except Exception:
        caps = entry.capabilities
    command = exc.command if isinstance(exc, NoShippedWeights) else None
    return NamesReport(
        name=entry.name, distribution=entry.distribution, version=entry.version,
        options=tuple(sorted(options.items())),
        status=PointsStatus.NO_WEIGHTS if command else PointsStatus.FAILED,
        likelihood_outcome=Outcome.NOT_TRIED, iwae_k=None, lists=(), sweep=(),
        notes=(f"no shipped weights; train them: {command}",) if command else (),
        errors=() if command else (_error(Stage.BUILD, exc),), n=n, seed=seed, seconds=0.0,
        weights_sha256=None, **_declared(caps, None))


def _test_log_likelihood(model: GenerativeModel, list: str, *, seed: int,
                         batch_size: int | None, options: Mapping[str, Any]
                         ) -> tuple[torch.Tensor, int]:
    from genproto.metrics.text import log_likelihood_of_test_names

    return log_likelihood_of_test_names(model, list, seed=seed,  # type: ignore[arg-type]
                                        batch_size=batch_size, **options)


def _likelihood(model: GenerativeModel, kind: Likelihood, list: str, *, seed: int,
                batch_size: int | None, iwae_k: int, errors: list[str]
                ) -> tuple[Outcome, torch.Tensor | None, int, float | None, int | None]:
    """``(outcome, log-likelihood of the test names, refused, IWAE cross-entropy, k)``."""
    from genproto.metrics.text import cross_entropy

    if kind is Likelihood.NONE:
        return Outcome.NOT_TRIED, None, 0, None, None
    iwae = _iwae_option(model, kind)
    try:
        if iwae is None:
            nats, refused = _test_log_likelihood(model, list, seed=seed, batch_size=batch_size,
                                                 options={})
            return Outcome.VALUES, nats, refused, None, None
        name, maximum = iwae
        k = iwae_k if maximum is None else min(iwae_k, maximum)
        nats, refused = _test_log_likelihood(model, list, seed=seed, batch_size=batch_size,
                                             options={name: 1})
        tighter = None
        if k > 1:
            tight, _ = _test_log_likelihood(model, list, seed=seed, batch_size=batch_size,
                                            options={name: k})
            tighter = cross_entropy(tight, list).model  # type: ignore[arg-type]
        return Outcome.VALUES, nats, refused, tighter, k if k > 1 else None
    except LikelihoodUnavailable:
        return Outcome.UNAVAILABLE, None, 0, None, None
    except Exception as exc:
        errors.append(_error(f"{Stage.LIKELIHOOD} of {list!r}", exc))
        return Outcome.ERROR, None, 0, None, None


def _metrics(model: GenerativeModel, run: _Run, list: str, log_likelihood: torch.Tensor | None,
             refused: int) -> TextMetrics:
    from genproto.metrics.text import stopped_rows, text_metrics

    assert isinstance(model, TextCodec)  # is_names_model checked it
    return text_metrics(model.to_text(run.samples), list,  # type: ignore[arg-type]
                        log_likelihood=log_likelihood, unencodable=refused,
                        stopped=stopped_rows(model.capabilities.event, run.samples))


def _sweep(model: GenerativeModel, steps: Sequence[int], *, sweep_n: int, seed: int,
           batch_size: int | None, stage: Callable[[str], None], errors: list[str]
           ) -> tuple[NamesSweep, ...]:
    """Quality against K: ``sweep_n`` samples a list at each step count the option allows."""
    from genproto.compare.measure import sweep_steps
    from genproto.data.names import NAMES_LISTS

    caps = model.capabilities
    out = []
    for k in sweep_steps(model, steps):
        stage(f"steps={k}")
        try:
            declared: int | None = model.cost(steps=k).evaluations
        except Exception:
            declared = None
        rows: list[tuple[float, float, float, float, float]] = []
        try:
            for which in NAMES_LISTS:
                run = _sample(model, sweep_n, condition=names_condition_value(caps, which),
                              seed=seed, batch_size=batch_size, options={"steps": k})
                text = _metrics(model, run, which, None, 0)
                assert isinstance(model, TextCodec)
                distinct = len(set(model.to_text(run.samples))) / sweep_n
                rows.append((run.counted or float("nan"), text.validity, text.real,
                             text.accuracy, distinct))
        except Exception as exc:
            errors.append(_error(f"steps={k}", exc))
            continue
        means = [sum(column) / len(rows) for column in zip(*rows, strict=True)]
        out.append(NamesSweep(k, declared, means[0], *means[1:]))
    return tuple(out)


def evaluate_names(
    model: GenerativeModel,
    *,
    n: int = DEFAULT_NAMES_N,
    seed: int = 0,
    steps: Sequence[int] = NAMES_STEPS,
    sweep_n: int = SWEEP_N,
    batch_size: int | None = None,
    iwae_k: int = NAMES_IWAE_K,
    entry: ModelEntry | None = None,
    options: Mapping[str, Any] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> NamesReport:
    """Measure a names model (:func:`is_names_model`) on each Census list against the truth.

    Args:
        n: samples per list (text metrics, diversity, drift, cost, speed), >= 1.
        seed: the seed of every sampling run and likelihood estimate.
        steps, sweep_n: step counts and samples per list of the sweep (a ``steps`` option).
        iwae_k: the IWAE bound's ``k`` for a bound with a likelihood option ``k`` (>= 2).
        entry, options: the registration and factory options it was built from (reported).
        on_stage: called with each stage's name as it starts (progress bars).

    A stage that fails is recorded in ``errors`` and the others still run.
    """
    from genproto.data.names import NAMES_LISTS
    from genproto.metrics.text_diversity import diversity, drift

    n = check_count(n, "evaluate_names() argument 'n'", 1)
    sweep_n = check_count(sweep_n, "evaluate_names() argument 'sweep_n'", 1)
    seed = check_count(seed, "evaluate_names() argument 'seed'", 0)
    iwae_k = check_count(iwae_k, "evaluate_names() argument 'iwae_k'", 2)
    steps = check_steps(steps)
    caps = model.capabilities
    stage = on_stage or (lambda _: None)
    began = time.perf_counter()
    errors: list[str] = []
    lists: list[NamesListResult] = []
    outcomes: list[Outcome] = []
    weights: str | None = None
    k_used: int | None = None
    if not is_names_model(model):
        errors.append(f"{Stage.SAMPLES}: not a names model: its events are "
                      f"{caps.event.describe()} and its condition {caps.condition!r}; was it "
                      "built with dataset='names'?")
    else:
        for which in NAMES_LISTS:
            stage(f"samples of {which}")
            try:
                run = _sample(model, n, condition=names_condition_value(caps, which),
                              seed=seed, batch_size=batch_size, options={})
            except Exception as exc:
                errors.append(_error(f"{Stage.SAMPLES} of {which!r}", exc))
                continue
            weights = weights or run.weights_sha256
            stage(f"likelihood of {which}")
            outcome, nats, refused, iwae, k = _likelihood(
                model, caps.likelihood, which, seed=seed, batch_size=batch_size,
                iwae_k=iwae_k, errors=errors)
            outcomes.append(outcome)
            k_used = k_used or k
            assert isinstance(model, TextCodec)
            texts = model.to_text(run.samples)
            lists.append(NamesListResult(
                which, _metrics(model, run, which, nats, refused),
                diversity(texts, which), drift(texts, which),
                iwae, run.counted, run.per_second))
    sweep = _sweep(model, steps, sweep_n=sweep_n, seed=seed, batch_size=batch_size,
                   stage=stage, errors=errors) if lists else ()
    outcome = next((o for o in outcomes if o is not Outcome.VALUES), Outcome.VALUES) \
        if outcomes else Outcome.NOT_TRIED
    if caps.likelihood is Likelihood.NONE:
        outcome = Outcome.NOT_TRIED
    notes = [f"{n} samples a list, condition = the list; cross-entropy on each list's test "
             "names (never trained on)"]
    if k_used:
        notes.append(f"a bound with an importance-sample option: cross-entropy at k=1 (ELBO) "
                     f"and k={k_used} (IWAE)")
    identity = _identity(model, entry)
    return NamesReport(
        **identity, options=tuple(sorted((options or {}).items())),
        status=PointsStatus.MEASURED, likelihood_outcome=outcome, iwae_k=k_used,
        lists=tuple(lists), sweep=sweep, notes=tuple(notes), errors=tuple(errors), n=n,
        seed=seed, seconds=time.perf_counter() - began, weights_sha256=weights,
        **_declared(caps, model))
