"""The cheatsheet's claims, judged from measurements: the table :data:`CLAIMS` and :func:`judge`.

Each row of :data:`CLAIMS` is a :class:`Rule`: a statement of the cheatsheet about
the models made of exactly some paradigms, and the judge that reads one
:class:`~genproto.compare.records.ModelReport` and says whether the statement
*holds* for it, *does not hold*, or was *not measured*, with the numbers that
decided. Judges compare the protocol's enums (declared ``CostGrowth`` and
``Likelihood``, the ``EventKind``) with what was counted and observed, never
words or classes. **To add a paradigm, a hybrid or a kind of event, edit this
file**: add its rows to :data:`CLAIMS` (a judge factory such as
:func:`likelihood` or :func:`likelihood_by_event` usually fits).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from genproto.compare.records import ModelReport, Outcome, Stage, SweepPoint, num
from genproto.protocol import CostGrowth, EventKind, Likelihood, Paradigm

__all__ = [
    "CLAIMS",
    "COLLAPSE_RATIO",
    "HYBRID_CLAIMS",
    "QUALITY_GAIN",
    "Claim",
    "Judge",
    "Rule",
    "Status",
    "StepCount",
    "Verdict",
    "combine",
    "judge",
    "likelihood",
    "likelihood_by_event",
    "unless_unoffered",
    "mode_collapse",
    "per_step",
    "per_token",
    "quality_with_steps",
    "single_pass",
    "step_growth",
    "steps_plus_decoder",
]

#: A GAN has collapsed when a class is missing or the rarest class is below this
#: fraction of the uniform frequency (the real test split: about 0.97).
COLLAPSE_RATIO = 0.5
#: "Quality improves with steps" when the Frechet distance at the most steps is
#: lower than at the fewest by more than this fraction.
QUALITY_GAIN = 0.10
_EPS = 1e-9


class Status(enum.Enum):
    """The verdict on a claim."""

    HOLDS = "holds"
    DOES_NOT_HOLD = "does not hold"
    NOT_MEASURED = "not measured"


@attrs.frozen
class Claim:
    """One statement of the cheatsheet about one paradigm, judged on the measured numbers.

    Attributes:
        key: a stable identifier, e.g. ``"adversarial.likelihood"``.
        paradigm: the paradigm it is about (a hybrid's: ``"latent_variable + diffusion"``).
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


#: A judge's answer for one model: the status and the evidence (or why it was not measured).
Verdict = tuple[Status, str]
#: Reads one model's report and gives its verdict on one claim.
Judge = Callable[[ModelReport], Verdict]


@attrs.frozen
class Rule:
    """One row of the claims table.

    Attributes:
        key: the claim's stable identifier, ``"<paradigm>.<aspect>"``.
        paradigms: the models judged are those made of exactly these paradigms, in
            this order (a hybrid is judged by its own rows, not by its parts').
        statement: the cheatsheet's claim, in words.
        decide: the judge of one model's report.
    """

    key: str
    paradigms: tuple[Paradigm, ...]
    statement: str
    decide: Judge

    @property
    def label(self) -> str:
        return " + ".join(p.value for p in self.paradigms)


# --- the judges ------------------------------------------------------------------------------


def _verdict(ok: bool, evidence: str) -> Verdict:
    return (Status.HOLDS if ok else Status.DOES_NOT_HOLD), evidence


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= _EPS * max(1.0, abs(b))


def _uncounted(r: ModelReport) -> Verdict | None:
    """Not measured, and why, when the sampler did not count the model's evaluations."""
    if r.counted_evaluations is None:
        return Status.NOT_MEASURED, r.errors[0] if r.errors else "evaluations not counted"
    return None


def _counted_points(r: ModelReport) -> list[SweepPoint]:
    return [p for p in r.sweep if p.counted_evaluations is not None]


def _too_few(r: ModelReport, points: Sequence[SweepPoint], *, at_least: int = 2,
             images: bool = False) -> Verdict | None:
    """Not measured, and why, when fewer than ``at_least`` step counts have the number a
    claim needs (``images``: a Frechet distance, which needs a digits model)."""
    if len(points) >= at_least:
        return None
    if not r.sweep or at_least < 2:
        return Status.NOT_MEASURED, "no 'steps' sample option to vary"
    if images and not r.digits:
        return Status.NOT_MEASURED, "no image metrics for this event space"
    return Status.NOT_MEASURED, "fewer than two step counts were measured"


def _declared_cost(r: ModelReport, detail: str = "") -> str:
    growth = r.declared_growth.value.replace("_", " ")
    return f"declared {r.declared_evaluations} ({growth}{detail})"


def per_token(r: ModelReport) -> Verdict:
    """One evaluation per piece: counted = declared = L, the event's length; for a cost
    declared as a bound (sequences that stop early), 0 < counted <= declared = L."""
    if missing := _uncounted(r):
        return missing
    counted = r.counted_evaluations
    assert counted is not None  # _uncounted checked it
    within = (0 < counted <= r.declared_evaluations * (1 + _EPS) if r.cost_bound
              else _same(counted, r.declared_evaluations))
    ok = (r.declared_growth is CostGrowth.PER_TOKEN and within
          and r.declared_units == r.event_length)
    bound = ", a bound: sequences stop early" if r.cost_bound else ""
    return _verdict(ok, f"counted {num(r.counted_evaluations)} evaluations per sample; "
                        f"{_declared_cost(r, f', L={r.declared_units}{bound}')}; "
                        f"event length {r.event_length}")


def single_pass(r: ModelReport) -> Verdict:
    """One network evaluation per sample, counted and declared."""
    if missing := _uncounted(r):
        return missing
    ok = r.declared_growth is CostGrowth.SINGLE_PASS and _same(r.counted_evaluations, 1.0)
    return _verdict(ok, f"counted {num(r.counted_evaluations)} evaluation(s) per sample; "
                        f"{_declared_cost(r)}")


class StepCount(Protocol):
    """One step count's cost, as a sweep records it (digits or points)."""

    @property
    def steps(self) -> int: ...
    @property
    def counted_evaluations(self) -> float | None: ...
    @property
    def declared_evaluations(self) -> int | None: ...


def per_step(r: ModelReport) -> Verdict:
    """Counted evaluations equal the declared ones at every K and grow linearly, >= 1 a step."""
    points = _counted_points(r)
    if missing := _too_few(r, points):
        return missing
    return step_growth(r.declared_growth, points)


def step_growth(growth: CostGrowth, points: Sequence[StepCount]) -> Verdict:
    """:func:`per_step` on two or more step counts with counted evaluations (ascending K)."""
    matches = all(_same(p.counted_evaluations, p.declared_evaluations) for p in points)
    first, last = points[0], points[-1]
    assert first.counted_evaluations is not None
    assert last.counted_evaluations is not None
    slope = (last.counted_evaluations - first.counted_evaluations) / (last.steps - first.steps)
    linear = slope >= 1 - _EPS and all(
        _same(p.counted_evaluations, first.counted_evaluations + slope * (p.steps - first.steps))
        for p in points)
    ok = growth is CostGrowth.PER_STEP and matches and linear
    counted = ", ".join(num(p.counted_evaluations) for p in points)
    declared = ", ".join(num(p.declared_evaluations) for p in points)
    ks = ", ".join(str(p.steps) for p in points)
    return _verdict(ok, f"counted {counted} evaluations per sample at K = {ks} (declared "
                        f"{declared}; {num(slope)} per step)")


def steps_plus_decoder(r: ModelReport) -> Verdict:
    """K steps of a prior, then one decoder pass: K + 1 evaluations, counted and declared."""
    points = _counted_points(r)
    if missing := _too_few(r, points, at_least=1):
        return missing
    ok = r.declared_growth is CostGrowth.PER_STEP and all(
        _same(p.counted_evaluations, p.steps + 1) and _same(p.declared_evaluations, p.steps + 1)
        for p in points)
    trail = ", ".join(f"{num(p.counted_evaluations)} at K={p.steps}" for p in points)
    declared = ", ".join(num(p.declared_evaluations) for p in points)
    return _verdict(ok, f"counted {trail} (declared {declared})")


def likelihood(*kinds: Likelihood) -> Judge:
    """The declared likelihood is one of ``kinds``, and ``log_likelihood`` behaves as it says:
    values for a density, ``LikelihoodUnavailable`` for ``Likelihood.NONE``."""
    wanted = frozenset(kinds)
    expect_none = wanted == {Likelihood.NONE}

    def judge_one(r: ModelReport) -> Verdict:
        if r.likelihood_outcome in (Outcome.NOT_TRIED, Outcome.ERROR):
            why = r.error_at(Stage.LIKELIHOOD, Stage.BUILD)
            return Status.NOT_MEASURED, why or "log_likelihood was not asked"
        unavailable = r.likelihood_outcome is Outcome.UNAVAILABLE
        if unavailable:
            said = "log_likelihood raised LikelihoodUnavailable"
        else:
            said = "log_likelihood returned finite values"
            if r.bits_per_dim is not None:
                said += (f" ({num(r.bits_per_dim, 4)} bits/dim on the digits test split"
                         f"{_cost(r.likelihood_seconds, r.likelihood_evaluations)})")
        ok = r.likelihood in wanted and unavailable == expect_none
        evidence = f"declared {r.likelihood.value}; {said}"
        for route in r.routes:  # the same weights' other likelihoods keep the claim too
            if route.outcome is not Outcome.VALUES:
                evidence += f"; {route.option}: not measured ({route.error or route.outcome})"
                continue
            ok = ok and route.likelihood in wanted and not expect_none
            evidence += (f"; {route.option}: declared {route.likelihood.value}, "
                         f"{num(route.bits_per_dim, 4)} bits/dim"
                         f"{_cost(route.seconds_per_item, route.evaluations_per_item)}")
        return _verdict(ok, evidence)

    return judge_one


def _cost(seconds: float | None, evaluations: float | None) -> str:
    """``", 0.81 ms and 160 network evaluations per image"`` (what is known of it)."""
    parts = []
    if seconds is not None:
        parts.append(f"{num(1e3 * seconds)} ms")
    if evaluations:  # 0: the networks were bypassed (nothing was counted)
        parts.append(f"{num(evaluations, 4)} network evaluations")
    return f", {' and '.join(parts)} per image" if parts else ""


def unless_unoffered(judge_kind: Judge) -> Judge:
    """``judge_kind``, except that a model declaring ``Likelihood.NONE`` and raising
    ``LikelihoodUnavailable`` is not measured: an implementation (an adapter of another
    library's sampler) that offers no likelihood says nothing about what the paradigm can
    give, and it declared so honestly."""

    def judge_one(r: ModelReport) -> Verdict:
        if (r.likelihood is Likelihood.NONE
                and r.likelihood_outcome is Outcome.UNAVAILABLE):
            return Status.NOT_MEASURED, ("declared none and raised LikelihoodUnavailable: this "
                                         "implementation offers no likelihood")
        return judge_kind(r)

    return judge_one


def likelihood_by_event(kinds: Mapping[EventKind, tuple[Likelihood, str]]) -> Judge:
    """:func:`likelihood` with the kind expected for the model's kind of event, and the
    reason (``kinds[event_kind] = (likelihood, why)``) added to the evidence."""
    missing = set(EventKind) - set(kinds)
    if missing:
        raise ValueError(f"likelihood_by_event needs every EventKind (missing {missing})")
    judges = {event: (likelihood(kind), why) for event, (kind, why) in kinds.items()}

    def judge_one(r: ModelReport) -> Verdict:
        judge_kind, why = judges[r.event_kind]
        status, text = judge_kind(r)
        return status, f"{text} ({why})"

    return judge_one


def mode_collapse(r: ModelReport) -> Verdict:
    """Unconditional samples miss a class, or the rarest is below :data:`COLLAPSE_RATIO`."""
    if r.coverage is None:
        why = r.error_at(Stage.SAMPLES, Stage.BUILD)
        return Status.NOT_MEASURED, why or "no image metrics for this event space"
    c = r.coverage
    collapsed = c.classes_present < c.num_classes or c.min_ratio < COLLAPSE_RATIO
    return _verdict(collapsed, f"{c.classes_present}/{c.num_classes} classes in {r.n} "
                               f"unconditional samples, rarest at {c.min_ratio:.2f} of uniform "
                               f"(collapse: a class missing or rarest < {COLLAPSE_RATIO:g})")


def quality_with_steps(r: ModelReport) -> Verdict:
    """The Frechet distance at the most steps beats the fewest by more than :data:`QUALITY_GAIN`."""
    points = [p for p in r.sweep if p.frechet is not None]
    if missing := _too_few(r, points, images=True):
        return missing
    few, many = points[0], points[-1]
    assert few.frechet is not None
    assert many.frechet is not None
    ok = many.frechet < (1 - QUALITY_GAIN) * few.frechet
    trail = ", ".join(f"{p.frechet:.3g} at K={p.steps}" for p in points)
    return _verdict(ok, f"Frechet distance {trail} (holds when K={many.steps} beats "
                        f"K={few.steps} by more than {QUALITY_GAIN:.0%})")


# --- the table -------------------------------------------------------------------------------

_AR = (Paradigm.AUTOREGRESSIVE,)
_VAE = (Paradigm.LATENT_VARIABLE,)
_GAN = (Paradigm.ADVERSARIAL,)
_DIFFUSION = (Paradigm.DIFFUSION,)
_FLOW = (Paradigm.FLOW,)
_LATENT_DIFFUSION = (Paradigm.LATENT_VARIABLE, Paradigm.DIFFUSION)

#: A flow's change of variables is exact on continuous events; on discrete ones,
#: dequantisation makes it a lower bound on the probability of the levels (Theis et al. 2016).
_FLOW_LIKELIHOOD = {
    EventKind.DISCRETE: (Likelihood.BOUND, "discrete events: dequantised, a bound"),
    EventKind.CONTINUOUS: (Likelihood.EXACT, "continuous events: exact"),
}

#: Every claim, in the order they are reported.
CLAIMS: tuple[Rule, ...] = (
    Rule("autoregressive.cost", _AR,
         "Autoregressive: sampling cost grows with the length L (one evaluation per piece)",
         per_token),
    Rule("autoregressive.likelihood", _AR,
         "Autoregressive: exact likelihood (chain rule)", likelihood(Likelihood.EXACT)),
    Rule("latent_variable.cost", _VAE, "VAE: one decoder pass per sample", single_pass),
    Rule("latent_variable.likelihood", _VAE,
         "VAE: a lower bound on the likelihood (ELBO / IWAE)", likelihood(Likelihood.BOUND)),
    Rule("adversarial.cost", _GAN, "GAN: one generator pass per sample", single_pass),
    Rule("adversarial.likelihood", _GAN, "GAN: no likelihood", likelihood(Likelihood.NONE)),
    Rule("adversarial.mode_collapse", _GAN,
         "GAN: prone to mode collapse (class coverage of unconditional samples)", mode_collapse),
    Rule("diffusion.cost", _DIFFUSION,
         "Diffusion: sampling cost grows with the number of steps K", per_step),
    Rule("diffusion.likelihood", _DIFFUSION,
         "Diffusion: an indirect likelihood (a variational bound or an ODE estimate)",
         unless_unoffered(likelihood(Likelihood.BOUND, Likelihood.ESTIMATE))),
    Rule("diffusion.quality_vs_steps", _DIFFUSION,
         "Diffusion: quality needs many steps (fewer steps, worse samples)", quality_with_steps),
    Rule("flow.cost", _FLOW, "Flow: one inverse pass per sample", single_pass),
    Rule("flow.likelihood", _FLOW,
         "Flow: exact likelihood (change of variables; a bound once discrete data are "
         "dequantised)", likelihood_by_event(_FLOW_LIKELIHOOD)),
    Rule("latent_diffusion.cost", _LATENT_DIFFUSION,
         "Latent diffusion: K prior steps, then one decoder pass (K + 1 evaluations)",
         steps_plus_decoder),
    Rule("latent_diffusion.likelihood", _LATENT_DIFFUSION,
         "Latent diffusion: a lower bound (decoder term + the latent diffusion bound)",
         likelihood(Likelihood.BOUND)),
)
#: The rows about hybrids (models made of more than one paradigm).
HYBRID_CLAIMS: tuple[Rule, ...] = tuple(rule for rule in CLAIMS if len(rule.paradigms) > 1)


def judge(reports: Iterable[ModelReport]) -> tuple[Claim, ...]:
    """Every claim of :data:`CLAIMS`, judged on the models made of exactly its paradigms.

    A claim with no such model is "not measured (model missing)"; with several, it holds
    only if it holds for each one measured. Hybrids are judged by their own claims, not by
    the single-paradigm ones (their cost and likelihood are composed from their parts).
    """
    reports = list(reports)
    return tuple(_judge_rule(rule, [r for r in reports if r.paradigms == rule.paradigms])
                 for rule in CLAIMS)


def _judge_rule(rule: Rule, models: Sequence[ModelReport]) -> Claim:
    return combine(rule.key, rule.label, rule.statement,
                   [(r.name, rule.decide(r)) for r in models])


def combine(key: str, label: str, statement: str,
            verdicts: Sequence[tuple[str, Verdict]]) -> Claim:
    """One claim from the verdicts of the things judged (``(who, verdict)``): "model missing"
    without any, else it holds only if it holds for each one measured."""
    if not verdicts:
        return Claim(key, label, statement, Status.NOT_MEASURED, "model missing")
    measured = [v for _, (v, _) in verdicts if v is not Status.NOT_MEASURED]
    if not measured:
        status = Status.NOT_MEASURED
    elif all(v is Status.HOLDS for v in measured):
        status = Status.HOLDS
    else:
        status = Status.DOES_NOT_HOLD
    if status is Status.NOT_MEASURED:
        evidence = "; ".join(f"{who}: {text}" for who, (_, text) in verdicts)
    else:
        evidence = "; ".join(
            f"{who}: {text}" + (" [not measured]" if v is Status.NOT_MEASURED else "")
            for who, (v, text) in verdicts)
    return Claim(key, label, statement, status, evidence)
