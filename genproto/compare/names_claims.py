"""The cheatsheet's claims judged on the Census names: :data:`NAMES_CLAIMS`.

Each row is a :class:`~genproto.compare.points_claims.PointsRule`-shaped
:class:`NamesRule`: a statement about the models made of exactly some paradigms (``None``:
every model), and the judge of one model's :class:`~genproto.compare.names_records.NamesReport`
read against the truth's (the Census draws measured the same way). A claim holds only if it
holds for every model measured. **To add a claim on text, add a row here.**

The thresholds are stated where they are used: mode collapse is fewer than
:data:`COLLAPSE_SHARE` of the truth's distinct names in as many samples; drift is a tail
less plausible than the start by :data:`DRIFT_MARGIN` more than the truth's own draws, or more
than :data:`OVERLONG` of the samples longer than any Census name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import attrs

from genproto.compare.claims import Claim, Status, Verdict, _verdict, combine, step_growth
from genproto.compare.names_records import NamesReport
from genproto.compare.points_records import PointsStatus
from genproto.compare.records import Outcome
from genproto.protocol import CostGrowth, Likelihood, Paradigm

__all__ = [
    "COLLAPSE_SHARE",
    "DRIFT_MARGIN",
    "NAMES_CLAIMS",
    "OVERLONG",
    "NamesRule",
    "judge_names",
]

#: A model "collapsed" on a list when its samples hold fewer distinct names than this share of
#: the truth's distinct names in the same number of draws.
COLLAPSE_SHARE = 0.5
#: Drift: the start-minus-tail trigram plausibility exceeds the truth's by more than this.
DRIFT_MARGIN = 0.02
#: Drift: more than this share of samples run past the longest Census name.
OVERLONG = 0.01
#: Valid text: at least this share of samples are letters ended by a stop.
VALID = 0.9

#: Reads one model's report (and the truth's) and gives its verdict on one claim.
NamesJudge = Callable[[NamesReport, NamesReport], Verdict]


@attrs.frozen
class NamesRule:
    """One row of the names claims table (see :class:`~genproto.compare.claims.Rule`)."""

    key: str
    paradigms: tuple[Paradigm, ...] | None
    statement: str
    decide: NamesJudge

    @property
    def label(self) -> str:
        return "every paradigm" if self.paradigms is None else " + ".join(
            p.value for p in self.paradigms)


def _unmeasured(r: NamesReport) -> Verdict | None:
    if r.status is PointsStatus.NO_WEIGHTS:
        return Status.NOT_MEASURED, "no shipped weights"
    if not r.measured:
        return Status.NOT_MEASURED, r.errors[0] if r.errors else "not built"
    return None


def _per_list(r: NamesReport, text: Callable[[str], str]) -> str:
    return ", ".join(text(result.list) for result in r.lists)


def exact_cross_entropy(r: NamesReport, truth: NamesReport) -> Verdict:
    """Declared exact, and a finite cross-entropy on every list's test names."""
    if missing := _unmeasured(r):
        return missing
    values = {x.list: x.cross_entropy for x in r.lists}
    if r.likelihood_outcome is not Outcome.VALUES or None in values.values():
        return Status.NOT_MEASURED, "the likelihood of the test names was not measured"
    ok = r.likelihood is Likelihood.EXACT and all(math.isfinite(v or math.inf)
                                                  for v in values.values())
    ref = {x.list: x.cross_entropy for x in truth.lists}
    return _verdict(ok, f"declared {r.likelihood.value}; " + _per_list(
        r, lambda w: f"{w} {values[w]:.2f} nats (truth {ref.get(w) or math.nan:.2f})"))


