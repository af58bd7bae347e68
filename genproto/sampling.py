"""The shared batched sampler: the one hot path every plugin samples through.

A plugin implements one batch primitive, ``Model.sample_batch(streams,
condition, **options)``, that turns the keyed random streams of a batch of
sample indices (and their conditions) into samples. Everything else happens
here, once, for every paradigm:

* validation of ``n``, ``seed``, ``batch_size``, the condition and the options;
* chunking of ``n`` into batches (given, or automatic from a memory budget);
* seeding by sample index: batch ``[a, b)`` gets :class:`KeyedStreams` for
  indices ``a .. b-1``, so sample ``i`` depends only on ``(seed, i)`` and not on
  the batch size, the number of processes or (for the integer draws) the device;
* ``torch.inference_mode``, the networks in eval mode (their modes restored
  afterwards), optional bf16 autocast on CUDA;
* counting network evaluations on the modules the model declares as its
  networks (:mod:`genproto.counting`), so the declared :class:`SampleCost` is checked;
* a provenance record that is enough to replay any single sample;
* progress bars (tqdm), streaming (:func:`iter_chunks`) and ``.npy`` output that
  keeps memory flat and never leaves a half-written file under the final name.

The likelihood side has the same loop: :func:`evaluate_rows` validates ``x`` and
its condition, and runs a per-batch function over row ranges with the keyed
streams of those rows, so every estimator that draws random numbers (IWAE,
Hutchinson probes) gives the same value for any ``batch_size``;
:func:`log_likelihood` composes the class marginal on top of it.

The engine knows a model only through :class:`BatchModel` (what
:class:`genproto.model.Model` provides), so this module imports nothing from
``genproto.model``: the dependency points one way, model -> sampling.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np
import torch

from genproto._atomic import atomic_path, check_target, writing
from genproto.conditions import ConditionValues, batch_rows, describe_condition
from genproto.counting import EvaluationCounter
from genproto.errors import (
    GenprotoError,
    InvalidArgumentError,
    LikelihoodUnavailable,
    OutputError,
    PluginError,
)
from genproto.protocol import (
    PROTOCOL_VERSION,
    BatchCondition,
    Capabilities,
    Condition,
    ConditionSpec,
    Likelihood,
    NoneMeans,
    Origin,
)
from genproto.streams import KeyedStreams, fresh_seed
from genproto.validation import (
    check_batch_size,
    check_condition,
    check_n,
    check_seed,
    check_x,
    first_misplaced,
    range_fault,
    range_text,
    sequence_rule,
)

__all__ = [
    "BatchModel",
    "EvaluationCounter",
    "Provenance",
    "SampleResult",
    "eval_mode",
    "evaluate_rows",
    "iter_chunks",
    "log_likelihood",
    "plan",
    "run",
    "write_npy",
]

#: Rows per likelihood batch when the caller gives no ``batch_size``.
LIKELIHOOD_BATCH = 1024

#: Memory the automatic batch size may give one batch's activations.
CPU_BUDGET_BYTES = 256 * 2**20
#: Progress bars appear on a terminal for runs of at least this many samples.
PROGRESS_MIN_SAMPLES = 4096


class BatchModel(Protocol):
    """What the engine needs of a model: :class:`genproto.model.Model` provides it all.

    ``check_sample_options`` / ``check_likelihood_options`` return every option's value
    (defaults filled in, cross-option rules applied); the engine calls them once per run
    and hands the result to every ``sample_batch`` / ``log_likelihood_batch`` call.
    """

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def origin(self) -> Origin | None: ...

    def networks(self) -> Mapping[str, torch.nn.Module]: ...

    def sample_batch(
        self, streams: KeyedStreams, condition: BatchCondition, **options: Any
    ) -> torch.Tensor: ...

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: BatchCondition, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor: ...

    def check_sample_options(self, options: Mapping[str, Any]) -> dict[str, Any]: ...

    def check_likelihood_options(self, options: Mapping[str, Any]) -> dict[str, Any]: ...

    def bytes_per_sample(self, **options: Any) -> int: ...

    def weights_sha256(self) -> str: ...


@attrs.frozen
class Provenance:
    """What replays a sampling run, down to any single sample.

    Sample ``i`` of the run is ``genproto.sampling.run(model, 1, seed=seed,
    start=start + i, ...)`` with the same options and condition, on a model whose
    weights hash is ``weights_sha256``.
    """

    model: str
    distribution: str | None
    version: str | None
    weights_sha256: str
    options: Mapping[str, Any]
    seed: int
    n: int
    start: int
    batch_size: int
    condition: str
    device: str
    precision: str
    torch_version: str
    genproto_version: str
    protocol_version: str

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["options"] = dict(self.options)
        return data


@attrs.frozen
class SampleResult:
    """Samples with the facts about how they were made.

    ``evaluations_per_sample`` is the mean over the samples of the network evaluations
    each waited for (:class:`EvaluationCounter`); ``peak_evaluations_per_sample`` the
    largest mean of one batch, which with ``batch_size=1`` is the most any one sample
    took (what a cost declared as a bound is held to).
    """

    samples: torch.Tensor
    seed: int
    evaluations_per_sample: float
    provenance: Provenance
    peak_evaluations_per_sample: float = attrs.field(
        default=attrs.Factory(lambda self: self.evaluations_per_sample, takes_self=True)
    )


@attrs.frozen
class Plan:
    """A validated sampling request: what :func:`iter_chunks` executes."""

    n: int
    start: int
    seed: int
    batch_size: int
    condition: ConditionValues | None
    options: Mapping[str, Any]
    device: torch.device
    precision: str
    progress: bool


def _auto_batch_size(
    model: BatchModel, n: int, options: Mapping[str, Any], device: torch.device
) -> int:
    per_sample = max(1, model.bytes_per_sample(**options))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free // 4
    else:
        budget = CPU_BUDGET_BYTES
    return max(1, min(n, budget // per_sample, 65536))


def plan(
    model: BatchModel,
    n: int,
    *,
    condition: Condition = None,
    seed: int | None = None,
    batch_size: int | None = None,
    start: int = 0,
    progress: bool | None = None,
    precision: str = "fp32",
    in_memory: bool = True,
    options: Mapping[str, Any] | None = None,
) -> Plan:
    """Validate a sampling request against ``model``; raise the typed error on bad input."""
    caps = model.capabilities
    n = check_n(n, event=caps.event, in_memory=in_memory)
    start = check_n(start)
    seed = fresh_seed() if seed is None else check_seed(seed)
    batch_size = check_batch_size(batch_size)
    if precision not in ("fp32", "bf16"):
        raise InvalidArgumentError(
            "argument 'precision'", value=precision, allowed="'fp32' or 'bf16'"
        )
    values = model.check_sample_options(dict(options or {}))
    device = model.device
    labels = check_condition(condition, n, caps.condition, model=model.name, device=device)
    if batch_size is None:
        batch_size = _auto_batch_size(model, n, values, device)
    if progress is None:
        progress = n >= PROGRESS_MIN_SAMPLES and sys.stderr.isatty()
    return Plan(n, start, seed, batch_size, labels, values, device, precision, bool(progress))


#: Modules some thread holds in eval mode: id -> (module, users, its mode before the first).
_EVAL_HOLDS: dict[int, tuple[torch.nn.Module, int, bool]] = {}
_EVAL_LOCK = threading.Lock()


def all_modules(networks: Iterable[torch.nn.Module]) -> list[torch.nn.Module]:
    """Every module of ``networks`` once, each parent before its children, in the order
    ``Module.modules()`` walks them -- without the prefixed names ``named_modules`` builds on
    the way (~3x cheaper; every run walks them twice: eval mode and the weights hash)."""
    seen: set[int] = set()
    found: list[torch.nn.Module] = []
    stack = list(networks)[::-1]
    while stack:
        module = stack.pop()
        key = id(module)
        if key in seen:
            continue
        seen.add(key)
        found.append(module)
        children = module._modules
        if children:  # most modules are leaves: nothing to push
            stack.extend([c for c in children.values() if c is not None][::-1])
    return found


@contextlib.contextmanager
def eval_mode(networks: Mapping[str, torch.nn.Module]) -> Iterator[None]:
    """Every module of ``networks`` in eval mode; each module's own mode restored on exit.

    Restoring module by module (not ``net.train(mode)``) keeps a deliberately
    frozen submodule, e.g. a BatchNorm in eval mode inside a training network, as it was.
    Safe when several threads sample one model at once: the first to enter records
    each module's mode, the last to leave restores it, so no thread switches a
    network back to train mode while another is still sampling with it. A run that finds
    every module in eval mode while no other run holds any (the common case) records nothing:
    there is nothing to restore.
    """
    modules = all_modules(networks.values())
    with _EVAL_LOCK:
        if not _EVAL_HOLDS and not any(m.training for m in modules):
            modules = []  # the common case: all in eval mode, no other run: nothing to restore
        for m in modules:
            _, users, mode = _EVAL_HOLDS.get(id(m), (m, 0, m.training))
            _EVAL_HOLDS[id(m)] = (m, users + 1, mode)
        if any(m.training for m in modules):  # most runs find them in eval mode already
            for net in networks.values():
                net.eval()
    try:
        yield
    finally:
        with _EVAL_LOCK:
            for m in modules:
                _, users, mode = _EVAL_HOLDS[id(m)]
                if users == 1:
                    del _EVAL_HOLDS[id(m)]
                    if m.training != mode:  # Module.__setattr__ is slow: only real changes
                        m.training = mode
                else:
                    _EVAL_HOLDS[id(m)] = (m, users - 1, mode)


@contextlib.contextmanager
def _sampling_mode(model: BatchModel, precision: str) -> Iterator[None]:
    """Inference mode, networks in eval mode (restored on exit), optional bf16 autocast."""
    autocast: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if precision == "bf16":
        autocast = torch.autocast(model.device.type, dtype=torch.bfloat16)
    with eval_mode(model.networks()), torch.inference_mode(), autocast:
        yield


class _NoProgress(contextlib.nullcontext[None]):
    """What :func:`_progress` gives when the bar is off: a disabled tqdm costs ~10 us a run."""

    def update(self, n: int) -> None:
        pass


def _progress(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return _NoProgress()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="sample", leave=False)


@contextlib.contextmanager
def _plugin_call(model: BatchModel, method: str) -> Iterator[None]:
    """A plugin primitive that fails with anything but a genproto error is a PluginError.

    The user sees one line naming the model, the method and torch's own message (kept as
    ``__cause__`` for the plugin's authors), never a traceback from inside a network.
    """
    try:
        yield
    except GenprotoError:
        raise
    except Exception as exc:
        raise _plugin_failed(model, method, exc) from exc


def _plugin_failed(model: BatchModel, method: str, exc: Exception) -> PluginError:
    return PluginError(
        f"model {model.name!r}: {method} failed: {type(exc).__name__}: {exc}",
        fix="This is a bug in the plugin (or an option it accepts but cannot handle); "
        "report it to its authors",
    )


def _plugin_bug(model: BatchModel, what: str, allowed: str) -> PluginError:
    return PluginError(
        f"model {model.name!r}: {what}", allowed=allowed,
        fix="This is a bug in the plugin; report it to its authors",
    )


def _checked_samples(model: BatchModel, out: Any, size: int) -> torch.Tensor:
    """``sample_batch``'s output, checked against the declared event space.

    A plugin's bug becomes a :class:`PluginError` naming the model here, not a
    wrong file later: not a tensor, a wrong shape, floats for a discrete event, a
    level outside ``0..levels-1``, NaN or infinity, a value outside the declared range
    (beyond :attr:`~genproto.protocol.EventSpace.range_slack`; what is within it is
    clamped into the range), a sequence breaking its stop/pad rule (naming the row and
    position). A floating dtype other than the event's, and an integer dtype other
    than the event's storage, are converted (documented in the protocol). One
    reduction per batch when all is well (:func:`_checked_values`).
    """
    return _checked_batch(model, out, size, values=True)


def _checked_batch(
    model: BatchModel, out: Any, size: int, *, values: bool, first: int = 0
) -> torch.Tensor:
    """The per-batch half of :func:`_checked_samples`: type, shape and dtype (Python only),
    and the values too when ``values`` is set or the batch needs converting (a conversion
    could hide a bad value: level 300 wraps in uint8, 1e300 is inf in float32). With
    ``values`` unset, the caller checks the values of the returned event-dtype batch later,
    e.g. :func:`run` once over the whole output. Errors name rows counted from ``first``."""
    event = model.capabilities.event
    shape = (size, *event.shape)
    if not isinstance(out, torch.Tensor):
        raise _plugin_bug(model, f"sample_batch returned a {type(out).__name__}",
                          f"one torch.Tensor of shape {shape}")
    if out.shape != shape:
        raise _plugin_bug(
            model, f"sample_batch returned shape {tuple(out.shape)} for a batch of {size}",
            f"{shape}",
        )
    if not event.dtype.is_floating_point:
        if out.is_floating_point() or out.dtype == torch.bool or out.is_complex():
            raise PluginError(
                f"model {model.name!r}: sample_batch returned {out.dtype} for a discrete event",
                allowed=f"{event.dtype} levels",
                fix="Round and convert the samples in sample_batch (a bug in the plugin)",
            )
    elif not out.is_floating_point():
        raise PluginError(
            f"model {model.name!r}: sample_batch returned {out.dtype} for a continuous event",
            allowed=f"a floating tensor ({event.dtype}; other float dtypes are converted)",
            fix="Return floats from sample_batch (a bug in the plugin)",
        )
    if out.dtype == event.dtype:
        return _checked_values(model, out, first) if values else out
    # checked before converting; a sequence's stop/pad rule survives the conversion of levels in
    # range, so without ``values`` it is left to the caller's check of the converted batch
    converted = _checked_values(model, out, first, rule=values).to(event.dtype)
    if event.dtype.is_floating_point:  # and after: 1e300 is a float32 infinity
        return _checked_values(model, converted, first)
    return converted  # levels checked: they fit the storage


def _checked_values(
    model: BatchModel, samples: torch.Tensor, first: int = 0, *, rule: bool = True
) -> torch.Tensor:
    """The values of a batch (or of a whole run's output) of the event's type: levels in
    ``0..levels-1`` and (unless ``rule`` is off) the stop/pad rule of a sequence; finite values
    within the declared range, those within the slack clamped into it (a new tensor only when
    one is outside). Errors name the row, counted from ``first``.

    All is checked with one reduction when all is well: ``aminmax`` for levels and ranges
    (NaN propagates through it, and an infinity is outside any range), else a ``sum``, which
    is finite only if every value is (an infinity or NaN stays in every partial sum; a
    finite sum can overflow, which only sends the check to the exact ``isfinite`` pass).
    ``isfinite(x).all()`` costs 5-35x as much (8 vs 1.4 us for 1,024 x 2, 99 vs 2.8 us for
    1,024 x 64 on one CPU thread).
    """
    event = model.capabilities.event
    if not samples.numel():
        return samples
    if not event.dtype.is_floating_point:
        low, high = (int(v) for v in torch.aminmax(samples))
        levels = event.levels or 0
        if low < 0 or high >= levels:
            raise _plugin_bug(
                model, f"sample_batch returned level {low if low < 0 else high}",
                f"levels 0..{levels - 1}",
            )
        if event.is_sequence and rule:
            fault = first_misplaced(samples, event)
            if fault is not None:
                row, position, token, why = fault
                raise _plugin_bug(
                    model, f"sample_batch returned token {token} at row {first + row}, "
                    f"position {position}: {why}", sequence_rule(event),
                )
        return samples
    if event.low is None and event.high is None:
        if math.isfinite(float(samples.sum())):
            return samples  # else only the exact pass below can tell
    else:
        smallest, largest = (float(v) for v in torch.aminmax(samples))
        bottom = -math.inf if event.low is None else event.low
        top = math.inf if event.high is None else event.high
        if bottom <= smallest and largest <= top:  # False for NaN: on to the exact pass
            return samples
    if not bool(torch.isfinite(samples).all()):
        bad = "NaN" if bool(samples.isnan().any()) else "infinity"
        raise _plugin_bug(model, f"sample_batch returned {bad}",
                          "finite values (a NaN or inf usually means an option out of the "
                          "model's working range, or a diverged network)")
    outside = range_fault(samples, event)
    if outside is not None:
        raise _plugin_bug(
            model, f"sample_batch returned {outside[1]:g} (row {first + outside[0]}), outside "
            "the declared range", range_text(event),
        )
    if event.low is not None or event.high is not None:  # within the slack: into the range
        return samples.clamp(event.low, event.high)
    return samples  # a finite sum that overflowed


def iter_chunks(
    model: BatchModel, p: Plan, *, check_values: bool = True
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(offset, samples)`` for consecutive batches of the plan.

    ``offset`` counts from the plan's first sample (0-based within the run);
    the global index of row ``r`` of a chunk is ``p.start + offset + r``; an error names
    the row ``offset + r``, as :func:`run` names the row of its output.
    ``check_values=False`` leaves the value check of chunks already in the event's dtype
    to the caller (:func:`run` checks its whole output at once); a chunk is never yielded
    with its type, shape or dtype unchecked.
    """
    spec = model.capabilities.condition
    marginal = spec is not None and spec.none_means is NoneMeans.MARGINAL
    conditions, options, device = p.condition, p.options, p.device
    sample_batch = model.sample_batch
    with _sampling_mode(model, p.precision), _progress(p.n, p.progress, model.name) as bar:
        for offset in range(0, p.n, p.batch_size):
            size = min(p.batch_size, p.n - offset)
            first = p.start + offset
            streams = KeyedStreams.for_range(p.seed, first, first + size, device=device)
            cond: BatchCondition = None  # unconditional, or the null condition
            if conditions is not None:
                cond = batch_rows(conditions, offset, offset + size)
            elif marginal and spec is not None:
                cond = _prior_classes(spec, streams)
            try:  # _plugin_call inlined: a context manager a batch costs ~2 us at batch 16
                raw = sample_batch(streams, cond, **options)
            except GenprotoError:
                raise
            except Exception as exc:
                raise _plugin_failed(model, "sample_batch", exc) from exc
            out = _checked_batch(model, raw, size, values=check_values, first=offset)
            if p.progress:
                bar.update(size)
            yield offset, out


def evaluate_rows(
    model: BatchModel,
    x: Any,
    condition: Condition,
    per_batch: Callable[[torch.Tensor, BatchCondition, KeyedStreams], torch.Tensor],
    *,
    seed: int = 0,
    batch_size: int | None = None,
    trailing: tuple[int, ...] = (),
) -> torch.Tensor:
    """Validate ``x`` and its condition, then evaluate them batch by batch.

    ``per_batch(x_rows, condition_rows, streams)`` receives rows ``[a, b)`` of the
    validated data, their conditions (as ``sample_batch`` receives them: labels, ids,
    embeddings or a list of str; ``None`` for an unconditional model *and* for a
    conditional model given ``condition=None``: the caller composes the marginal or
    evaluates the null condition)
    and the keyed streams of rows ``a .. b-1``; it returns ``(b - a, *trailing)``
    float values. The loop runs in inference mode with the networks in eval mode
    (restored afterwards), so the result depends on ``seed`` and the row, never on
    ``batch_size``.
    """
    seed = check_seed(seed)
    size = check_batch_size(batch_size) or LIKELIHOOD_BATCH
    caps = model.capabilities
    device = model.device
    data = check_x(x, caps.event, model=model.name, device=device)
    n = data.shape[0]
    values = check_condition(condition, n, caps.condition, model=model.name, device=device)
    out = torch.empty((n, *trailing), dtype=torch.float32, device=device)
    with eval_mode(model.networks()), torch.inference_mode():
        for first in range(0, n, size):
            rows = slice(first, min(n, first + size))
            streams = KeyedStreams.for_range(seed, rows.start, rows.stop, device=device)
            cond = None if values is None else batch_rows(values, rows.start, rows.stop)
            out[rows] = per_batch(data[rows], cond, streams)
    return out


def class_marginal(
    per_class: Callable[[torch.Tensor, KeyedStreams], torch.Tensor],
    rows: int,
    classes: int,
    streams: KeyedStreams,
    *,
    device: torch.device,
    prior: Sequence[float] | None = None,
    stochastic: bool = False,
) -> torch.Tensor:
    """``log p(x) = log sum_c p(c) exp(l_c)`` over the class prior ``p(c)`` (uniform, ``1 /
    classes``, unless ``prior``, probabilities summing to 1, is given), where ``per_class``
    returns ``f_c``: ``l_c = log p(x | c)`` itself or, when ``stochastic``, a Monte Carlo
    bound or estimate of it.

    ``per_class(labels, streams)`` is called with the labels of one class and streams forked
    by name from the rows' streams (so class ``c``'s draws depend only on (seed, row) and the
    name, never on the other classes or the batch); a class of prior 0 is never evaluated.

    **Deterministic values** (``stochastic=False``, an exact likelihood): one pass, streams
    ``fork(f"class{c}")``, and the log-sum-exp ``log sum_c p(c) exp(f_c)``, which is exact.

    **Stochastic values** (a bound or an estimate): the log-sum-exp of noisy ``f_c`` is biased
    *upward*. It is convex, so by Jensen ``E[logsumexp(f)] >= logsumexp(E f)``: a lower bound
    in each class stops being one in expectation once classes are mixed, and the more the
    noise the higher the marginal -- the mirror image of the bias Burda et al. 2016
    ("Importance Weighted Autoencoders", sec. 3) discuss: the log of an unbiased estimate of
    ``p(x)`` is biased down, the exp of an unbiased estimate of ``log p(x | c)`` is biased up.
    Instead, the variational (Gibbs) inequality behind the evidence lower bound: for any
    distribution ``q`` over the classes,

        log sum_c p(c) exp(l_c) >= sum_c q_c (l_c + log p(c) - log q_c),

    with equality when ``q`` is the posterior ``p(c | x)`` (the gap is ``KL(q || p(c | x))``).
    Two independent passes:

    1. ``q_c = softmax_c(f'_c + log p(c))``, ``f'`` drawn with the *same* streams
       ``fork("class-posterior")`` for every class: an estimate of the posterior. Common random
       numbers across the classes (as :func:`genproto.generative_classifier.
       class_log_likelihoods` uses) cancel most of the estimator's noise in the differences
       ``f'_c - f'_c'`` that ``q`` depends on: the VDM's class marginal at 16 Monte Carlo
       times reads 1.947 bits/dim with a fresh draw per class, 1.76 with shared ones;
    2. the value ``sum_c q_c (f''_c + log p(c) - log q_c)``, ``f''`` drawn with the streams
       ``fork("class-value").fork(f"class{c}")``.

    ``q`` is independent of ``f''``, and the value is linear in ``f''``, so ``E[value | q] =
    sum_c q_c (E f''_c + log p(c) - log q_c)``: where ``E f''_c <= l_c`` (a bound) this is at
    most ``log p(x)`` by the inequality, so a bound stays a bound in expectation; an unbiased
    estimate of each ``l_c`` gives one of ``log p(x)`` biased down by ``E KL(q || p(c | x))``,
    small when the noise is small next to the gaps between the classes. A class with ``q_c =
    0`` adds 0 (never ``0 * -inf``); a row whose every ``f'_c`` is ``-inf`` is ``-inf``. It
    costs two calls a class instead of one.
    """
    kept = range(classes) if prior is None else [c for c in range(classes) if prior[c] > 0]
    logs = [-math.log(classes) if prior is None else math.log(prior[c]) for c in kept]

    def values(fork: KeyedStreams, shared: bool = False) -> torch.Tensor:  # (rows, K): f_c
        return torch.stack([
            per_class(torch.full((rows,), c, dtype=torch.int64, device=device),
                      fork if shared else fork.fork(f"class{c}"))
            for c in kept
        ], dim=1)

    if not stochastic:
        f = values(streams)
        if prior is None:
            return torch.logsumexp(f, dim=1) - math.log(classes)
        return torch.logsumexp(f + torch.tensor(logs, dtype=f.dtype, device=f.device), dim=1)
    # 1. q from the first pass: log q_c = log_softmax_c(f'_c + log p(c))
    first = values(streams.fork("class-posterior"), shared=True)  # (rows, K), common numbers
    log_prior = torch.tensor(logs, dtype=first.dtype, device=first.device)  # (K,)
    joint = first + log_prior
    log_q = torch.log_softmax(joint, dim=1)  # NaN in a row whose every f'_c is -inf
    # 2. the value from the second, independent pass: sum_c q_c (f''_c + log p(c) - log q_c)
    second = values(streams.fork("class-value"))  # (rows, K)
    q = log_q.exp()
    terms = torch.where(q > 0, q * (second + log_prior - log_q), 0.0)
    return torch.where(joint.isneginf().all(dim=1), -math.inf, terms.sum(dim=1))


def _prior_classes(spec: ConditionSpec, streams: KeyedStreams) -> torch.Tensor:
    """One class per sample from the declared prior, for ``condition=None`` (the marginal):
    uniform draws by ``randint`` (as in protocol 1), others by Gumbel-max over log p(c)."""
    draws = streams.fork("condition")
    if spec.uniform_prior:
        return draws.randint(spec.num_classes)
    log_prior = torch.tensor(spec.class_prior, dtype=torch.float64).log()
    return draws.categorical(log_prior.to(streams.device).expand(len(streams), -1))


def _checked_log_likelihood(model: BatchModel, out: Any, rows: int) -> torch.Tensor:
    """``log_likelihood_batch``'s output: ``(rows,)`` floats, no NaN, no ``+inf``.

    ``-inf`` is a valid log-probability (a point outside the support); a scalar or a
    batch sum broadcast over the rows, NaN or ``+inf`` is a plugin's bug, reported here.
    """
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (rows,) \
            or not out.is_floating_point():
        got = (f"shape {tuple(out.shape)} {out.dtype}" if isinstance(out, torch.Tensor)
               else f"a {type(out).__name__}")
        raise _plugin_bug(model, f"log_likelihood_batch returned {got} for {rows} rows",
                          f"a floating tensor of shape ({rows},): one value per row")
    if out.device != model.device:
        raise _plugin_bug(model, f"log_likelihood_batch returned a tensor on {out.device}",
                          f"the model's device, {model.device}")
    if bool(out.isnan().any()):
        raise _plugin_bug(model, "log_likelihood_batch returned NaN",
                          "log-probabilities in [-inf, +inf): -inf outside the support")
    if bool(out.isposinf().any()):
        raise _plugin_bug(model, "log_likelihood_batch returned +inf",
                          "log-probabilities in [-inf, +inf): a density must be finite")
    return out


def log_likelihood(
    model: BatchModel,
    x: Any,
    condition: Condition = None,
    *,
    seed: int = 0,
    batch_size: int | None = None,
    **options: Any,
) -> torch.Tensor:
    """Per-sample log-likelihood in nats through ``model.log_likelihood_batch``.

    The options are validated once; a class-conditional model given ``condition=None``
    returns the marginal over its class prior (:func:`class_marginal`) when that is what
    its ``none_means`` declares -- the log-sum-exp over classes for an ``EXACT`` likelihood,
    the two-pass variational form (a bound stays a bound in expectation) for a ``BOUND`` or
    an ``ESTIMATE`` -- and a model whose ``None`` is the null condition gets ``None`` in
    ``log_likelihood_batch``.
    """
    caps = model.capabilities
    if caps.likelihood is Likelihood.NONE:
        raise LikelihoodUnavailable(model.name, [p.value for p in caps.paradigms])
    values = model.check_likelihood_options(options)
    spec = caps.condition

    def one(data: torch.Tensor, cond: BatchCondition, streams: KeyedStreams) -> torch.Tensor:
        with _plugin_call(model, "log_likelihood_batch"):
            out = model.log_likelihood_batch(data, cond, streams, **values)
        return _checked_log_likelihood(model, out, data.shape[0])

    def per_batch(data: torch.Tensor, cond: BatchCondition, streams: KeyedStreams) -> torch.Tensor:
        if spec is None or cond is not None or spec.none_means is NoneMeans.NULL:
            return one(data, cond, streams)
        return class_marginal(
            lambda c, s: one(data, c, s), data.shape[0], spec.num_classes, streams,
            device=data.device, prior=None if spec.uniform_prior else spec.class_prior,
            stochastic=caps.likelihood is not Likelihood.EXACT,
        )

    return evaluate_rows(model, x, condition, per_batch, seed=seed, batch_size=batch_size)


def _provenance(model: BatchModel, p: Plan, condition: Condition) -> Provenance:
    from genproto import __version__

    origin = model.origin
    cond = describe_condition(condition, p.condition, model.capabilities.condition)
    return Provenance(
        model=model.name,
        distribution=origin.distribution if origin else None,
        version=origin.version if origin else None,
        weights_sha256=model.weights_sha256(),
        options=dict(p.options),
        seed=p.seed,
        n=p.n,
        start=p.start,
        batch_size=p.batch_size,
        condition=cond,
        device=str(p.device),
        precision=p.precision,
        torch_version=torch.__version__,
        genproto_version=__version__,
        protocol_version=PROTOCOL_VERSION,
    )


def run(
    model: BatchModel,
    n: int,
    *,
    condition: Condition = None,
    seed: int | None = None,
    batch_size: int | None = None,
    start: int = 0,
    progress: bool | None = None,
    precision: str = "fp32",
    **options: Any,
) -> SampleResult:
    """Draw samples ``start .. start+n-1`` of the stream ``seed`` into one tensor."""
    p = plan(
        model, n, condition=condition, seed=seed, batch_size=batch_size, start=start,
        progress=progress, precision=precision, options=options,
    )
    event = model.capabilities.event
    out = torch.empty((p.n, *event.shape), dtype=event.dtype, device=p.device)
    with EvaluationCounter(model.networks()) as counter:
        for offset, chunk in iter_chunks(model, p, check_values=False):
            out[offset : offset + chunk.shape[0]] = chunk
            counter.settle(chunk.shape[0])
    out = _checked_values(model, out)  # every batch's values at once: one reduction a run
    return SampleResult(out, p.seed, counter.evaluations_per_sample,
                        _provenance(model, p, condition), counter.peak_evaluations_per_sample)


def distributed_rank() -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised ``torch.distributed`` group, else ``(0, 1)``."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (identity when not distributed)."""
    if distributed_rank()[1] == 1:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def _any_rank_failed(failed: bool) -> bool:
    if distributed_rank()[1] == 1:
        return failed
    flag = torch.tensor([1 if failed else 0])
    if torch.distributed.get_backend() == "nccl":
        flag = flag.cuda()
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


def _presized_npy(
    stack: contextlib.ExitStack, target: Path, dtype: np.dtype[Any], shape: tuple[int, ...],
    data_bytes: int,
) -> tuple[str, int]:
    """Rank 0 makes a temporary sibling of ``target``: the header, then room for the data.

    Returns its name and the header's size on every rank. It lives as long as
    ``stack``: renamed to ``target`` on a clean exit, removed on an error (SIGTERM
    included). When rank 0 cannot make it, every rank raises.
    """
    made: tuple[str | None, int] = (None, 0)
    if distributed_rank()[0] == 0:
        try:
            tmp = stack.enter_context(atomic_path(target))
            with writing(target, "output file", tmp), open(tmp, "r+b") as fh:
                np.lib.format.write_array_header_1_0(fh, {
                    "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                    "shape": shape})
                made = (str(tmp), fh.tell())
                fh.truncate(made[1] + data_bytes)
        except BaseException:
            _broadcast((None, 0))  # the other ranks wait for the name: tell them there is none
            raise
    name, header_bytes = _broadcast(made)
    if name is None:
        raise OutputError(
            "output file: rank 0 could not create it", value=str(target),
            fix="See rank 0's error; nothing was written",
        )
    return name, header_bytes


def write_npy(
    model: BatchModel,
    n: int,
    path: str | Path,
    *,
    condition: Condition = None,
    seed: int | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
    precision: str = "fp32",
    **options: Any,
) -> SampleResult:
    """Stream ``n`` samples into an ``.npy`` file with flat memory.

    Chunks are written as they come into a temporary file in the target's
    folder (:func:`genproto._atomic.atomic_path`), renamed into place only once
    complete: an error, Ctrl-C or SIGTERM leaves ``path`` as it was and no
    temporary file; a bad ``path`` (a folder, a missing folder, no permission, a
    full disk ...) is an :class:`OutputError` before or instead of a partial file.
    Under ``torch.distributed`` (e.g. launched with ``torchrun``) each of the W
    ranks draws the contiguous indices
    ``[n*r/W, n*(r+1)/W)`` and writes them at their offset in the one file, which
    is therefore identical to the single-process output. The returned result's
    ``samples`` is empty.
    """
    target = check_target(path)
    rank, world = distributed_rank()
    seed = _broadcast(fresh_seed() if seed is None and rank == 0 else seed)
    full = plan(
        model, n, condition=condition, seed=seed, batch_size=batch_size, progress=progress,
        precision=precision, in_memory=False, options=options,
    )
    lo, hi = full.n * rank // world, full.n * (rank + 1) // world
    mine = attrs.evolve(
        full,
        n=hi - lo,
        start=lo,
        condition=None if full.condition is None else full.condition[lo:hi],
        progress=full.progress and rank == 0,
    )
    event = model.capabilities.event
    np_dtype = torch.empty(0, dtype=event.dtype).numpy().dtype  # the event's storage dtype
    row_bytes = np_dtype.itemsize * event.dimension
    with contextlib.ExitStack() as rank0_file:  # rank 0 renames it into place on a clean exit
        tmp_name, header_bytes = _presized_npy(rank0_file, target, np_dtype,
                                               (full.n, *event.shape), full.n * row_bytes)
        failure: BaseException | None = None
        counter = EvaluationCounter(model.networks())
        try:
            with writing(target, "output file", Path(tmp_name)), \
                    open(tmp_name, "r+b") as fh, counter:
                fh.seek(header_bytes + lo * row_bytes)
                for _, chunk in iter_chunks(model, mine):
                    fh.write(chunk.to("cpu").numpy().astype(np_dtype, copy=False).tobytes())
                    counter.settle(chunk.shape[0])
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException as exc:  # includes KeyboardInterrupt: clean up, then re-raise
            failure = exc
        if _any_rank_failed(failure is not None):
            if failure is not None:
                raise failure  # leaving the stack removes rank 0's temporary file
            raise InvalidArgumentError(
                "another rank failed while writing samples", value=str(target),
                fix="See that rank's error; nothing was written",
            )
    if world > 1:
        torch.distributed.barrier()
    empty = torch.empty((0, *event.shape), dtype=event.dtype)
    return SampleResult(empty, full.seed, counter.evaluations_per_sample,
                        _provenance(model, full, condition), counter.peak_evaluations_per_sample)
