"""Likelihood honesty: ``log_likelihood`` means what ``capabilities.likelihood`` declares.

Three properties, run in this order (each needs the one before):

``likelihood_values`` -- every kind but none: one floating value per row, shape ``(N,)``, on the
model's device, never NaN or +inf (the engine's :class:`~genproto.errors.PluginError` for a
malformed ``log_likelihood_batch`` output is reported here, its cause first); reproducible for a
seed and independent of ``batch_size``, for one class, per-sample labels and the class marginal.

Both this and the next property evaluate the model's own samples *and* points spread over the
space (uniform in the samples' box, or uniform levels): an importance sampler hardly varies on
the samples, where its posterior is sure, and shows its randomness between the modes.

``exact_determinism`` -- an exact likelihood is one number per (x, condition): the same for every
``seed``, every row position and every ``batch_size``, within :data:`LL_RTOL` / :data:`LL_ATOL`.
A stochastic estimate declared exact (IWAE, Hutchinson probes, dequantisation noise) fails it.

``likelihood``:

===========  ====================================================================================
declared     checked
===========  ====================================================================================
every kind   no -inf on the model's own samples; at most 0 on a discrete space (a probability is
             at most 1)
exact        equal to the author's known density (``exact_log_prob``) where given; normalised:
             over every event of a small discrete space ``logsumexp = 0`` (per class and for the
             class marginal); on a 1-D or 2-D continuous space the integral of ``exp(log p)`` is
             1 (midpoint quadrature at two resolutions that must agree); consistent with the
             sampler: the identity ``E_{x~p}[r(x)/p(x)] = 1`` for a known density r (uniform on
             the support, or on a box of high density), and a goodness-of-fit test of the sample
             frequencies of cells against their probabilities
bound        ``sum exp(bound) <= 1`` (discrete) or ``integral exp(bound) <= 1`` (continuous);
             on average not above the known density where given (``exact_log_prob``, e.g. a
             toy2d density); on average not above the same bound with more importance samples
none         ``log_likelihood`` raises ``LikelihoodUnavailable``
===========  ====================================================================================

(``estimate`` gets the shared checks, a normalisation within :data:`ESTIMATE_MASS_TOL` and a
mean within :data:`ESTIMATE_TOL` nats of ``exact_log_prob`` where given.)

When the samples and ``exp(log_likelihood)`` disagree, the message says how (the samples' spread,
mean and average log-likelihood against what the density implies) and, where it can be told,
which side is off: a likelihood that matched ``exact_log_prob`` leaves the sampler.

Normalisation needs a space small enough to sum or integrate: at most :data:`MAX_EVENTS` discrete
events or :data:`MAX_QUADRATURE_DIMS` continuous dimensions. A model whose own space is larger
(8x8 digits) gets the checks on its tiny configuration (``tiny=``); without one, the sub-check is
reported as skipped with that reason. A quadrature that does not converge (a density too peaked
for the grid) decides nothing: the property is reported *inconclusive*, never passed. Every
profile but ``thorough`` also caps what one quadrature resolution may cost in network
evaluations (:data:`QUADRATURE_EVALUATION_BUDGET`, counted on the coarsest grid): a likelihood
that runs its networks hundreds of times a point (a diffusion bound over many times, an ODE)
gets the finer grids under ``thorough`` only, and is told so (inconclusive, never passed).
Statistical sub-checks draw from fixed seeds with a false-alarm rate of at most
:data:`~genproto.testing.stats.FALSE_ALARM` for the property as a whole (see
:mod:`genproto.testing.stats` for the bounds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from hypothesis import strategies as st

from genproto.errors import ContractViolation, LikelihoodUnavailable, PluginError
from genproto.model import Model
from genproto.protocol import (
    Condition,
    ConditionKind,
    ConditionSpec,
    EventKind,
    EventSpace,
    GenerativeModel,
    Likelihood,
    NoneMeans,
)
from genproto.streams import KeyedStreams
from genproto.testing import stats
from genproto.testing import strategies as gs
from genproto.testing._core import (
    Inconclusive,
    ModelSource,
    NotApplicable,
    Notes,
    X,
    call_text,
    explain,
    fail,
    fixed_seed,
    guard,
    resolve,
    run_given,
)
from genproto.testing.properties import (
    default_condition,
    example_conditions,
    per_sample_condition,
)

__all__ = [
    "BOUND_MASS_SLACK",
    "ESTIMATE_MASS_TOL",
    "ESTIMATE_TOL",
    "EXACT_LSE_TOL",
    "EXACT_MASS_TOL",
    "IMPORTANCE_OPTIONS",
    "LL_ATOL",
    "LL_RTOL",
    "MAX_EVENTS",
    "MAX_RAW_EVENTS",
    "MAX_QUADRATURE_DIMS",
    "check_exact_determinism",
    "check_likelihood",
    "check_likelihood_values",
]

PROP = "likelihood"

#: Largest discrete space that is enumerated (``levels ** dimension``).
MAX_EVENTS = 4096
#: Most level combinations enumerated to filter a variable-length sequence's valid ones from.
MAX_RAW_EVENTS = 2**18
#: Largest continuous dimension that is integrated by quadrature.
MAX_QUADRATURE_DIMS = 2
#: |logsumexp over all events| allowed for an exact likelihood (float32 sums), in nats.
EXACT_LSE_TOL = 1e-3
#: |integral - 1| allowed for an exact continuous likelihood (quadrature and tail mass).
EXACT_MASS_TOL = 0.02
#: How far above 1 the total of ``exp(bound)`` may go: float error, and the noise of stochastic
#: bounds (IWAE), whose ``exp`` is only unbiased for ``p``, averaged over the whole space.
BOUND_MASS_SLACK = 0.02
#: |total of exp(estimate) - 1| allowed for an estimate.
ESTIMATE_MASS_TOL = 0.1
#: |mean(estimate - exact)| allowed, in nats, where the exact density is known.
ESTIMATE_TOL = 0.1
#: Two quadrature resolutions must agree this well, else the integral is inconclusive.
QUADRATURE_AGREEMENT = 0.005
#: Largest share of the mass one quadrature cell may hold at the density of the model's own
#: samples: above it the grid does not resolve the peaks, and the integral is inconclusive.
QUADRATURE_CELL_MASS = 0.05
#: Points per axis of the quadrature resolutions, by dimension: the first two that agree count.
QUADRATURE_POINTS = {1: (512, 1024, 2048, 4096), 2: (48, 96, 192)}
#: Network evaluations (forward calls weighted by their rows, as the engine counts them) that
#: one quadrature resolution may cost in every profile but ``thorough``: ~1 minute of a 2-D
#: diffusion bound on one CPU core. Projected from the coarsest grid's count; a likelihood
#: whose networks are not counted (none declared, or bypassed) is not capped.
QUADRATURE_EVALUATION_BUDGET = 2_000_000
#: Names of an int likelihood option that sets the number of importance samples (IWAE's k).
IMPORTANCE_OPTIONS = ("k", "samples", "importance_samples", "num_samples", "particles")
#: Relative and absolute tolerance (nats) for log-likelihoods that must agree: other batch sizes;
#: for an exact likelihood also other seeds and row positions (kernels may sum in another order).
LL_RTOL = 1e-4
LL_ATOL = 1e-4

#: Samples drawn for the statistical sub-checks.
STAT_SAMPLES = 4000
#: Split of the property's false-alarm rate over its statistical sub-checks.
_DELTA = stats.FALSE_ALARM / 2


def _ll(
    model: GenerativeModel, x: torch.Tensor, condition: Condition, *, prop: str = PROP,
    **options: Any,
) -> torch.Tensor:
    """Guarded ``log_likelihood`` on a copy of ``x`` (a mutating model must not spoil the check):
    one float per row, on the model's device, neither NaN nor +inf, or a violation of ``prop``
    that names what came back.

    For a ``genproto.Model`` the engine checks every ``log_likelihood_batch`` output itself; its
    :class:`PluginError` is reported with the cause first (``log_likelihood_batch returned NaN``).
    """
    text = call_text("log_likelihood", x, condition=condition, **options)
    if isinstance(model, Model) and "batch_size" not in options:
        options = {**options, "batch_size": 8192}  # fewer, larger batches: same values
    try:
        out = model.log_likelihood(x.clone(), condition=condition, **options)
    except ContractViolation:
        raise
    except PluginError as exc:
        if not exc.allowed or "log_likelihood_batch" not in exc.what:
            raise ContractViolation(prop, f"{text} raised {explain(exc)}",
                                    reproduction=text) from exc
        what = exc.what.removeprefix(f"model {model.name!r}: ")
        fail(prop, f"{what}; expected {exc.allowed} (genproto's engine refused it with a "
                   f"PluginError in {text})", reproduction=text)
    except Exception as exc:
        raise ContractViolation(prop, f"{text} raised {explain(exc)}",
                                reproduction=text) from exc
    rows = x.shape[0]
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (rows,):
        shown = (f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor)
                 else f"a {type(out).__name__}")
        fail(prop, f"{text} returned {shown}; expected one value per row, shape ({rows},)",
             reproduction=text)
    if not out.is_floating_point():
        fail(prop, f"{text} returned dtype {out.dtype}; log-likelihoods are floats (nats)",
             reproduction=text)
    device = getattr(model, "device", out.device)
    if out.device != device:
        fail(prop, f"{text} returned a tensor on {out.device}; the model is on {device}",
             reproduction=text)
    for bad, name in ((torch.isnan(out), "NaN"), (torch.isposinf(out), "+inf")):
        if bool(bad.any()):
            where = bad.nonzero().reshape(-1)[:5].tolist()
            fail(prop, f"{text} returned {name} in rows {where}; expected log-probabilities in "
                       "[-inf, +inf) (-inf only outside the support)", reproduction=text)
    return out


def _apart(a: torch.Tensor, b: torch.Tensor) -> tuple[list[int], float]:
    """Rows where two log-likelihoods disagree beyond the tolerance, and the largest gap."""
    close = torch.isclose(a.double(), b.double(), rtol=LL_RTOL, atol=LL_ATOL)
    rows = (~close).nonzero().reshape(-1).tolist()
    gap = (a.double() - b.double()).abs().nan_to_num(math.inf)
    return rows, float(gap[~close].max()) if rows else 0.0


# -- likelihood_values --------------------------------------------------------------------------


def _probe_points(
    prop: str, model: GenerativeModel, n: int, seed: int, cond: Condition
) -> tuple[torch.Tensor, str]:
    """``n`` points to evaluate and how they were made: a quarter the model's own samples, the rest
    spread over the space -- uniform in the box the samples span, widened by a tenth
    (continuous), or uniform levels (discrete). An estimator's draws matter most where its
    posterior is uncertain, between the modes; on the model's own samples an importance sampler
    may hardly vary, and so pass for exact."""
    own_rows = (n + 3) // 4
    text = call_text("sample", n, seed=seed, condition=cond)
    own = guard(prop, text, model.sample, n, seed=seed, condition=cond)
    event = model.capabilities.event
    draws = KeyedStreams(seed, torch.arange(n - own_rows)).fork("probe points")
    if event.is_sequence:
        other = _sequences(event, draws).to(own.device, own.dtype)
        how = "random valid sequences (tokens, then the stop, then padding)"
    elif event.kind is EventKind.DISCRETE:
        other = draws.randint(event.levels or 2, *event.shape).to(own.device, own.dtype)
        how = "uniform levels"
    else:
        lo, hi = own.amin(0), own.amax(0)
        lo, hi = lo - (hi - lo) / 10, hi + (hi - lo) / 10
        lo, hi = _in_range(event, lo, hi)
        u = draws.uniform(*event.shape).to(own.device)
        other = lo + u * (hi - lo)
        how = "points uniform in the samples' box"
        if event.low is not None or event.high is not None:
            how += " within the declared range"
    points = torch.empty_like(own)
    mine = torch.arange(n, device=own.device) % 4 == 0  # rows 0, 4, 8, ...: own; the rest spread
    points[mine] = own[mine]
    points[~mine] = other
    # only events of the declared space: a spread row outside it (a range end, the stop/pad
    # rule) would be an InputError, not a value; the model's own sample stands in for it
    outside = ~event.contains(points.cpu()).to(points.device)
    points[outside] = own[outside]
    return points, f"x = {text} (rows not divisible by 4 replaced by {how})"


def _in_range(event: EventSpace, low: torch.Tensor, high: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """A box clipped to the event's declared value range (no clipping where none is declared)."""
    if event.low is not None:
        low, high = low.clamp(min=event.low), high.clamp(min=event.low)
    if event.high is not None:
        low, high = low.clamp(max=event.high), high.clamp(max=event.high)
    return low, high


