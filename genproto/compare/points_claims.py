"""The cheatsheet's claims judged on 2-D points against the exact density: :data:`POINTS_CLAIMS`.

The digits claims (:mod:`genproto.compare.claims`) can only ask whether a likelihood behaves as
declared; on the toy densities the truth is known, so these ask whether it *is* what it is
declared to be. Each row is a :class:`PointsRule`: a statement about the models made of exactly
some paradigms (``None``: every model), and the judge of one
:class:`~genproto.compare.points_records.PointsReport` -- one model on one dataset. A claim
holds only if it holds for every (model, dataset) measured; configurations without shipped
weights are listed as not measured. **To add a claim on points, add a row here.**
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs

from genproto.compare.claims import (
    QUALITY_GAIN,
    Claim,
    Status,
    Verdict,
    _verdict,
    combine,
    step_growth,
)
from genproto.compare.points_records import PointsReport, PointsStatus, PointsSweep
from genproto.compare.records import Outcome, Stage
from genproto.metrics.points import TRUTH_Z, KLEstimate, beats_truth
from genproto.protocol import Likelihood, Paradigm

__all__ = [
    "POINTS_CLAIMS",
    "PointsJudge",
    "PointsRule",
    "bounds_ordered",
    "judge_points",
    "kl",
    "no_likelihood_coverage",
    "points_collapse",
    "points_per_step",
    "precision_with_steps",
    "truth_unbeaten",
    "unbiased_kl",
]

#: Reads one (model, dataset) report and gives its verdict on one claim.
PointsJudge = Callable[[PointsReport], Verdict]


@attrs.frozen
class PointsRule:
    """One row of the points claims table.

    Attributes:
        key: the claim's stable identifier, ``"<paradigm>.points_<aspect>"``.
        paradigms: the models judged are those made of exactly these paradigms; ``None``:
            every model.
        statement: the claim, in words.
        decide: the judge of one (model, dataset) report.
    """

    key: str
    paradigms: tuple[Paradigm, ...] | None
    statement: str
    decide: PointsJudge

    @property
    def label(self) -> str:
        if self.paradigms is None:
            return "every paradigm"
        return " + ".join(p.value for p in self.paradigms)


# --- the judges ------------------------------------------------------------------------------


def kl(e: KLEstimate) -> str:
    """``"KL <= 0.123 ± 0.004 nats"`` with the estimate's relation to the true KL."""
    return f"KL {e.relation} {e.value:.4g} ± {e.stderr:.2g} nats"


def _unmeasured(r: PointsReport) -> Verdict | None:
    """Not measured, and why, for a configuration that was not built or asked."""
    if r.status is PointsStatus.NO_WEIGHTS:
        return Status.NOT_MEASURED, "no shipped weights"
    if r.status is PointsStatus.FAILED:
        return Status.NOT_MEASURED, r.errors[0] if r.errors else "not built"
    return None


def _no_estimate(r: PointsReport) -> Verdict | None:
    if missing := _unmeasured(r):
        return missing
    if r.kl is None:
        if r.likelihood_outcome is Outcome.UNAVAILABLE:
            return Status.NOT_MEASURED, "no likelihood (LikelihoodUnavailable)"
        why = r.error_at(Stage.LIKELIHOOD)
        return Status.NOT_MEASURED, why or "log_likelihood was not asked"
    return None


def _above_zero(e: KLEstimate) -> str:
    if e.stderr > 0:
        return f"{e.value / e.stderr:+.1f} standard errors from 0"
    return "no spread"


def unbiased_kl(r: PointsReport) -> Verdict:
    """Declared exact, and the KL estimate is >= 0 within its error (not beating the truth)."""
    if missing := _no_estimate(r):
        return missing
    assert r.kl is not None  # _no_estimate checked it
    ok = r.likelihood is Likelihood.EXACT and not beats_truth(r.kl)
    return _verdict(ok, f"declared {r.likelihood.value}; {kl(r.kl)} ({_above_zero(r.kl)})")


def bounds_ordered(r: PointsReport) -> Verdict:
    """ELBO <= IWAE (the paired gain >= 0 within its error) and IWAE <= truth (not beaten)."""
    if missing := _no_estimate(r):
        return missing
    assert r.kl is not None
    if r.iwae is None or r.iwae_gain is None:
        return Status.NOT_MEASURED, (f"declared {r.likelihood.value}; no likelihood option 'k' "
                                     f"to tighten the bound; ELBO {kl(r.kl)}")
    gain = r.iwae_gain
    ordered = gain.value + TRUTH_Z * gain.stderr >= 0
    ok = (r.likelihood is Likelihood.BOUND and ordered and not beats_truth(r.kl)
          and not beats_truth(r.iwae))
    return _verdict(ok, f"ELBO {kl(r.kl)}; IWAE (k={r.iwae_k}) {kl(r.iwae)}; IWAE - ELBO = "
                        f"{gain.value:+.4g} ± {gain.stderr:.2g} nats per point")


def no_likelihood_coverage(r: PointsReport) -> Verdict:
    """Declared none, ``log_likelihood`` raised ``LikelihoodUnavailable``, and the samples'
    coverage of the density's components was measured instead."""
    if missing := _unmeasured(r):
        return missing
    if r.likelihood_outcome is Outcome.ERROR:
        return Status.NOT_MEASURED, r.error_at(Stage.LIKELIHOOD) or "log_likelihood failed"
    unavailable = r.likelihood_outcome is Outcome.UNAVAILABLE
    said = ("log_likelihood raised LikelihoodUnavailable" if unavailable
            else "log_likelihood returned values")
    c = r.coverage
    if c is None:
        return Status.NOT_MEASURED, f"declared {r.likelihood.value}; {said}; coverage not measured"
    ok = r.likelihood is Likelihood.NONE and unavailable
    return _verdict(ok, f"declared {r.likelihood.value}; {said}; covered "
                        f"{c.covered}/{c.components} components, precision {c.precision:.3f}")


