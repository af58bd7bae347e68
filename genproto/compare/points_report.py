"""The paradigms measured on 2-D points, as people read them: :class:`PointsComparison`.

One table per dataset with every paradigm beside the truth's own row (KL to the truth, mean
log-density, coverage of the density's components, cost), the coverage of a model with a
``steps`` option at each step count, the claims of
:mod:`genproto.compare.points_claims` and the notes; as a terminal table
(:meth:`PointsComparison.text`), markdown (:meth:`PointsComparison.markdown`) or JSON
(:meth:`PointsComparison.to_json`). The conventions (:data:`POINTS_CONVENTIONS`) are stated once
in each. The chart is :mod:`genproto.compare.points_chart`.
"""

from __future__ import annotations

import json
import math
import textwrap
from typing import Any

import attrs

from genproto.compare.claims import Claim
from genproto.compare.points import TRAINING_SEED, held_out_seed
from genproto.compare.points_records import (
    PointsReport,
    PointsStatus,
    PointsSweep,
    TruthReport,
    jsonable,
)
from genproto.compare.records import num
from genproto.compare.report import (
    claims_markdown,
    claims_text,
    evaluations_cell,
    markdown_table,
)
from genproto.metrics.points import (
    COVERED_SHARE,
    PRECISION_RADIUS,
    TRUTH_Z,
    ComponentCoverage,
    KLEstimate,
    beats_truth,
)
from genproto.protocol import Likelihood

__all__ = ["COST_HEADERS", "POINTS_CONVENTIONS", "POINTS_HEADERS", "STEPS_HEADERS",
           "PointsComparison"]

#: The columns of each dataset's table.
POINTS_HEADERS = ("model", "paradigm", "likelihood", "KL(data || model), nats",
                  "mean log p, nats", "covered", "precision", "balance",
                  "evaluations / sample", "samples/s", "status")
#: The columns of the coverage-against-steps table.
STEPS_HEADERS = ("model", "dataset", "K", "evaluations / sample (declared)", "covered",
                 "precision", "balance", "samples/s")

#: What every column means and of which kind each number is, stated once in every report.
POINTS_CONVENTIONS = (
    "Each model is built with dataset=NAME (its points configuration) and measured against "
    "that density's exact log p. Held-out points: load_toy2d(NAME, N, seed=1 + seed), a draw "
    f"the training draw (seed {TRAINING_SEED}) never sees, the same for every model; samples: "
    "n unconditional samples drawn with seed, and likelihood estimators keyed by seed. "
    "KL(data || model) = mean over the held-out points of log p_data - log p_model, ± its "
    "standard error: '=' an unbiased estimate (exact likelihood), '<=' an upper bound (the "
    "model gives a lower bound on log p: the VAE's ELBO, k=1, and its IWAE bound with k "
    "importance samples), '~' an estimate (diffusion's probability-flow ODE); '—, no "
    "likelihood' for a model without one. mean log p: the model's mean log-density of the "
    "held-out points as declared (exact, bound or estimate); the truth's row has its own, "
    "minus the differential entropy. KL is never negative, so a model whose mean log p beats "
    f"the truth's by more than {TRUTH_Z} standard errors is BROKEN (not a normalised density, "
    "or a bound that is not one). covered: components of the density holding at least "
    f"{COVERED_SHARE:g} of their fair share of the precise samples; precision: share of the "
    f"samples within {PRECISION_RADIUS:g} standard deviations (the components' covariance) of "
    "the nearest component's centre; balance: KL(share of the precise samples per component "
    "|| uniform), nats (0: even; log K: all in one). On grid25 the components are its 25 "
    "modes. On two_moons they are 64 overlapping Gaussians 0.1 apart along the two arcs: "
    "covered says how much of the arcs the samples reach (each component is about 1/32 of an "
    "arc), precision how many lie within 0.3 of the arcs. evaluations / sample: counted by "
    "the sampler (declared in brackets); samples/s: wall time of the n samples (the "
    "machine's load shows in it).")


def _kl_cell(e: KLEstimate) -> str:
    relation = {Likelihood.EXACT: "", Likelihood.BOUND: "≤ "}.get(e.kind, "≈ ")
    if not math.isfinite(e.value):
        return f"{relation}∞ (zero density at a held-out point)"
    return f"{relation}{e.value:.4f} ± {e.stderr:.4f}"


def _log_p(e: KLEstimate) -> str:
    return "-∞" if not math.isfinite(e.model_log_prob) else f"{e.model_log_prob:.4f}"


def _coverage_cells(c: ComponentCoverage | None) -> list[str]:
    if c is None:
        return ["—", "—", "—"]
    return [f"{c.covered}/{c.components}", f"{c.precision:.3f}", f"{c.balance_kl:.3f}"]