def _sequences(event: EventSpace, draws: KeyedStreams) -> torch.Tensor:
    """One valid sequence per stream row: a length 1..L, words (tokens other than stop and pad)
    before the stop, padding after it; a row of length L may end with a word (cut, never
    stopped)."""
    length = event.shape[0]
    stop, pad = event.stop or 0, event.pad or 0
    words = torch.tensor([t for t in range(event.levels or 2) if t not in (stop, pad)],
                         dtype=torch.int64)
    rows = len(draws)
    position = torch.arange(length)  # (L,)
    if words.numel():
        used = draws.fork("length").randint(length + 1)[:, None]  # (B, 1): 0..L words
        word = words[draws.fork("words").randint(int(words.numel()), length)]  # (B, L)
    else:
        used = torch.zeros(rows, 1, dtype=torch.int64)
        word = torch.full((rows, length), stop)
    return torch.where(position < used, word, torch.where(position == used, stop, pad))


def _marginal_none(spec: ConditionSpec | None) -> bool:
    """Whether ``condition=None`` is a class marginal the engine computes with one call per
    class (so the value checks use fewer rows for it)."""
    return (spec is not None and not spec.required and spec.kind is ConditionKind.CLASS
            and spec.none_means is NoneMeans.MARGINAL)


def _value_conditions(model: GenerativeModel, n: int) -> list[Condition]:
    """The conditions the value checks use: the default one, per-sample conditions, and
    ``None`` (the class marginal, or the null condition) where it is allowed."""
    spec = model.capabilities.condition
    out: list[Condition] = [default_condition(model.capabilities)]
    if spec is not None:
        out.append(per_sample_condition(spec, n))
        if not spec.required and None not in out:
            out.append(None)
    return out