def per_token(r: NamesReport, truth: NamesReport) -> Verdict:
    """Declared per token (a bound: names stop early); counted evaluations a sample follow the
    sampled lengths, one a token (letters + stop, at most the row)."""
    if missing := _unmeasured(r):
        return missing
    pairs = [(x.counted_evaluations, x.text.length_tv) for x in r.lists]
    if any(c is None for c, _ in pairs):
        return Status.NOT_MEASURED, "evaluations were not counted"
    counted = [float(c or 0.0) for c, _ in pairs]
    ok = (r.declared_growth is CostGrowth.PER_TOKEN and r.declared_evaluations is not None
          and all(1 <= c <= r.declared_evaluations for c in counted)
          and len(set(round(c, 3) for c in counted)) > 1)
    return _verdict(ok, f"declared {r.declared_growth.value if r.declared_growth else '?'} "
                        f"<= {r.declared_evaluations}; counted " + _per_list(
                            r, lambda w: f"{w} {counted[[x.list for x in r.lists].index(w)]:.2f}")
                    + " (they follow each list's lengths)")


def bound_tightens(r: NamesReport, truth: NamesReport) -> Verdict:
    """A bound: the IWAE cross-entropy is no larger than the ELBO's on every list."""
    if missing := _unmeasured(r):
        return missing
    if r.likelihood is not Likelihood.BOUND:
        return _verdict(False, f"declared {r.likelihood.value}, not a bound")
    pairs = [(x.list, x.cross_entropy, x.iwae) for x in r.lists]
    if any(e is None for _, e, _ in pairs):
        return Status.NOT_MEASURED, "the bound was not measured"
    if any(i is None for _, _, i in pairs):
        return _verdict(True, "a bound (no importance-sample option to tighten it): "
                        + ", ".join(f"{w} <= {e:.2f} nats" for w, e, _ in pairs))
    ok = all(i <= e + 1e-9 for _, e, i in pairs)  # type: ignore[operator]
    return _verdict(ok, ", ".join(f"{w}: ELBO {e:.2f} >= IWAE(k={r.iwae_k}) {i:.2f} nats"
                                  for w, e, i in pairs))


def no_likelihood(r: NamesReport, truth: NamesReport) -> Verdict:
    """Declares no likelihood (the cross-entropy is not asked)."""
    if missing := _unmeasured(r):
        return missing
    return _verdict(r.likelihood is Likelihood.NONE, f"declared {r.likelihood.value}")


def collapse(r: NamesReport, truth: NamesReport) -> Verdict:
    """Mode collapse: fewer than :data:`COLLAPSE_SHARE` of the truth's distinct names in as
    many samples, on some list ("holds" = the model collapsed)."""
    if missing := _unmeasured(r):
        return missing
    ref = {x.list: x.diversity for x in truth.lists}
    shares = {x.list: x.diversity.distinct / max(ref[x.list].distinct, 1) for x in r.lists}
    ok = any(s < COLLAPSE_SHARE for s in shares.values())
    return _verdict(ok, _per_list(r, lambda w: (
        f"{w} {next(x.diversity for x in r.lists if x.list == w).distinct} distinct vs "
        f"truth {ref[w].distinct} ({shares[w]:.2f}x)")) + f"; collapse below {COLLAPSE_SHARE}x")


def drift(r: NamesReport, truth: NamesReport) -> Verdict:
    """Drift: on some list the tails are less plausible than the starts by more than the
    truth's own gap plus :data:`DRIFT_MARGIN`, or more than :data:`OVERLONG` of the samples
    run past the longest Census name ("holds" = the model drifts)."""
    if missing := _unmeasured(r):
        return missing
    ref = {x.list: x.drift for x in truth.lists}
    worse = {x.list: x.drift.gap - ref[x.list].gap for x in r.lists}
    ok = any(w > DRIFT_MARGIN or x.drift.overlong > OVERLONG for w, x in zip(
        worse.values(), r.lists, strict=True))
    return _verdict(ok, _per_list(r, lambda w: (
        f"{w} tail gap {worse[w]:+.3f} beyond the truth's, "
        f"{next(x.drift for x in r.lists if x.list == w).overlong:.3%} past 13 letters")))