def _cost(r: PointsReport) -> str:
    declared = f"≤ {r.declared_evaluations}" if r.cost_bound else str(r.declared_evaluations)
    if r.counted_evaluations is None:
        return f"— (declared {declared})"
    return f"{r.counted_evaluations:.4g} (declared {declared})"


def _likelihood_cells(r: PointsReport) -> list[str]:
    """The likelihood, KL and mean log p cells of a model's row."""
    if r.likelihood is Likelihood.NONE:
        return ["none", "—, no likelihood", "—"]
    if r.kl is None:
        return [r.likelihood.value, "—", "—"]
    if r.iwae is None:
        return [r.likelihood.value, _kl_cell(r.kl), _log_p(r.kl)]
    return [f"bound (ELBO k=1; IWAE k={r.iwae_k})",
            f"ELBO {_kl_cell(r.kl)}; IWAE {_kl_cell(r.iwae)}",
            f"ELBO {_log_p(r.kl)} ≤ IWAE {_log_p(r.iwae)}"]


#: The columns of the likelihood-cost table.
COST_HEADERS = ("model", "dataset", "route", "declared", "KL(data || model), nats",
                "network evaluations / point", "µs / point")

_COST_CONVENTIONS = (
    "Every likelihood of the tables above with what it cost on the held-out points: forward "
    "network evaluations per point, counted by the sampler's hooks (an ODE's vector-Jacobian "
    "products are backward passes and not counted), and wall microseconds per point on this "
    "machine. A route is a choice of a model's 'likelihood' option on the same weights (its "
    "row above is the default; the other routes have rows of their own, 'model, "
    "likelihood=...').")


def _route_rows(r: PointsReport) -> list[list[str]]:
    """The main table's rows of a model's other likelihood routes (likelihood cells only)."""
    rows = []
    for route in r.routes:
        kl = route.kl
        cells = ([route.likelihood.value, _kl_cell(kl), _log_p(kl)] if kl is not None
                 else [route.likelihood.value, f"— ({route.error or route.outcome})", "—"])
        broken = kl is not None and beats_truth(kl)
        rows.append([f"{r.name}, {route.option}", " + ".join(p.value for p in r.paradigms),
                     *cells, "(same weights)", "—", "—", "—", "—",
                     "BROKEN: beats the truth" if broken else "ok"])
    return rows


def _cost_rows(r: PointsReport) -> list[list[str]]:
    if r.kl is None:
        return []

    def us(seconds: float | None) -> str:
        return "—" if seconds is None else f"{1e6 * seconds:.3g}"

    rows = [[r.name, r.dataset, "default", r.likelihood.value, _kl_cell(r.kl),
             evaluations_cell(r.likelihood_evaluations), us(r.likelihood_seconds)]]
    rows += [[r.name, r.dataset, route.option, route.likelihood.value,
              "—" if route.kl is None else _kl_cell(route.kl),
              evaluations_cell(route.evaluations_per_item), us(route.seconds_per_item)]
             for route in r.routes]
    return rows


def _status(r: PointsReport) -> str:
    if r.status is not PointsStatus.MEASURED:
        return r.status.value
    if r.broken:
        return "BROKEN: beats the truth"
    if r.errors:
        return "errors (see notes)"
    return "ok"


def _sweep_cells(r: PointsReport, p: PointsSweep) -> list[str]:
    return [r.name, r.dataset, str(p.steps),
            f"{num(p.counted_evaluations)} ({num(p.declared_evaluations)})",
            *_coverage_cells(p.coverage),
            "—" if p.samples_per_second is None else f"{p.samples_per_second:.0f}"]