def check_likelihood_values(model: GenerativeModel, *, profile: str = gs.CI_PROFILE) -> Notes:
    """``log_likelihood`` returns one finite float per row (shape ``(N,)``, floating, on the
    model's device; NaN and +inf never, -inf only outside the support) for one class, per-sample
    labels and the class marginal (on 16 rows: it costs a call per class); with per-sample
    labels (one class a row, the cheapest call) the same values when called again with the same
    seed, and for ``batch_size`` 1 and 5 as for the automatic one -- an estimator draws from the
    keyed streams of (seed, row).

    The engine's :class:`PluginError` for a malformed ``log_likelihood_batch`` output (a scalar,
    the batch sum, an (n, 1) tensor, ints, NaN, +inf) is this property's failure, its cause
    first.
    """
    prop = "likelihood_values"
    caps = model.capabilities
    if caps.likelihood is Likelihood.NONE:
        raise NotApplicable("likelihood is none (the likelihood property checks that "
                            "log_likelihood raises LikelihoodUnavailable)")
    n, seed = 48, fixed_seed()
    conditions = _value_conditions(model, n)
    keyed = conditions[1] if caps.condition is not None else conditions[0]  # per-sample
    for cond in conditions:
        x, made = _probe_points(prop, model, n, seed, cond)
        if cond is None and _marginal_none(caps.condition):  # the marginal: C calls a batch
            x, made = x[:16], f"{made}; x = x[:16]"
        call = call_text("log_likelihood", X, condition=cond)
        try:
            first = _ll(model, x, cond, prop=prop)
        except ContractViolation as exc:
            raise ContractViolation(prop, exc.detail, reproduction=f"{made}; {call}",
                                    example={"n": n, "seed": seed}) from exc
        if cond is not keyed or not isinstance(model, Model):
            continue
        again = _ll(model, x, cond, prop=prop, seed=0)  # seed 0 is the default
        if not torch.equal(first, again):
            rows, gap = _apart(first, again)
            fail(prop, f"{call_text('log_likelihood', X, condition=cond, seed=0)} is not "
                       f"reproducible: two calls differ by up to {gap:.3g} nats (rows "
                       f"{rows[:5]}): estimators must draw from the keyed streams of (seed, "
                       "row), never from a global or self-seeded generator",
                 reproduction=f"{made}; {call} twice", n=n, seed=seed)
        for size in (1, 5):
            other = _ll(model, x, cond, prop=prop, seed=0, batch_size=size)
            rows, gap = _apart(other, first)
            if rows:
                sized = call_text("log_likelihood", X, condition=cond, batch_size=size)
                fail(prop, f"log_likelihood depends on batch_size: batch_size={size} and the "
                           f"automatic one differ by up to {gap:.3g} nats (rows {rows[:5]}); "
                           "row i's value may depend only on x[i], its condition and (seed, i)",
                     reproduction=f"{made}; {sized} vs {call}", n=n, seed=seed,
                     batch_size=size)
    return ()


# -- exact_determinism --------------------------------------------------------------------------