def points_collapse(r: PointsReport) -> Verdict:
    """Mode collapse against the truth: some component of the density is not covered."""
    if missing := _unmeasured(r):
        return missing
    c = r.coverage
    if c is None:
        return Status.NOT_MEASURED, r.error_at(Stage.SAMPLES) or "coverage not measured"
    collapsed = c.covered < c.components
    return _verdict(collapsed, f"{c.covered}/{c.components} components covered by {c.n} samples "
                               f"(collapse: one holding fewer than {c.threshold} precise "
                               f"samples), precision {c.precision:.3f}")


def _unswept(r: PointsReport, swept: Sequence[PointsSweep], fewer: str) -> Verdict | None:
    """Not measured, and why, when ``swept`` (the usable part of the sweep) has under two K."""
    if len(swept) >= 2:
        return None
    return Status.NOT_MEASURED, "no 'steps' sample option to vary" if not r.sweep else fewer


def points_per_step(r: PointsReport) -> Verdict:
    """Counted = declared evaluations at every K, growing linearly (>= 1 a step)."""
    if missing := _unmeasured(r):
        return missing
    counted = [p for p in r.sweep if p.counted_evaluations is not None]
    if missing := _unswept(r, counted, "fewer than two step counts were measured"):
        return missing
    return step_growth(r.declared_growth, counted)


def precision_with_steps(r: PointsReport) -> Verdict:
    """The share of samples off the density's components (1 - precision) at the most steps is
    below the fewest's by more than :data:`~genproto.compare.claims.QUALITY_GAIN`."""
    if missing := _unmeasured(r):
        return missing
    swept = [p for p in r.sweep if p.coverage is not None]
    if missing := _unswept(r, swept, "fewer than two step counts with coverage"):
        return missing
    few, many = swept[0].coverage, swept[-1].coverage
    assert few is not None
    assert many is not None
    ok = 1 - many.precision < (1 - QUALITY_GAIN) * (1 - few.precision)
    trail = ", ".join(f"{p.coverage.precision:.3f} ({p.coverage.covered}/"
                      f"{p.coverage.components}) at K={p.steps}"
                      for p in swept if p.coverage is not None)
    return _verdict(ok, f"precision (covered) {trail} (holds when K={swept[-1].steps} misses "
                        f"fewer samples than K={swept[0].steps} by more than {QUALITY_GAIN:.0%})")


def truth_unbeaten(r: PointsReport) -> Verdict:
    """No declared log-likelihood beats the truth's beyond its error (every estimate)."""
    if missing := _no_estimate(r):
        return missing
    named = [("", r.kl)] if r.iwae is None else [("ELBO ", r.kl), (f"IWAE (k={r.iwae_k}) ", r.iwae)]
    named += [(f"{route.option}: ", route.kl) for route in r.routes]  # the same weights' others
    parts = [f"{what}{kl(e)} ({_above_zero(e)})" for what, e in named if e is not None]
    broken = r.broken
    return _verdict(not broken, ("BROKEN: beats the truth; " if broken else "") + "; ".join(parts))


# --- the table -------------------------------------------------------------------------------

#: Every claim on points, in the order they are reported.
POINTS_CLAIMS: tuple[PointsRule, ...] = (
    PointsRule("autoregressive.points_kl", (Paradigm.AUTOREGRESSIVE,),
               "Autoregressive: exact likelihood, so KL(data || model) is estimated without "
               "bias (>= 0 within its error)", unbiased_kl),
    PointsRule("flow.points_kl", (Paradigm.FLOW,),
               "Flow: exact likelihood (change of variables), so KL(data || model) is "
               "estimated without bias (>= 0 within its error)", unbiased_kl),
    PointsRule("latent_variable.points_bounds", (Paradigm.LATENT_VARIABLE,),
               "VAE: ELBO <= IWAE <= truth (lower bounds on log p, tighter with k)",
               bounds_ordered),
    PointsRule("adversarial.points_likelihood", (Paradigm.ADVERSARIAL,),
               "GAN: no likelihood, but its coverage of the truth's modes is measured",
               no_likelihood_coverage),
    PointsRule("adversarial.points_mode_collapse", (Paradigm.ADVERSARIAL,),
               "GAN: prone to mode collapse (components of the truth left uncovered)",
               points_collapse),
    PointsRule("diffusion.points_cost", (Paradigm.DIFFUSION,),
               "Diffusion: sampling cost grows with the number of steps K", points_per_step),
    PointsRule("diffusion.points_quality_vs_steps", (Paradigm.DIFFUSION,),
               "Diffusion: quality improves with steps (fewer samples off the truth's modes)",
               precision_with_steps),
    PointsRule("points.truth", None,
               "No model beats the truth: KL(data || model) >= 0 within its error, for every "
               "likelihood (exact, bound or estimate)", truth_unbeaten),
)


def judge_points(reports: Iterable[PointsReport]) -> tuple[Claim, ...]:
    """Every claim of :data:`POINTS_CLAIMS`, judged on every (model, dataset) it is about."""
    reports = list(reports)
    return tuple(_judge(rule, [r for r in reports
                               if rule.paradigms is None or r.paradigms == rule.paradigms])
                 for rule in POINTS_CLAIMS)


def _judge(rule: PointsRule, reports: Sequence[PointsReport]) -> Claim:
    return combine(rule.key, rule.label, rule.statement,
                   [(r.label, rule.decide(r)) for r in reports])