@attrs.frozen
class PointsComparison:
    """The paradigms measured on 2-D points against the exact densities.

    Attributes:
        truths: one per dataset, in the order measured (the reference rows).
        reports: one per (model, dataset) measured or listed, dataset by dataset.
        claims: :func:`~genproto.compare.points_claims.judge_points` of the reports.
        n, held_out, seed, iwae_k: the settings every model was measured with.
        seconds: wall time of the whole comparison.
        plugin_failures: plugins that failed to load, ``"label: error"``.
    """

    truths: tuple[TruthReport, ...]
    reports: tuple[PointsReport, ...]
    claims: tuple[Claim, ...]
    n: int
    held_out: int
    seed: int
    iwae_k: int
    seconds: float
    plugin_failures: tuple[str, ...] = ()

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(t.dataset for t in self.truths)

    def rows(self, dataset: str) -> list[list[str]]:
        """The cells of ``dataset``'s table (:data:`POINTS_HEADERS`): the truth, then each model."""
        (truth,) = [t for t in self.truths if t.dataset == dataset]
        out = [["truth", "—", "exact (the density)", "0 (by definition)",
                f"{truth.log_prob:.4f} ± {truth.stderr:.4f} (= -H)",
                *_coverage_cells(truth.coverage), "—", "—", "reference"]]
        for r in self.reports:
            if r.dataset != dataset:
                continue
            out.append([r.name, " + ".join(p.value for p in r.paradigms), *_likelihood_cells(r),
                        *_coverage_cells(r.coverage), _cost(r),
                        "—" if r.samples_per_second is None else f"{r.samples_per_second:.0f}",
                        _status(r)])
            out += _route_rows(r)
        return out

    def cost_rows(self) -> list[list[str]]:
        """The cells of the likelihood-cost table (:data:`COST_HEADERS`)."""
        return [cells for r in self.reports for cells in _cost_rows(r)]

    def sweep_rows(self) -> list[list[str]]:
        """The cells of the coverage-against-steps table (:data:`STEPS_HEADERS`)."""
        return [_sweep_cells(r, p) for r in self.reports for p in r.sweep]

    def _settings(self) -> str:
        return (f"n = {self.n} samples per model and dataset, {self.held_out} held-out points "
                f"(load_toy2d seed {held_out_seed(self.seed)}; training seed {TRAINING_SEED}), "
                f"seed {self.seed}, IWAE k = {self.iwae_k}; {self.seconds:.0f} s")

    def _heading(self, truth: TruthReport) -> str:
        return f"{truth.dataset}: {truth.description}"

    def _notes(self) -> list[str]:
        lines = []
        for r in self.reports:
            options = ", ".join(f"{k}={v!r}" for k, v in r.options)
            who = r.label
            if r.status is PointsStatus.MEASURED:
                lines.append(f"{who}: built with {options}; measured in {r.seconds:.1f} s")
            lines += [f"{who}: {note}" for note in r.notes]
            lines += [f"{who} error: {err}" for err in r.errors]
        lines += [f"plugin failed to load: {p}" for p in self.plugin_failures]
        return lines

    def text(self) -> str:
        """Each dataset's table for a terminal (wrapped cells), the sweeps, claims and notes."""
        from genproto.cli.table import render_table

        parts = [self._settings(), "", textwrap.fill(POINTS_CONVENTIONS, 100)]
        for truth in self.truths:
            parts += ["", self._heading(truth),
                      render_table(POINTS_HEADERS, self.rows(truth.dataset),
                                   widths=[12, 15, 12, 22, 18, 7, 9, 7, 12, 9, 10])]
        if costs := self.cost_rows():
            parts += ["", textwrap.fill(_COST_CONVENTIONS, 100),
                      render_table(COST_HEADERS, costs, widths=[12, 10, 16, 9, 22, 12, 10])]
        if sweep := self.sweep_rows():
            parts += ["", "Coverage against steps:",
                      render_table(STEPS_HEADERS, sweep, widths=[12, 15, 4, 12, 7, 9, 7, 9])]
        parts += claims_text("Claims of the cheatsheet on points, from the numbers above:",
                             self.claims, self._notes())
        return "\n".join(parts)

    def markdown(self) -> str:
        """A markdown section: conventions, one table per dataset, the sweeps, claims, notes."""
        lines = ["# The paradigms, measured on 2-D points", "", self._settings(), "",
                 POINTS_CONVENTIONS]
        for truth in self.truths:
            lines += ["", f"## {self._heading(truth)}", "",
                      *markdown_table(POINTS_HEADERS, self.rows(truth.dataset))]
        if costs := self.cost_rows():
            lines += ["", "## Likelihoods and what they cost", "", _COST_CONVENTIONS, "",
                      *markdown_table(COST_HEADERS, costs)]
        if sweep := self.sweep_rows():
            lines += ["", "## Coverage against steps", "", *markdown_table(STEPS_HEADERS, sweep)]
        lines += claims_markdown("The cheatsheet's claims on points", self.claims, self._notes())
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": {"data": "points", "datasets": list(self.datasets), "n": self.n,
                         "held_out": self.held_out, "seed": self.seed,
                         "held_out_seed": held_out_seed(self.seed),
                         "training_seed": TRAINING_SEED, "iwae_k": self.iwae_k,
                         "seconds": self.seconds},
            "conventions": POINTS_CONVENTIONS,
            "truth": [attrs.asdict(t, recurse=True, value_serializer=jsonable)
                      for t in self.truths],
            "models": [r.to_dict() for r in self.reports],
            "claims": [c.to_dict() for c in self.claims],
            "plugin_failures": list(self.plugin_failures),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