def check_exact_determinism(model: GenerativeModel, *, profile: str = gs.CI_PROFILE) -> Notes:
    """An exact log-likelihood is a function of (x, condition) alone: the same, within
    :data:`LL_RTOL` / :data:`LL_ATOL`, for every ``seed``, every row position and every
    ``batch_size``. Hypothesis draws the seed, a rotation of the rows and the batch size; each is
    changed on its own, so the message names the one the values depend on.
    """
    prop = "exact_determinism"
    caps = model.capabilities
    if caps.likelihood is Likelihood.NONE:
        raise NotApplicable("likelihood is none")
    if caps.likelihood is not Likelihood.EXACT:
        raise NotApplicable(f"likelihood is {caps.likelihood.value}: its value may depend on the "
                            "seed (likelihood_values checks it is reproducible for one seed)")
    n, seed = 48, fixed_seed(5)
    spec = caps.condition
    cond: Condition = None if spec is None else per_sample_condition(spec, n)
    x, made = _probe_points(prop, model, n, seed, cond)
    keyed = isinstance(model, Model)
    base = {"seed": 0} if keyed else {}
    reference = _ll(model, x, cond, prop=prop, **base)
    why = ("an exact likelihood is one number per (x, condition); an estimator that draws random "
           "numbers (importance samples, Hutchinson probes, dequantisation noise) must declare "
           "Likelihood.ESTIMATE or BOUND")

    def rotated(t: Condition, shift: int) -> Condition:
        if isinstance(t, torch.Tensor):
            return torch.roll(t, shift, 0)
        if isinstance(t, list):  # per-sample texts
            return t[-shift:] + t[:-shift]
        return t

    def test(other_seed: int, shift: int, batch_size: int | None) -> None:
        # 1. another seed, the same rows in the same batches
        if keyed and other_seed != 0:
            values = _ll(model, x, cond, prop=prop, seed=other_seed)
            rows, gap = _apart(values, reference)
            if rows:
                at_zero = call_text("log_likelihood", X, condition=cond, seed=0)
                at_other = call_text("log_likelihood", X, condition=cond, seed=other_seed)
                fail(prop, f"the exact log-likelihood depends on the seed: seed=0 and "
                           f"seed={other_seed} give values up to {gap:.3g} nats apart (rows "
                           f"{rows[:5]}): {why}",
                     reproduction=f"{made}; {at_zero} vs {at_other}",
                     n=n, seed=other_seed)
        # 2. the same rows moved to other positions (row i to row i + shift, mod n)
        moved = _ll(model, torch.roll(x, shift, 0), rotated(cond, shift), prop=prop,
                    **base)
        rows, gap = _apart(torch.roll(moved, -shift, 0), reference)
        if rows:
            fail(prop, f"the exact log-likelihood depends on the row's position: row {rows[0]} "
                       f"moved to row {(rows[0] + shift) % n} changes by up to {gap:.3g} nats: "
                       f"{why} (draws keyed by the row, or a generator seeded per batch, make "
                       "the value depend on where x sits)",
                 reproduction=f"{made}; model.log_likelihood(torch.roll(x, {shift}, 0), "
                              f"...)[{(rows[0] + shift) % n}] vs model.log_likelihood(x, ...)"
                              f"[{rows[0]}]", n=n, shift=shift)
        # 3. another batch size
        if keyed:
            size = batch_size or n
            values = _ll(model, x, cond, prop=prop, seed=0, batch_size=size)
            rows, gap = _apart(values, reference)
            if rows:
                sized = call_text("log_likelihood", X, condition=cond, batch_size=size)
                fail(prop, f"the exact log-likelihood depends on the batch size: "
                           f"batch_size={size} and the automatic one differ by up to "
                           f"{gap:.3g} nats (rows {rows[:5]})",
                     reproduction=f"{made}; {sized} vs "
                                  f"{call_text('log_likelihood', X, condition=cond)}",
                     n=n, batch_size=size)

    run_given(profile, test,
              {"other_seed": gs.seeds(), "shift": st.integers(1, n - 1),
               "batch_size": gs.batch_sizes(n)},
              ({"other_seed": 1, "shift": n // 2, "batch_size": 5},))
    if not keyed:
        return ("seed and batch_size: not a genproto.Model (its log_likelihood takes neither); "
                "only row positions were checked",)
    return ()


# -- likelihood ---------------------------------------------------------------------------------


def check_likelihood(
    model: GenerativeModel,
    *,
    tiny: ModelSource | None = None,
    exact_log_prob: Callable[[torch.Tensor], torch.Tensor] | None = None,
    profile: str = gs.CI_PROFILE,
) -> Notes:
    """``log_likelihood`` is honest about its declared kind (see the module docstring).

    Args:
        model: the model; the shared checks run on it.
        tiny: a small configuration of the same model (or a factory of one) for the checks that
            sum or integrate over the event space; default: ``model`` itself.
        exact_log_prob: the true log-density of the (tiny) model's class marginal, where the
            author knows it in closed form, e.g. ``genproto.data.toy2d(name).log_prob``.
    """
    caps = model.capabilities
    cond = default_condition(caps)
    seed = fixed_seed()
    text = call_text("sample", 16, seed=seed, condition=cond)
    x = guard(PROP, text, model.sample, 16, seed=seed, condition=cond)
    if caps.likelihood is Likelihood.NONE:
        _check_none(model, x, cond, text)
        return ("likelihood is none: checked only that log_likelihood raises "
                "LikelihoodUnavailable",)
    _check_own_samples(model, x, cond, text)
    subject = resolve(tiny)[0] if tiny is not None else model
    if subject.capabilities.likelihood is not caps.likelihood:
        fail(PROP, f"the tiny configuration declares likelihood "
                   f"{subject.capabilities.likelihood.value!r}, the model "
                   f"{caps.likelihood.value!r}")
    notes: list[str] = []
    # the known density first: where it holds, a disagreement with the sampler is the sampler's
    known = _check_known(subject, exact_log_prob, notes) if exact_log_prob is not None else False
    event = subject.capabilities.event
    if event.kind is EventKind.DISCRETE and _enumerable(event):
        _check_discrete(subject, notes, known)
    elif event.kind is EventKind.CONTINUOUS and event.dimension <= MAX_QUADRATURE_DIMS:
        thorough = gs.profile_name(profile) == gs.THOROUGH_PROFILE
        _check_continuous(subject, notes, known,
                          budget=None if thorough else QUADRATURE_EVALUATION_BUDGET)
    else:
        size = (f"{_space_size(event)} events" if event.kind is EventKind.DISCRETE
                else f"{event.dimension} continuous dimensions")
        notes.append(f"normalisation and sampler consistency: the event space ({size}) is too "
                     f"large to sum or integrate (limits: {MAX_EVENTS} discrete events, "
                     f"{MAX_QUADRATURE_DIMS} continuous dimensions); pass tiny= a small "
                     "configuration")
    if subject.capabilities.likelihood is Likelihood.BOUND:
        _check_importance(subject, notes)
    return tuple(notes)


# -- shared checks ----------------------------------------------------------------------------


def _check_none(model: GenerativeModel, x: torch.Tensor, cond: Condition, sample: str) -> None:
    text = call_text("log_likelihood", X, condition=cond)
    try:
        out = model.log_likelihood(x, condition=cond)
    except LikelihoodUnavailable:
        return
    except Exception as exc:
        fail(PROP, f"declares likelihood 'none', and {text} raised {type(exc).__name__}: {exc}; "
                   "expected genproto.errors.LikelihoodUnavailable",
             reproduction=f"x = {sample}; {text}")
    shown = f"a {type(out).__name__}"
    if isinstance(out, torch.Tensor):
        shown = f"numbers of shape {tuple(out.shape)}"
    fail(PROP, f"declares likelihood 'none' yet {text} returned {shown}; it must raise "
               "genproto.errors.LikelihoodUnavailable (or declare exact/bound/estimate)",
         reproduction=f"x = {sample}; {text}")


def _check_own_samples(
    model: GenerativeModel, x: torch.Tensor, cond: Condition, text: str
) -> None:
    """The model's own samples have positive probability, and none above 1 on a discrete space."""
    caps = model.capabilities
    values = _ll(model, x, cond)
    call = call_text("log_likelihood", X, condition=cond)
    repro = f"x = {text}; {call}"
    if bool(torch.isneginf(values).any()):
        row = int(torch.isneginf(values).nonzero()[0, 0])
        fail(PROP, f"the model sampled row {row}, to which its own likelihood gives probability "
                   "0 (log-likelihood -inf)", reproduction=repro)
    if caps.event.kind is EventKind.DISCRETE and caps.likelihood is not Likelihood.ESTIMATE:
        top = float(values.max())
        if top > EXACT_LSE_TOL:
            fail(PROP, f"a {caps.likelihood.value} log-likelihood of a discrete event is "
                       f"{top:.4f} > 0 nats: a probability above 1", reproduction=repro)


def _conditions(model: GenerativeModel) -> list[Condition]:
    """Conditions whose normalisation is checked: every class (up to 10), or a few prompts,
    texts or embeddings (:func:`~genproto.testing.properties.example_conditions`), and
    ``None`` where allowed (the class marginal, or the null condition)."""
    spec = model.capabilities.condition
    if spec is None:
        return [None]
    out: list[Condition] = list(example_conditions(spec, 10))
    if not spec.required:
        out.append(None)
    return out


def _uncovered(model: GenerativeModel) -> list[Condition]:
    """The checked conditions whose samples the reference samples (:func:`_marginal_labels`)
    need not reach: every one but a class of positive prior when ``None`` or the stratified
    labels are the class marginal; none for an unconditional model."""
    spec = model.capabilities.condition
    if spec is None:
        return []
    marginal = spec.kind is ConditionKind.CLASS and (
        spec.required or spec.none_means is NoneMeans.MARGINAL)
    weights = dict(_class_weights(spec)) if spec.kind is ConditionKind.CLASS else {}
    return [c for c in _conditions(model) if c is not None
            and not (marginal and isinstance(c, int) and c in weights)]


def _class_weights(spec: ConditionSpec) -> list[tuple[int, float]]:
    """``(class, p(c))`` for the classes of positive prior probability."""
    return [(c, p) for c, p in enumerate(spec.class_prior) if p > 0]


def _marginal_labels(model: GenerativeModel, n: int) -> Condition:
    """The condition whose samples the reference density :func:`_marginal_ll` describes.

    ``None`` wherever it is allowed: the engine draws each sample's class from the prior (a
    marginal), or it is the model's own null condition (``NoneMeans.NULL``, not a marginal:
    the same ``None`` goes to ``log_likelihood``). A required class condition: labels
    stratified over the class prior (``torch.arange(n) % C`` when it is uniform); another
    required kind: its default condition (there is no marginal over prompts)."""
    spec = model.capabilities.condition
    if spec is None or not spec.required:
        return None
    if spec.kind is not ConditionKind.CLASS:
        return default_condition(model.capabilities)
    if spec.uniform_prior:
        return torch.arange(n) % spec.num_classes
    # low-discrepancy quantiles u_i spread over the prior's cumulative intervals
    cumulative = torch.tensor(spec.class_prior, dtype=torch.float64).cumsum(0)
    u = (torch.arange(n, dtype=torch.float64) * 0.6180339887498949 + 0.5) % 1.0
    return torch.bucketize(u, cumulative, right=True).clamp(max=spec.num_classes - 1)


def _marginal_ll(model: GenerativeModel, x: torch.Tensor) -> torch.Tensor:
    """The log-density of what :func:`_marginal_labels` samples: ``log_likelihood(x, None)``
    where ``None`` is allowed (the engine's prior-weighted marginal, or the null condition);
    for a required class condition ``log sum_c p(c) p(x|c)`` over the classes of positive
    prior (uniform: ``log (1/C) sum_c p(x|c)``); for another required kind, ``p(x|default)``."""
    spec = model.capabilities.condition
    if spec is None or not spec.required:
        return _ll(model, x, None).double()
    if spec.kind is not ConditionKind.CLASS:
        return _ll(model, x, default_condition(model.capabilities)).double()
    weights = _class_weights(spec)
    per_class = torch.stack([_ll(model, x, c).double() + math.log(p) for c, p in weights])
    return torch.logsumexp(per_class, dim=0)


def _name(condition: Condition, spec: ConditionSpec | None = None) -> str:
    if condition is None:
        if spec is not None and spec.none_means is NoneMeans.NULL:
            return "the null condition"
        return "the class marginal"  # an unconditional model's p(x) is its own marginal
    if isinstance(condition, int):
        return f"class {condition}"
    if isinstance(condition, torch.Tensor):
        return f"condition {condition.tolist()}"
    return f"condition {condition!r}"


def _check_total(kind: Likelihood, total: float, where: str, how: str) -> None:
    """The total probability ``exp(logsumexp)`` or integral, against the declared kind."""
    if kind is Likelihood.EXACT:
        ok = abs(total - 1) <= (math.expm1(EXACT_LSE_TOL) if how == "sum" else EXACT_MASS_TOL)
        want = "1"
    elif kind is Likelihood.BOUND:
        ok = total <= 1 + BOUND_MASS_SLACK
        want = f"at most 1 (+{BOUND_MASS_SLACK} slack) for a lower bound"
    else:
        ok = abs(total - 1) <= ESTIMATE_MASS_TOL
        want = f"1 within {ESTIMATE_MASS_TOL} for an estimate"
    if not ok:  # also catches NaN
        shift = math.log(total) if total > 0 else -math.inf
        fail(PROP, f"{kind.value} likelihood is not normalised: the {how} of exp(log_likelihood) "
                   f"over {where} is {total:.4f}, expected {want} (off by {shift:+.3f} nats)",
             reproduction=f"torch.logsumexp(model.log_likelihood(every_event{where_hint(where)}),"
                          " 0)" if how == "sum" else
                          f"integral of model.log_likelihood(x{where_hint(where)}).exp() dx")


def where_hint(where: str) -> str:
    if where.startswith("class "):
        return f", condition={where.split()[1]}"
    return ""


# -- small discrete spaces --------------------------------------------------------------------


def _valid_sequences(event: EventSpace) -> int:
    """How many sequences the stop/pad rule allows: k words (tokens other than stop and
    pad) then the stop, for k < L, and the L-word rows that never stopped."""
    words: int = (event.levels or 2) - len({event.stop, event.pad})
    length = event.shape[0]
    return int(sum(words**k for k in range(length))) + int(words**length)


def _space_size(event: EventSpace) -> str:
    if event.is_sequence:
        return f"{_valid_sequences(event)} valid sequences of {event.levels}^{event.dimension}"
    return f"{event.levels}^{event.dimension}"


def _enumerable(event: EventSpace) -> bool:
    """Small enough to sum over: at most MAX_EVENTS events (a sequence: valid ones, filtered
    with ``event.contains`` from at most MAX_RAW_EVENTS level combinations)."""
    raw: int = (event.levels or 0) ** event.dimension
    if event.is_sequence:
        return raw <= MAX_RAW_EVENTS and _valid_sequences(event) <= MAX_EVENTS
    return raw <= MAX_EVENTS


def _check_discrete(model: GenerativeModel, notes: list[str], known: bool) -> None:
    caps = model.capabilities
    event = caps.event
    levels = event.levels or 2
    events = stats.enumerate_events(event.shape, levels)  # (levels^D, *shape)
    # raw event number -> row of ``events`` (-1: not an event of the space, e.g. a sequence
    # breaking the stop/pad rule, which log_likelihood refuses and no sampler may draw)
    keep = event.contains(events)
    row_of = torch.where(keep, keep.long().cumsum(0) - 1, -1)
    events = events[keep]  # (K, *shape)
    k = events.shape[0]
    for c in _conditions(model):
        lp = _ll(model, events, c).double()
        total = float(torch.logsumexp(lp, 0).exp())
        where = f"all {k} events of {_name(c, caps.condition)}"
        _check_total(caps.likelihood, total, where, "sum")
    if caps.likelihood is not Likelihood.EXACT:
        return
    # sampler consistency, on the class marginal
    lp = _marginal_ll(model, events)  # (K,)
    n = STAT_SAMPLES
    labels = _marginal_labels(model, n)
    text = call_text("sample", n, seed=fixed_seed(), condition=labels)
    x = guard(PROP, text, model.sample, n, seed=fixed_seed(), condition=labels)
    powers = levels ** torch.arange(event.dimension - 1, -1, -1, dtype=torch.int64)
    index = row_of[(x.reshape(n, -1).long().cpu() * powers).sum(1)]  # (n,) each sample's row
    if bool((index < 0).any()):
        row = int((index < 0).nonzero()[0, 0])
        fail(PROP, f"the sampler drew {x[row].tolist()} (row {row}), not an event of the "
                   f"declared space ({event.describe()})", reproduction=text)
    counts = torch.bincount(index, minlength=k)
    prob = lp.exp()
    if bool((prob[index] == 0).any()):
        fail(PROP, "the sampler drew an event whose exact likelihood is 0", reproduction=text)

    def hint() -> str:
        return _discrete_hint(events, lp, x, index, known)

    # 1. the identity E_{x~p}[r(x) / p(x)] = 1, r uniform on the support; exact range and variance
    support = prob > 0
    r = 1.0 / int(support.sum())
    ratio = torch.where(support, r / prob.clamp_min(1e-300), torch.zeros_like(prob))
    variance = float((r * ratio[support]).sum()) - 1
    bound = max(1.0, float(ratio.max()) - 1)
    mean = float(ratio[index].mean())
    radius = stats.bernstein_radius(n, variance, bound, _DELTA)
    if abs(mean - 1) > radius:
        fail(PROP, f"E_x~p[r(x)/p(x)] = 1 fails for r uniform on the {int(support.sum())} events: "
                   f"the mean over {n} samples is {mean:.4f} (allowed 1 +- {radius:.4f}, "
                   f"false alarm {_DELTA:g}): the samples do not follow exp(log_likelihood); "
                   f"{hint()}",
             reproduction=f"x = {text}; (1 / (K * model.log_likelihood(x).exp())).mean()",
             n=n, seed=fixed_seed())
    # 2. goodness of fit, every event a cell
    fit = stats.cell_fit(counts, prob, delta=_DELTA, slack=None)
    if not fit.passed:
        shown = events[fit.cell].tolist()
        fail(PROP, f"sample frequencies do not match exp(log_likelihood) (goodness of fit over "
                   f"{k} events, false alarm {_DELTA:g}): event {shown}: {fit.describe()}; "
                   f"{hint()}",
             reproduction=f"x = {text}; compare event frequencies with "
                          "model.log_likelihood(every_event).exp()", n=n, seed=fixed_seed())


# -- 1-D and 2-D continuous spaces ------------------------------------------------------------


def _check_continuous(model: GenerativeModel, notes: list[str], known: bool, *,
                      budget: float | None = None) -> None:
    caps = model.capabilities
    event = caps.event
    dims = event.dimension
    n = STAT_SAMPLES
    labels = _marginal_labels(model, 2000)
    pilot_text = call_text("sample", 2000, seed=fixed_seed(1), condition=labels)
    pilot = guard(PROP, pilot_text, model.sample, 2000, seed=fixed_seed(1), condition=labels)
    flat = pilot.reshape(2000, dims).double()
    lo, hi = torch.quantile(flat, 0.001, dim=0), torch.quantile(flat, 0.999, dim=0)
    peaks: dict[str, torch.Tensor] = {}
    for c in _uncovered(model):  # conditions the marginal's samples may not reach
        c_text = call_text("sample", 2000, seed=fixed_seed(1), condition=c)
        own = guard(PROP, c_text, model.sample, 2000, seed=fixed_seed(1), condition=c)
        peaks[str(c)] = own.reshape(2000, dims).double()
        lo = torch.minimum(lo, torch.quantile(peaks[str(c)], 0.001, dim=0))
        hi = torch.maximum(hi, torch.quantile(peaks[str(c)], 0.999, dim=0))
    width = (hi - lo).clamp_min(1e-3)
    # the box the samples span, widened by half; within a declared range (the domain of the
    # density: what lies outside it is an InputError, and a range end cuts no mass off)
    low, high = _in_range(event, lo - width / 2, hi + width / 2)

    def density(c: Condition) -> Callable[[torch.Tensor], torch.Tensor]:
        def log_p(points: torch.Tensor) -> torch.Tensor:
            return _ll(model, points.reshape(-1, *event.shape), c)
        return log_p

    def marginal(points: torch.Tensor) -> torch.Tensor:
        return _marginal_ll(model, points.reshape(-1, *event.shape))

    grids: dict[str, tuple[stats.Grid, stats.Grid]] = {}
    for c in _conditions(model):
        peak = peaks.get(str(c), pilot.reshape(2000, dims))
        pair = _quadrature(density(c), low, high, dims, peak, model, budget)
        if isinstance(pair, str):
            notes.append(Inconclusive(f"normalisation of {_name(c, caps.condition)}: {pair}"))
            continue
        coarse, fine = pair
        _check_total(caps.likelihood, fine.total,
                     f"{_name(c, caps.condition)} (box {_box(low, high)}, "
                     f"{fine.size}^{dims} points)", "integral")
        grids[str(c)] = pair
    if caps.likelihood is not Likelihood.EXACT:
        return
    if caps.condition is None or caps.condition.required or "None" not in grids:
        pair = _quadrature(marginal, low, high, dims, pilot.reshape(2000, dims), model, budget)
        if isinstance(pair, str):
            notes.append(Inconclusive(f"sampler consistency: {pair}"))
            return
        coarse, fine = pair
    else:
        coarse, fine = grids["None"]
    labels = _marginal_labels(model, n)
    text = call_text("sample", n, seed=fixed_seed(2), condition=labels)
    x = guard(PROP, text, model.sample, n, seed=fixed_seed(2), condition=labels)
    pts = x.reshape(n, dims).double()
    inside = ((pts >= low) & (pts < high)).all(1)
    log_px = _marginal_ll(model, x)
    delta = stats.FALSE_ALARM / 3

    def hint() -> str:
        return _continuous_hint(fine, pts[inside], log_px, known)

    # 1. the identity E_{x~p}[r(x) / p(x)] = 1, r uniform on a box around the density's peak
    _check_identity_box(fine, pts, log_px, text, delta, notes, hint)
    # 2. goodness of fit on space cells: quartiles (2-D) or octiles (1-D) of the pilot, per
    #    axis, snapped to lines of the coarse grid (also lines of the fine one), so that every
    #    grid point lies wholly in one cell and the samples are binned by the same edges
    qs = torch.tensor([0.25, 0.5, 0.75] if dims == 2 else [i / 8 for i in range(1, 8)],
                      dtype=torch.float64)
    step = coarse.spacing
    edges = [low[d] + torch.round((torch.quantile(flat[:, d], qs) - low[d]) / step[d]) * step[d]
             for d in range(dims)]
    per_axis = len(qs) + 1
    at_samples = torch.zeros(n, dtype=torch.int64)
    for d in range(dims):
        at_samples = at_samples * per_axis + torch.bucketize(pts[:, d].contiguous(), edges[d])
    _fit_cells(f"{per_axis ** dims} cells of a grid over the quartiles of a pilot sample",
               per_axis**dims, coarse.axis_cells(edges), fine.axis_cells(edges), coarse, fine,
               torch.where(inside, at_samples, per_axis**dims), text, delta, hint)
    # 3. the distribution of log p(X): soft level sets (smooth, so quadrature stays accurate)
    _fit_levels(_marginal_ll(model, pilot), log_px, coarse, fine, text, delta, hint)


def _fit_levels(
    pilot_log_p: torch.Tensor, log_px: torch.Tensor, coarse: stats.Grid, fine: stats.Grid,
    text: str, delta: float, hint: Callable[[], str],
) -> None:
    """``E[F_j(log p(X))]`` over the samples against its quadrature, for soft steps
    ``F_j(l) = sigmoid((l - t_j) / s)`` at the octiles t_j of log p on a pilot sample.

    A sampler whose spread or location differs from what the likelihood says moves the
    distribution of ``log p(X)``; smooth steps (unlike indicator cells, whose edges cut through
    grid cells) keep the quadrature error small, and ``F`` in [0, 1] has variance at most
    ``E F (1 - E F)`` for Bernstein. The seven tests share ``delta``.
    """
    finite = pilot_log_p[torch.isfinite(pilot_log_p)]
    if finite.numel() < 10:
        return
    levels = torch.quantile(finite, torch.arange(1, 8, dtype=torch.float64) / 8)
    scale = max(float(levels[-1] - levels[0]) / 12, 1e-3)
    n = log_px.numel()
    for t in levels.tolist():

        def soft(log_p: torch.Tensor, t: float = t) -> torch.Tensor:
            return torch.sigmoid((log_p.double() - t) / scale).nan_to_num(0.0)

        want = float((fine.mass * soft(fine.log_p)).sum())
        rough = float((coarse.mass * soft(coarse.log_p)).sum())
        got = float(soft(log_px).mean())
        p = min(max(want, 0.0), 1.0)
        radius = stats.bernstein_radius(n, p * (1 - p), 1.0, delta / len(levels))
        allowed = radius + abs(want - rough) + 1e-3
        if not abs(got - want) <= allowed:
            fail(PROP, f"the samples' log-likelihoods are not distributed as exp(log_likelihood) "
                       f"says: the mean of sigmoid((log p(x) - {t:.3f}) / {scale:.3f}) is "
                       f"{got:.4f} over {n} samples but {want:.4f} by quadrature (allowed "
                       f"deviation {allowed:.4f}, false alarm {delta:.2g}); {hint()}",
                 reproduction=f"x = {text}; torch.sigmoid((model.log_likelihood(x) - {t:.3f}) / "
                              f"{scale:.3f}).mean()", n=n, seed=fixed_seed(2))


def _fit_cells(
    what: str, cells: int, coarse_cell: torch.Tensor, fine_cell: torch.Tensor,
    coarse: stats.Grid, fine: stats.Grid, sample_cell: torch.Tensor, text: str, delta: float,
    hint: Callable[[], str],
) -> None:
    """Sample frequencies of ``cells`` cells (+1 for outside the box) against their probability
    by quadrature; the difference between the two resolutions is the quadrature slack."""

    def mass(cell: torch.Tensor, g: stats.Grid) -> torch.Tensor:
        out = torch.zeros(cells + 1, dtype=torch.float64)
        out.index_add_(0, cell, g.mass)
        out[cells] = max(0.0, 1.0 - g.total)  # outside the box
        return out

    prob, rough = mass(fine_cell, fine), mass(coarse_cell, coarse)
    counts = torch.bincount(sample_cell, minlength=cells + 1)
    fit = stats.cell_fit(counts, prob, delta=delta, slack=(prob - rough).abs() + 1e-3)
    if not fit.passed:
        where = "outside the box" if fit.cell == cells else f"{fit.describe()}"
        fail(PROP, f"sample frequencies do not match the integral of exp(log_likelihood) over "
                   f"{what} (goodness of fit, false alarm {delta:.2g}): {where}; {hint()}",
             reproduction=f"x = {text}; compare cell frequencies with the quadrature of "
                          "model.log_likelihood(grid).exp()", n=counts.sum().item(),
             seed=fixed_seed(2))


def _quadrature(
    log_density: Callable[[torch.Tensor], torch.Tensor], low: torch.Tensor, high: torch.Tensor,
    dims: int, peak: torch.Tensor, model: GenerativeModel, budget: float | None,
) -> tuple[stats.Grid, stats.Grid] | str:
    """Two resolutions of the midpoint rule that agree (coarse, fine), refining while they do not;
    or why the integral is inconclusive.

    Agreement alone can mislead: a grid whose points all miss narrow peaks sums to about 0 at
    every resolution. So the fine grid must also resolve the density where the model's own
    samples lie: ``exp(log p) * cell volume`` at the pilot samples ``peak`` (their points) must
    stay under :data:`QUADRATURE_CELL_MASS`, i.e. no cell may hold a large share of the mass.

    With a ``budget``, the network evaluations a point costs are counted on the coarsest grid
    (``model``'s declared networks), and a finer resolution projected to cost more than
    ``budget`` is not started: the integral is then inconclusive, saying so.
    """
    top = float(log_density(peak).double().max()) if peak.numel() else -math.inf
    first = QUADRATURE_POINTS[dims][0]
    coarse, per_point = _counted_grid(log_density, low, high, first, model, budget)
    totals = [f"{coarse.size}^{dims}: {coarse.total:.4f}"]
    for size in QUADRATURE_POINTS[dims][1:]:
        if budget is not None and per_point * size**dims > budget:
            return (f"the next quadrature, on {size}^{dims} points, would take about "
                    f"{per_point * size**dims:,.0f} network evaluations ({per_point:,.0f} a "
                    f"point), over the {budget:,.0f} one resolution may cost outside the "
                    f"'thorough' profile, and the grids so far do not settle it "
                    f"({', '.join(totals)}); run the profile 'thorough' to integrate it")
        fine = stats.grid(log_density, low, high, size)
        totals.append(f"{size}^{dims}: {fine.total:.4f}")
        cell = math.exp(min(top, 700.0)) * float(fine.spacing.prod())
        if abs(fine.total - coarse.total) <= QUADRATURE_AGREEMENT and cell <= QUADRATURE_CELL_MASS:
            return coarse, fine
        coarse = fine
    cell = math.exp(min(top, 700.0)) * float(coarse.spacing.prod())
    if cell > QUADRATURE_CELL_MASS:
        return (f"quadrature on {coarse.size}^{dims} points cannot resolve the density: at the "
                f"model's own samples it reaches {math.exp(min(top, 700.0)):.3g}, so one grid "
                f"cell would hold {'all' if cell >= 1 else f'{cell:.3g}'} of the mass (at most "
                f"{QUADRATURE_CELL_MASS} resolves it; the grid gives {coarse.total:.4f}): the "
                "density is too peaked for the grid, so the integral is inconclusive")
    return (f"quadrature on {coarse.size}^{dims} points still moves ({coarse.total:.4f}): the "
            "density is too peaked for the grid, so the integral is inconclusive")


def _counted_grid(
    log_density: Callable[[torch.Tensor], torch.Tensor], low: torch.Tensor, high: torch.Tensor,
    size: int, model: GenerativeModel, budget: float | None,
) -> tuple[stats.Grid, float]:
    """The grid of ``size`` points an axis, and the network evaluations each point cost (0 when
    there is no budget, or the model declares no networks the engine can count)."""
    if budget is None or not isinstance(model, Model) or not model.networks():
        return stats.grid(log_density, low, high, size), 0.0
    from genproto.sampling import EvaluationCounter

    with EvaluationCounter(model.networks()) as counter:
        g = stats.grid(log_density, low, high, size)
        counter.settle(g.points.shape[0])
    return g, counter.evaluations_per_sample


def _box(low: torch.Tensor, high: torch.Tensor) -> str:
    return " x ".join(f"[{a:.2f}, {b:.2f}]" for a, b in zip(low.tolist(), high.tolist(),
                                                            strict=True))


def _peak_box(fine: stats.Grid) -> tuple[list[tuple[float, float]], float] | None:
    """The largest square (cube) of grid cells around the density's peak on which the density
    stays above a quarter of its peak: its sides and the smallest density on it."""
    dims, size = fine.low.numel(), fine.size
    dens = (fine.mass / float(fine.spacing.prod())).reshape((size,) * dims)
    top = float(dens.max())
    if not (math.isfinite(top) and top > 0):
        return None
    flat, center = int(dens.argmax()), list[int]()
    for _ in range(dims):
        flat, index = divmod(flat, size)
        center.insert(0, index)

    def block(r: int) -> torch.Tensor | None:
        if any(c - r < 0 or c + r >= size for c in center):
            return None
        return dens[tuple(slice(c - r, c + r + 1) for c in center)]

    r = 0
    while (grown := block(r + 1)) is not None and float(grown.min()) >= top / 4:
        r += 1
    inner = dens[tuple(slice(c - r, c + r + 1) for c in center)]
    step = fine.spacing.tolist()
    low = fine.low.tolist()
    sides = [(low[d] + (c - r) * step[d], low[d] + (c + r + 1) * step[d])
             for d, c in enumerate(center)]
    return sides, float(inner.min())


def _check_identity_box(
    fine: stats.Grid, pts: torch.Tensor, log_px: torch.Tensor, text: str, delta: float,
    notes: list[str], hint: Callable[[], str],
) -> None:
    """``E_{x~p}[1_B(x) / (|B| p(x))] = 1`` for r uniform on a box B around the density's peak.

    B is the largest square of grid cells around the peak on which p stays above a quarter of the
    peak, so the weight is at most ``M = 1 / (|B| min_B p)``; the minimum is taken on the grid and
    halved for safety (the one assumption: p does not dip below half its grid minimum inside B),
    and M is raised to the largest weight seen. Bernstein, with variance at most M.
    """
    found = _peak_box(fine)
    if found is None:
        notes.append(Inconclusive("identity E[r/p] = 1: no positive density on the grid"))
        return
    sides, low_p = found
    volume = math.prod(b - a for a, b in sides)
    lo = torch.tensor([a for a, _ in sides], dtype=torch.float64)
    hi = torch.tensor([b for _, b in sides], dtype=torch.float64)
    inside = ((pts >= lo) & (pts < hi)).all(1)
    weights = torch.where(inside, (-log_px).exp() / volume, torch.zeros_like(log_px))
    big_m = max(2.0 / (volume * low_p), float(weights.max()))
    if not math.isfinite(big_m):
        notes.append(Inconclusive("identity E[r/p] = 1: the density vanishes inside the box"))
        return
    n = weights.numel()
    mean = float(weights.mean())
    radius = stats.bernstein_radius(n, big_m, max(1.0, big_m - 1), delta)
    if abs(mean - 1) > radius:
        box = " x ".join(f"[{a:.3f}, {b:.3f})" for a, b in sides)
        fail(PROP, f"E_x~p[r(x)/p(x)] = 1 fails for r uniform on the box {box}: the mean over "
                   f"{n} samples is {mean:.4f} (allowed 1 +- {radius:.4f}, false alarm "
                   f"{delta:.2g}): exp(log_likelihood) and the samples disagree; {hint()}",
             reproduction=f"x = {text}; (1_B(x) / (|B| * model.log_likelihood(x).exp())).mean()",
             n=n, seed=fixed_seed(2))


# -- how samples and likelihood differ ------------------------------------------------------------


def _which_side(known: bool) -> str:
    if known:
        return ("exp(log_likelihood) matched exact_log_prob on the model's samples, so the "
                "sampler is the side that is off")
    return ("either side may be off (with exact_log_prob= the suite can tell: a likelihood that "
            "matches it leaves the sampler)")


def _concentration(got: float, spread: float, expected: float) -> str:
    """The samples' mean log-likelihood against ``E_p[log p]`` (minus the entropy) under p."""
    text = (f"the samples' mean log-likelihood is {got:.3f} +- {2 * spread:.3f} nats, "
            f"E_p[log p] = {expected:.3f} by exp(log_likelihood)")
    if got - expected > 2 * spread:
        return (f"{text}: the samples crowd where the likelihood is high (a sampler too sharp, "
                "e.g. at temperature < 1, or a likelihood too flat)")
    if expected - got > 2 * spread:
        return (f"{text}: the samples spread where the likelihood is low (a sampler too wide, "
                "or a likelihood too narrow)")
    return text


def _vector(values: torch.Tensor) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values.tolist()) + ")"


def _discrete_hint(
    events: torch.Tensor, lp: torch.Tensor, x: torch.Tensor, index: torch.Tensor, known: bool
) -> str:
    """How the samples differ from exp(log_likelihood) on an enumerated space."""
    prob = lp.exp()
    support = prob > 0
    expected = float((prob[support] * lp[support]).sum())
    at = lp[index]
    spread = float(at.std()) / math.sqrt(at.numel()) if at.numel() > 1 else 0.0
    parts = ["how they differ: " + _concentration(float(at.mean()), spread, expected)]
    flat = events.reshape(events.shape[0], -1).double()
    if flat.shape[1] <= 4:
        implied = (prob[:, None] * flat).sum(0)
        seen = x.reshape(x.shape[0], -1).double().mean(0)
        parts.append(f"mean level per position {_vector(seen)} in the samples, "
                     f"{_vector(implied)} by exp(log_likelihood)")
    parts.append(_which_side(known))
    return "; ".join(parts)


def _continuous_hint(
    fine: stats.Grid, inside: torch.Tensor, log_px: torch.Tensor, known: bool
) -> str:
    """How the samples differ from exp(log_likelihood): mean and spread per axis (samples inside
    the quadrature box against the density on it) and the mean log-likelihood."""
    mass = fine.mass.nan_to_num(0.0)
    total = float(mass.sum())
    if not total > 0 or inside.shape[0] < 2:
        return _which_side(known)
    w = mass / total
    points = fine.points.double()
    mean = (w[:, None] * points).sum(0)
    std = (w[:, None] * (points - mean) ** 2).sum(0).sqrt()
    seen_mean, seen_std = inside.mean(0), inside.std(0)
    ratio = float((seen_std / std.clamp_min(1e-12)).mean())
    finite = torch.isfinite(fine.log_p)
    expected = float((w[finite] * fine.log_p[finite]).sum())
    spread = float(log_px.std()) / math.sqrt(log_px.numel())
    parts = [
        f"how they differ: the samples have mean {_vector(seen_mean)} and std "
        f"{_vector(seen_std)} per axis, exp(log_likelihood) implies mean {_vector(mean)} and std "
        f"{_vector(std)} ({ratio:.2f}x the spread)",
        _concentration(float(log_px.mean()), spread, expected),
        _which_side(known),
    ]
    return "; ".join(parts)


# -- known densities and importance samples ---------------------------------------------------


def _check_known(
    model: GenerativeModel, exact_log_prob: Callable[[torch.Tensor], torch.Tensor],
    notes: list[str],
) -> bool:
    """Against the author's closed form: exact equal, a bound below on average, an estimate near.

    Returns whether an exact likelihood was found equal to it (then a disagreement with the
    samples is the sampler's fault)."""
    caps = model.capabilities
    if caps.condition is not None and caps.condition.required:
        notes.append("known density: the marginal of a model with a required condition is "
                     "not one log_likelihood call")
        return False
    n = 1000
    labels = _marginal_labels(model, n)
    text = call_text("sample", n, seed=fixed_seed(3), condition=labels)
    x = guard(PROP, text, model.sample, n, seed=fixed_seed(3), condition=labels)
    ours = _ll(model, x, None).double()
    truth = exact_log_prob(x.clone()).double()
    diff = ours - truth
    kind = caps.likelihood
    repro = f"x = {text}; model.log_likelihood(x) - exact_log_prob(x)"
    if kind is Likelihood.EXACT:
        worst = float((diff.abs() / (1 + truth.abs())).max())
        if worst > 1e-3:
            row = int((diff.abs() / (1 + truth.abs())).argmax())
            fail(PROP, f"the exact log-likelihood differs from the known density by up to "
                       f"{float(diff.abs().max()):.4g} nats (row {row}: {float(ours[row]):.4f} "
                       f"vs exact_log_prob {float(truth[row]):.4f}): log_likelihood is the side "
                       "that is off (on the model's own samples)", reproduction=repro,
                 n=n, seed=fixed_seed(3))
        return True
    elif kind is Likelihood.BOUND:
        mean, spread = float(diff.mean()), float(diff.std())
        margin = stats.normal_quantile(1 - _DELTA) * spread / math.sqrt(n) + 1e-4
        if mean > margin:
            fail(PROP, f"the bound lies above the known exact log-density by {mean:.4f} nats on "
                       f"average over {n} samples (allowed {margin:.4f}, normal approximation, "
                       f"false alarm {_DELTA:g}): a lower bound must not exceed log p",
                 reproduction=repro, n=n, seed=fixed_seed(3))
    elif abs(float(diff.mean())) > ESTIMATE_TOL:
        fail(PROP, f"the estimate is {float(diff.mean()):+.4f} nats from the known density on "
                   f"average (allowed {ESTIMATE_TOL})", reproduction=repro,
             n=n, seed=fixed_seed(3))
    return False


def _check_importance(model: GenerativeModel, notes: list[str]) -> None:
    """IWAE_k is non-decreasing in k on average: more importance samples, a tighter bound."""
    if not isinstance(model, Model):
        return
    option = next((o for o in model.likelihood_options
                   if o.name in IMPORTANCE_OPTIONS and o.type is int), None)
    if option is None or not isinstance(option.default, int):
        notes.append("tighter bound: no importance-sample option "
                     f"({', '.join(IMPORTANCE_OPTIONS)}) declared")
        return
    k0 = option.default
    k1 = max(4 * k0, 8)
    if option.maximum is not None:
        k1 = min(k1, int(option.maximum))
    if k1 <= k0:
        notes.append(f"tighter bound: option {option.name!r} cannot go above {k0}")
        return
    n = 500
    cond = default_condition(model.capabilities)
    text = call_text("sample", n, seed=fixed_seed(4), condition=cond)
    x = guard(PROP, text, model.sample, n, seed=fixed_seed(4), condition=cond)
    fewer: dict[str, Any] = {option.name: k0}
    more: dict[str, Any] = {option.name: k1}
    loose = _ll(model, x, cond, **fewer).double()
    tight = _ll(model, x, cond, **more).double()
    gain = tight - loose
    mean, spread = float(gain.mean()), float(gain.std())
    margin = stats.normal_quantile(1 - _DELTA) * spread / math.sqrt(n) + 1e-4
    if mean < -margin:
        fail(PROP, f"the bound with {option.name}={k1} is below the bound with "
                   f"{option.name}={k0} by {-mean:.4f} nats on average (allowed {margin:.4f}): "
                   "more importance samples must not loosen a bound",
             reproduction=f"x = {text}; model.log_likelihood(x, {option.name}={k1}).mean() - "
                          f"model.log_likelihood(x, {option.name}={k0}).mean()",
             n=n, seed=fixed_seed(4))