def per_step(r: NamesReport, truth: NamesReport) -> Verdict:
    """Counted evaluations equal K at every step count, growing one a step."""
    if missing := _unmeasured(r):
        return missing
    points = [p for p in r.sweep if p.counted_evaluations is not None]
    if len(points) < 2 or r.declared_growth is None:
        return Status.NOT_MEASURED, "fewer than two step counts sampled"
    return step_growth(r.declared_growth, points)


def quality_with_steps(r: NamesReport, truth: NamesReport) -> Verdict:
    """The share of real names at the most steps beats the fewest steps'."""
    if missing := _unmeasured(r):
        return missing
    if len(r.sweep) < 2:
        return Status.NOT_MEASURED, "fewer than two step counts sampled"
    first, last = r.sweep[0], r.sweep[-1]
    return _verdict(last.real > first.real, ", ".join(
        f"K={p.steps}: real {p.real:.3f}, valid {p.validity:.3f}" for p in r.sweep))


def valid_text(r: NamesReport, truth: NamesReport) -> Verdict:
    """At least :data:`VALID` of the samples of every list are valid names."""
    if missing := _unmeasured(r):
        return missing
    ok = all(x.text.validity >= VALID for x in r.lists)
    return _verdict(ok, _per_list(r, lambda w: (
        f"{w} valid {next(x.text.validity for x in r.lists if x.list == w):.3f}")))


_AR = (Paradigm.AUTOREGRESSIVE,)
_VAE = (Paradigm.LATENT_VARIABLE,)
_GAN = (Paradigm.ADVERSARIAL,)
_DIFFUSION = (Paradigm.DIFFUSION,)

#: The claims on text, one row each.
NAMES_CLAIMS: tuple[NamesRule, ...] = (
    NamesRule("every.names_text", None, "A paradigm is not tied to a modality: this model "
              f"writes valid names (>= {VALID:.0%} valid on every list)", valid_text),
    NamesRule("autoregressive.names_likelihood", _AR, "Autoregressive: exact likelihood of a "
              "string by the chain rule", exact_cross_entropy),
    NamesRule("autoregressive.names_cost", _AR, "Autoregressive: cost grows with length "
              "(one evaluation a token)", per_token),
    NamesRule("autoregressive.names_drift", _AR, "Autoregressive: prone to drift (exposure "
              "bias) over long samples", drift),
    NamesRule("latent_variable.names_bound", _VAE, "VAE: the likelihood is a bound, tightened "
              "by importance sampling", bound_tightens),
    NamesRule("adversarial.names_likelihood", _GAN, "GAN: no likelihood", no_likelihood),
    NamesRule("adversarial.names_collapse", _GAN, "GAN: prone to mode collapse", collapse),
    NamesRule("diffusion.names_cost", _DIFFUSION, "Diffusion: cost grows with the steps K",
              per_step),
    NamesRule("diffusion.names_quality", _DIFFUSION, "Diffusion: quality improves with K",
              quality_with_steps),
)


def judge_names(reports: Iterable[NamesReport]) -> tuple[Claim, ...]:
    """Every claim of :data:`NAMES_CLAIMS`, judged on the models it is about, against the truth
    (the report named ``"truth"``; without it every claim is not measured)."""
    reports = list(reports)
    truth = next((r for r in reports if r.is_truth), None)
    models = [r for r in reports if not r.is_truth]
    out: list[Claim] = []
    for rule in NAMES_CLAIMS:
        chosen: Sequence[NamesReport] = [
            r for r in models if rule.paradigms is None or r.paradigms == rule.paradigms]
        if truth is None:
            out.append(Claim(rule.key, rule.label, rule.statement, Status.NOT_MEASURED,
                             "the truth was not measured"))
            continue
        out.append(combine(rule.key, rule.label, rule.statement,
                           [(r.name, rule.decide(r, truth)) for r in chosen]))
    return tuple(out)
