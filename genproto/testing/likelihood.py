"""Likelihood honesty: ``log_likelihood`` means what ``capabilities.likelihood`` declares.

===========  ====================================================================================
declared     checked
===========  ====================================================================================
every kind   per-sample nats of shape (N,), finite on the model's own samples, at most 0 on a
             discrete space (a probability is at most 1); reproducible for a seed and
             independent of ``batch_size``
exact        normalised: over every event of a small discrete space ``logsumexp = 0`` (per class
             and for the class marginal); on a 1-D or 2-D continuous space the integral of
             ``exp(log p)`` is 1 (midpoint quadrature at two resolutions that must agree);
             consistent with the sampler: the identity ``E_{x~p}[r(x)/p(x)] = 1`` for a known
             density r (uniform on the support, or on a box of high density), and a
             goodness-of-fit test of the sample frequencies of cells against their probabilities;
             equal to the author's known density (``exact_log_prob``) where given
bound        ``sum exp(bound) <= 1`` (discrete) or ``integral exp(bound) <= 1`` (continuous);
             on average not above the known density where given (``exact_log_prob``, e.g. a
             toy2d density); on average not above the same bound with more importance samples
none         ``log_likelihood`` raises ``LikelihoodUnavailable``
===========  ====================================================================================

(``estimate`` gets the shared checks, a normalisation within :data:`ESTIMATE_MASS_TOL` and a
mean within :data:`ESTIMATE_TOL` nats of ``exact_log_prob`` where given.)

Normalisation needs a space small enough to sum or integrate: at most :data:`MAX_EVENTS` discrete
events or :data:`MAX_QUADRATURE_DIMS` continuous dimensions. A model whose own space is larger
(8x8 digits) gets the checks on its tiny configuration (``tiny=``); without one, the sub-check is
reported as skipped with that reason. Statistical sub-checks draw from fixed seeds with a false-
alarm rate of at most :data:`~genproto.testing.stats.FALSE_ALARM` for the property as a whole
(see :mod:`genproto.testing.stats` for the bounds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from genproto.errors import LikelihoodUnavailable
from genproto.model import Model
from genproto.protocol import Condition, EventKind, GenerativeModel, Likelihood
from genproto.testing import stats
from genproto.testing import strategies as gs
from genproto.testing._core import ModelSource, Notes, X, call_text, fail, guard, resolve
from genproto.testing.properties import FIXED_SEED, default_condition

__all__ = [
    "BOUND_MASS_SLACK",
    "ESTIMATE_MASS_TOL",
    "ESTIMATE_TOL",
    "EXACT_LSE_TOL",
    "EXACT_MASS_TOL",
    "IMPORTANCE_OPTIONS",
    "MAX_EVENTS",
    "MAX_QUADRATURE_DIMS",
    "check_likelihood",
]

PROP = "likelihood"

#: Largest discrete space that is enumerated (``levels ** dimension``).
MAX_EVENTS = 4096
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
#: Two quadrature resolutions must agree this well, else the integral is inconclusive (skipped).
QUADRATURE_AGREEMENT = 0.005
#: Points per axis of the quadrature resolutions, by dimension: the first two that agree count.
QUADRATURE_POINTS = {1: (512, 1024, 2048, 4096), 2: (48, 96, 192)}
#: Names of an int likelihood option that sets the number of importance samples (IWAE's k).
IMPORTANCE_OPTIONS = ("k", "samples", "importance_samples", "num_samples", "particles")

#: Samples drawn for the statistical sub-checks.
STAT_SAMPLES = 4000
#: Split of the property's false-alarm rate over its statistical sub-checks.
_DELTA = stats.FALSE_ALARM / 2


def _ll(
    model: GenerativeModel, x: torch.Tensor, condition: Condition, **options: Any
) -> torch.Tensor:
    """Guarded ``log_likelihood`` on a copy of ``x`` (a mutating model must not spoil the check)."""
    text = call_text("log_likelihood", x, condition=condition, **options)
    if isinstance(model, Model) and "batch_size" not in options:
        options = {**options, "batch_size": 8192}  # fewer, larger batches: same values
    out = guard(PROP, text, model.log_likelihood, x.clone(), condition=condition, **options)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (x.shape[0],):
        shown = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        fail(PROP, f"{text} returned {shown}; expected one value per row, shape ({x.shape[0]},)",
             reproduction=text)
    if not out.is_floating_point():
        fail(PROP, f"{text} returned dtype {out.dtype}; log-likelihoods are floats (nats)",
             reproduction=text)
    return out


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
    text = call_text("sample", 16, seed=FIXED_SEED, condition=cond)
    x = guard(PROP, text, model.sample, 16, seed=FIXED_SEED, condition=cond)
    if caps.likelihood is Likelihood.NONE:
        _check_none(model, x, cond, text)
        return ("likelihood is none: checked only that log_likelihood raises "
                "LikelihoodUnavailable",)
    _check_values(model, x, cond, text)
    subject = resolve(tiny)[0] if tiny is not None else model
    if subject.capabilities.likelihood is not caps.likelihood:
        fail(PROP, f"the tiny configuration declares likelihood "
                   f"{subject.capabilities.likelihood.value!r}, the model "
                   f"{caps.likelihood.value!r}")
    notes: list[str] = []
    event = subject.capabilities.event
    if event.kind is EventKind.DISCRETE and (event.levels or 0) ** event.dimension <= MAX_EVENTS:
        _check_discrete(subject, notes)
    elif event.kind is EventKind.CONTINUOUS and event.dimension <= MAX_QUADRATURE_DIMS:
        _check_continuous(subject, notes)
    else:
        size = (f"{event.levels}^{event.dimension} events" if event.kind is EventKind.DISCRETE
                else f"{event.dimension} continuous dimensions")
        notes.append(f"normalisation and sampler consistency: the event space ({size}) is too "
                     f"large to sum or integrate (limits: {MAX_EVENTS} discrete events, "
                     f"{MAX_QUADRATURE_DIMS} continuous dimensions); pass tiny= a small "
                     "configuration")
    if exact_log_prob is not None:
        _check_known(subject, exact_log_prob, notes)
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


def _check_values(model: GenerativeModel, x: torch.Tensor, cond: Condition, text: str) -> None:
    caps = model.capabilities
    values = _ll(model, x, cond)
    call = call_text("log_likelihood", X, condition=cond)
    repro = f"x = {text}; {call}"
    if bool(torch.isnan(values).any()) or bool(torch.isposinf(values).any()):
        fail(PROP, f"{call} returned NaN or +inf on the model's own samples", reproduction=repro)
    if bool(torch.isneginf(values).any()):
        row = int(torch.isneginf(values).nonzero()[0, 0])
        fail(PROP, f"the model sampled row {row}, to which its own likelihood gives probability "
                   "0 (log-likelihood -inf)", reproduction=repro)
    if caps.event.kind is EventKind.DISCRETE and caps.likelihood is not Likelihood.ESTIMATE:
        top = float(values.max())
        if top > EXACT_LSE_TOL:
            fail(PROP, f"a {caps.likelihood.value} log-likelihood of a discrete event is "
                       f"{top:.4f} > 0 nats: a probability above 1", reproduction=repro)
    if not isinstance(model, Model):
        return
    again = _ll(model, x, cond, seed=0)
    if not torch.equal(_ll(model, x, cond, seed=0), again):
        fail(PROP, f"{call_text('log_likelihood', X, condition=cond, seed=0)} is not "
                   "reproducible: estimators must draw from the keyed streams of (seed, row)",
             reproduction=repro)
    single = _ll(model, x, cond, seed=0, batch_size=1)
    if not torch.allclose(single.double(), again.double(), rtol=1e-4, atol=1e-4):
        diff = float((single.double() - again.double()).abs().max())
        fail(PROP, f"log_likelihood depends on batch_size (batch_size=1 vs automatic differ by "
                   f"up to {diff:.3g} nats)",
             reproduction=f"x = {text}; "
                          f"{call_text('log_likelihood', X, condition=cond, batch_size=1)} vs "
                          f"{call_text('log_likelihood', X, condition=cond)}")


def _conditions(model: GenerativeModel) -> list[Condition]:
    """Conditions whose normalisation is checked: every class (up to 10) and the marginal."""
    spec = model.capabilities.condition
    if spec is None:
        return [None]
    out: list[Condition] = list(range(min(spec.num_classes, 10)))
    if not spec.required:
        out.append(None)
    return out


def _marginal_labels(model: GenerativeModel, n: int) -> Condition:
    """Labels that draw from the uniform class marginal (stratified when a class is required)."""
    spec = model.capabilities.condition
    if spec is None or not spec.required:
        return None
    return torch.arange(n) % spec.num_classes


def _marginal_ll(model: GenerativeModel, x: torch.Tensor) -> torch.Tensor:
    """log of the uniform class marginal, ``log (1/C) sum_c p(x|c)`` (``p(x)`` if unconditional)."""
    spec = model.capabilities.condition
    if spec is None or not spec.required:
        return _ll(model, x, None).double()
    per_class = torch.stack([_ll(model, x, c).double() for c in range(spec.num_classes)])
    return torch.logsumexp(per_class, dim=0) - math.log(spec.num_classes)


def _name(condition: Condition) -> str:
    return "the class marginal" if condition is None else f"class {condition}"


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


def _check_discrete(model: GenerativeModel, notes: list[str]) -> None:
    caps = model.capabilities
    event = caps.event
    levels = event.levels or 2
    events = stats.enumerate_events(event.shape, levels)  # (K, *shape)
    k = events.shape[0]
    for c in _conditions(model):
        lp = _ll(model, events, c).double()
        total = float(torch.logsumexp(lp, 0).exp())
        _check_total(caps.likelihood, total, f"all {k} events of {_name(c)}", "sum")
    if caps.likelihood is not Likelihood.EXACT:
        return
    # sampler consistency, on the class marginal
    lp = _marginal_ll(model, events)  # (K,)
    n = STAT_SAMPLES
    labels = _marginal_labels(model, n)
    text = call_text("sample", n, seed=FIXED_SEED, condition=labels)
    x = guard(PROP, text, model.sample, n, seed=FIXED_SEED, condition=labels)
    powers = levels ** torch.arange(event.dimension - 1, -1, -1, dtype=torch.int64)
    index = (x.reshape(n, -1).long() * powers).sum(1)  # (n,) event number of each sample
    counts = torch.bincount(index, minlength=k)
    prob = lp.exp()
    if bool((prob[index] == 0).any()):
        fail(PROP, "the sampler drew an event whose exact likelihood is 0", reproduction=text)
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
                   f"false alarm {_DELTA:g}): the samples do not follow exp(log_likelihood)",
             reproduction=f"x = {text}; (1 / (K * model.log_likelihood(x).exp())).mean()",
             n=n, seed=FIXED_SEED)
    # 2. goodness of fit, every event a cell
    fit = stats.cell_fit(counts, prob, delta=_DELTA, slack=None)
    if not fit.passed:
        shown = events[fit.cell].tolist()
        fail(PROP, f"sample frequencies do not match exp(log_likelihood) (goodness of fit over "
                   f"{k} events, false alarm {_DELTA:g}): event {shown}: {fit.describe()}",
             reproduction=f"x = {text}; compare event frequencies with "
                          "model.log_likelihood(every_event).exp()", n=n, seed=FIXED_SEED)


# -- 1-D and 2-D continuous spaces ------------------------------------------------------------


def _check_continuous(model: GenerativeModel, notes: list[str]) -> None:
    caps = model.capabilities
    event = caps.event
    dims = event.dimension
    n = STAT_SAMPLES
    labels = _marginal_labels(model, 2000)
    pilot_text = call_text("sample", 2000, seed=FIXED_SEED + 1, condition=labels)
    pilot = guard(PROP, pilot_text, model.sample, 2000, seed=FIXED_SEED + 1, condition=labels)
    flat = pilot.reshape(2000, dims).double()
    lo, hi = torch.quantile(flat, 0.001, dim=0), torch.quantile(flat, 0.999, dim=0)
    width = (hi - lo).clamp_min(1e-3)
    low, high = lo - width / 2, hi + width / 2

    def density(c: Condition) -> Callable[[torch.Tensor], torch.Tensor]:
        def log_p(points: torch.Tensor) -> torch.Tensor:
            return _ll(model, points.reshape(-1, *event.shape), c)
        return log_p

    def marginal(points: torch.Tensor) -> torch.Tensor:
        return _marginal_ll(model, points.reshape(-1, *event.shape))

    grids: dict[str, tuple[stats.Grid, stats.Grid]] = {}
    for c in _conditions(model):
        pair = _quadrature(density(c), low, high, dims)
        if isinstance(pair, str):
            notes.append(f"normalisation of {_name(c)}: {pair}")
            continue
        coarse, fine = pair
        _check_total(caps.likelihood, fine.total,
                     f"{_name(c)} (box {_box(low, high)}, {fine.size}^{dims} points)", "integral")
        grids[str(c)] = pair
    if caps.likelihood is not Likelihood.EXACT:
        return
    if caps.condition is None or caps.condition.required or "None" not in grids:
        pair = _quadrature(marginal, low, high, dims)
        if isinstance(pair, str):
            notes.append(f"sampler consistency: {pair}")
            return
        coarse, fine = pair
    else:
        coarse, fine = grids["None"]
    labels = _marginal_labels(model, n)
    text = call_text("sample", n, seed=FIXED_SEED + 2, condition=labels)
    x = guard(PROP, text, model.sample, n, seed=FIXED_SEED + 2, condition=labels)
    pts = x.reshape(n, dims).double()
    inside = ((pts >= low) & (pts < high)).all(1)
    log_px = _marginal_ll(model, x)
    delta = stats.FALSE_ALARM / 3
    # 1. the identity E_{x~p}[r(x) / p(x)] = 1, r uniform on a box around the density's peak
    _check_identity_box(fine, pts, log_px, text, delta, notes)
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
               torch.where(inside, at_samples, per_axis**dims), text, delta)
    # 3. the distribution of log p(X): soft level sets (smooth, so quadrature stays accurate)
    _fit_levels(_marginal_ll(model, pilot), log_px, coarse, fine, text, delta)


def _fit_levels(
    pilot_log_p: torch.Tensor, log_px: torch.Tensor, coarse: stats.Grid, fine: stats.Grid,
    text: str, delta: float,
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
                       f"deviation {allowed:.4f}, false alarm {delta:.2g})",
                 reproduction=f"x = {text}; torch.sigmoid((model.log_likelihood(x) - {t:.3f}) / "
                              f"{scale:.3f}).mean()", n=n, seed=FIXED_SEED + 2)


def _fit_cells(
    what: str, cells: int, coarse_cell: torch.Tensor, fine_cell: torch.Tensor,
    coarse: stats.Grid, fine: stats.Grid, sample_cell: torch.Tensor, text: str, delta: float,
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
                   f"{what} (goodness of fit, false alarm {delta:.2g}): {where}",
             reproduction=f"x = {text}; compare cell frequencies with the quadrature of "
                          "model.log_likelihood(grid).exp()", n=counts.sum().item(),
             seed=FIXED_SEED + 2)


def _quadrature(
    log_density: Callable[[torch.Tensor], torch.Tensor], low: torch.Tensor, high: torch.Tensor,
    dims: int,
) -> tuple[stats.Grid, stats.Grid] | str:
    """Two resolutions of the midpoint rule that agree (coarse, fine), refining while they do not;
    or why the integral is inconclusive."""
    coarse = stats.grid(log_density, low, high, QUADRATURE_POINTS[dims][0])
    for size in QUADRATURE_POINTS[dims][1:]:
        fine = stats.grid(log_density, low, high, size)
        if abs(fine.total - coarse.total) <= QUADRATURE_AGREEMENT:
            return coarse, fine
        coarse = fine
    return (f"quadrature on {coarse.size}^{dims} points still moves ({coarse.total:.4f}): the "
            "density is too peaked for the grid, so the integral is inconclusive")


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
    notes: list[str],
) -> None:
    """``E_{x~p}[1_B(x) / (|B| p(x))] = 1`` for r uniform on a box B around the density's peak.

    B is the largest square of grid cells around the peak on which p stays above a quarter of the
    peak, so the weight is at most ``M = 1 / (|B| min_B p)``; the minimum is taken on the grid and
    halved for safety (the one assumption: p does not dip below half its grid minimum inside B),
    and M is raised to the largest weight seen. Bernstein, with variance at most M.
    """
    found = _peak_box(fine)
    if found is None:
        notes.append("identity E[r/p] = 1: no positive density on the grid")
        return
    sides, low_p = found
    volume = math.prod(b - a for a, b in sides)
    lo = torch.tensor([a for a, _ in sides], dtype=torch.float64)
    hi = torch.tensor([b for _, b in sides], dtype=torch.float64)
    inside = ((pts >= lo) & (pts < hi)).all(1)
    weights = torch.where(inside, (-log_px).exp() / volume, torch.zeros_like(log_px))
    big_m = max(2.0 / (volume * low_p), float(weights.max()))
    if not math.isfinite(big_m):
        notes.append("identity E[r/p] = 1: the density vanishes inside the box")
        return
    n = weights.numel()
    mean = float(weights.mean())
    radius = stats.bernstein_radius(n, big_m, max(1.0, big_m - 1), delta)
    if abs(mean - 1) > radius:
        box = " x ".join(f"[{a:.3f}, {b:.3f})" for a, b in sides)
        fail(PROP, f"E_x~p[r(x)/p(x)] = 1 fails for r uniform on the box {box}: the mean over "
                   f"{n} samples is {mean:.4f} (allowed 1 +- {radius:.4f}, false alarm "
                   f"{delta:.2g}): exp(log_likelihood) and the samples disagree",
             reproduction=f"x = {text}; (1_B(x) / (|B| * model.log_likelihood(x).exp())).mean()",
             n=n, seed=FIXED_SEED + 2)


# -- known densities and importance samples ---------------------------------------------------


def _check_known(
    model: GenerativeModel, exact_log_prob: Callable[[torch.Tensor], torch.Tensor],
    notes: list[str],
) -> None:
    """Against the author's closed form: exact equal, a bound below on average, an estimate near."""
    caps = model.capabilities
    if caps.condition is not None and caps.condition.required:
        notes.append("known density: the marginal of a model with a required condition is "
                     "not one log_likelihood call")
        return
    n = 1000
    labels = _marginal_labels(model, n)
    text = call_text("sample", n, seed=FIXED_SEED + 3, condition=labels)
    x = guard(PROP, text, model.sample, n, seed=FIXED_SEED + 3, condition=labels)
    ours = _ll(model, x, None).double()
    truth = exact_log_prob(x.clone()).double()
    diff = ours - truth
    kind = caps.likelihood
    repro = f"x = {text}; model.log_likelihood(x) - exact_log_prob(x)"
    if kind is Likelihood.EXACT:
        worst = float((diff.abs() / (1 + truth.abs())).max())
        if worst > 1e-3:
            fail(PROP, f"the exact log-likelihood differs from the known density by up to "
                       f"{float(diff.abs().max()):.4g} nats", reproduction=repro,
                 n=n, seed=FIXED_SEED + 3)
    elif kind is Likelihood.BOUND:
        mean, spread = float(diff.mean()), float(diff.std())
        margin = stats.normal_quantile(1 - _DELTA) * spread / math.sqrt(n) + 1e-4
        if mean > margin:
            fail(PROP, f"the bound lies above the known exact log-density by {mean:.4f} nats on "
                       f"average over {n} samples (allowed {margin:.4f}, normal approximation, "
                       f"false alarm {_DELTA:g}): a lower bound must not exceed log p",
                 reproduction=repro, n=n, seed=FIXED_SEED + 3)
    elif abs(float(diff.mean())) > ESTIMATE_TOL:
        fail(PROP, f"the estimate is {float(diff.mean()):+.4f} nats from the known density on "
                   f"average (allowed {ESTIMATE_TOL})", reproduction=repro,
             n=n, seed=FIXED_SEED + 3)


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
    text = call_text("sample", n, seed=FIXED_SEED + 4, condition=cond)
    x = guard(PROP, text, model.sample, n, seed=FIXED_SEED + 4, condition=cond)
    loose = _ll(model, x, cond, **{option.name: k0}).double()
    tight = _ll(model, x, cond, **{option.name: k1}).double()
    gain = tight - loose
    mean, spread = float(gain.mean()), float(gain.std())
    margin = stats.normal_quantile(1 - _DELTA) * spread / math.sqrt(n) + 1e-4
    if mean < -margin:
        fail(PROP, f"the bound with {option.name}={k1} is below the bound with "
                   f"{option.name}={k0} by {-mean:.4f} nats on average (allowed {margin:.4f}): "
                   "more importance samples must not loosen a bound",
             reproduction=f"x = {text}; model.log_likelihood(x, {option.name}={k1}).mean() - "
                          f"model.log_likelihood(x, {option.name}={k0}).mean()",
             n=n, seed=FIXED_SEED + 4)
