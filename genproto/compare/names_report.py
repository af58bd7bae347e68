"""The paradigms measured on the Census names, as people read them: :class:`NamesComparison`.

One table with a row per (model, list) beside the truth's own rows (cross-entropy on the test
names against the truth's, validity, novelty, real names, the list classifier's accuracy,
length distance, diversity, drift, cost and speed), the quality of a model with a ``steps``
option at each step count, the claims of :mod:`genproto.compare.names_claims` and the notes;
as a terminal table (:meth:`NamesComparison.text`), markdown
(:meth:`NamesComparison.markdown`) or JSON (:meth:`NamesComparison.to_json`). The conventions
(:data:`NAMES_CONVENTIONS`) are stated once in each. The chart is
:mod:`genproto.compare.names_chart`.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import attrs

from genproto.compare.claims import Claim
from genproto.compare.names_claims import COLLAPSE_SHARE, DRIFT_MARGIN, OVERLONG
from genproto.compare.names_records import NamesListResult, NamesReport
from genproto.compare.points_records import PointsStatus
from genproto.compare.records import num
from genproto.compare.report import claims_markdown, claims_text, markdown_table
from genproto.metrics.text_diversity import DRIFT_MIN_LETTERS, LONGEST_NAME
from genproto.protocol import Likelihood

__all__ = ["NAMES_CONVENTIONS", "NAMES_HEADERS", "NAMES_STEPS_HEADERS", "NamesComparison"]

#: The columns of the table.
NAMES_HEADERS = ("model", "paradigm", "list", "cross-entropy, nats (truth)", "valid", "real",
                 "novel", "classifier", "length TV", "distinct (mass)", "tail gap, past 13",
                 "evaluations / sample", "samples/s")
#: The columns of the quality-against-steps table.
NAMES_STEPS_HEADERS = ("model", "K", "evaluations / sample (declared)", "valid", "real",
                       "classifier", "distinct share")

#: What every column means and of which kind each number is, stated once in every report.
NAMES_CONVENTIONS = (
    "Each model is built with dataset=names (the transformers plugin's names model as it "
    "ships) and asked for each Census list in turn: n samples with condition = the list, and "
    "the log-likelihood of the list's test names (names no model was trained on; the split is "
    "by name). cross-entropy: -sum q(name) log m(name) over the test names, q the truth "
    "renormalised over them, nats per name; beside it in brackets the truth's own on the same "
    "names (the entropy H(p) of the whole list is in the notes). '=' exact, '<=' an upper "
    "bound (the VAE's ELBO, k=1, then its IWAE bound; the diffusion's variational bound); "
    "'—' no likelihood. valid: letters ended by a stop within the row; real: a name of the "
    "list; novel: not a train name of the list; classifier: share the reference character "
    "n-gram classifier assigns to the requested list (the truth's own draws score about 0.8, "
    "not 1: names are shared between lists); length TV: total variation between the sampled "
    "and the true length distributions. distinct (mass): distinct strings among the n "
    "samples, and the share of the list's probability mass they cover (the truth's n draws "
    f"show what n samples can reach; below {COLLAPSE_SHARE:g}x the truth's distinct count is "
    "called collapse). tail gap: share of character trigrams seen in the train names over the "
    f"first minus the second half of samples of at least {DRIFT_MIN_LETTERS} letters, minus "
    f"the truth's own (drift when above {DRIFT_MARGIN:g}); past 13: share of samples longer "
    f"than the longest Census name ({LONGEST_NAME} letters; drift when above {OVERLONG:g}). "
    "evaluations / sample: counted by "
    "the sampler (declared in brackets, '<=' a bound); samples/s: wall time of the n samples "
    "(the machine's load shows in it).")


def _cross_entropy(r: NamesReport, x: NamesListResult) -> str:
    ce = x.text.cross_entropy
    if r.likelihood is Likelihood.NONE:
        return "—, no likelihood"
    if ce is None:
        return "— (not measured)"
    # A lower bound on log m is an upper bound on the cross-entropy: "≤".
    relation = "≤ " if r.likelihood is Likelihood.BOUND else ""
    value = f"{relation}{ce.model:.2f}"
    if x.iwae is not None:
        value = f"ELBO {value}; IWAE ≤ {x.iwae:.2f}"
    if r.is_truth:
        return f"{ce.truth:.2f} (H = {ce.entropy:.2f})"
    return f"{value} ({ce.truth:.2f})"


def _cost(r: NamesReport, x: NamesListResult) -> str:
    if r.is_truth:
        return "—"
    declared = f"≤ {r.declared_evaluations}" if r.cost_bound else str(r.declared_evaluations)
    return f"{num(x.counted_evaluations)} ({declared})"


def _row(r: NamesReport, x: NamesListResult) -> list[str]:
    t, d, drift = x.text, x.diversity, x.drift
    return [r.name, " + ".join(p.value for p in r.paradigms) or "—", x.list,
            _cross_entropy(r, x), f"{t.validity:.3f}", f"{t.real:.3f}", f"{t.novelty:.3f}",
            f"{t.accuracy:.3f}", f"{t.length_tv:.3f}", f"{d.distinct} ({d.mass:.3f})",
            f"{drift.gap:+.3f}, {drift.overlong:.3f}", _cost(r, x),
            "—" if x.samples_per_second is None else f"{x.samples_per_second:.0f}"]


@attrs.frozen
class NamesComparison:
    """The paradigms measured on the Census names.

    Attributes:
        reports: the truth first, then one per model measured or listed.
        claims: :func:`~genproto.compare.names_claims.judge_names` of the reports.
        n, seed, iwae_k: the settings every model was measured with.
        seconds: wall time of the whole comparison.
        plugin_failures: plugins that failed to load, ``"label: error"``.
    """

    reports: tuple[NamesReport, ...]
    claims: tuple[Claim, ...]
    n: int
    seed: int
    iwae_k: int
    seconds: float
    plugin_failures: tuple[str, ...] = ()

    def rows(self) -> list[list[str]]:
        """The cells of the table (:data:`NAMES_HEADERS`), truth first, list by list."""
        out = []
        for r in self.reports:
            if not r.lists:
                out.append([r.name, " + ".join(p.value for p in r.paradigms), "—", "—",
                            *["—"] * 9])
                out[-1][-1] = r.status.value
            out += [_row(r, x) for x in r.lists]
        return out

    def sweep_rows(self) -> list[list[str]]:
        """The cells of the quality-against-steps table (:data:`NAMES_STEPS_HEADERS`)."""
        return [[r.name, str(p.steps),
                 f"{num(p.counted_evaluations)} ({num(p.declared_evaluations)})",
                 f"{p.validity:.3f}", f"{p.real:.3f}", f"{p.accuracy:.3f}",
                 f"{p.distinct:.3f}"] for r in self.reports for p in r.sweep]

    def _settings(self) -> str:
        return (f"n = {self.n} samples per model and list, seed {self.seed}, IWAE k = "
                f"{self.iwae_k}; {self.seconds:.0f} s")

    def _notes(self) -> list[str]:
        lines = []
        for r in self.reports:
            if r.status is PointsStatus.MEASURED and not r.is_truth:
                options = ", ".join(f"{k}={v!r}" for k, v in r.options) or "defaults"
                lines.append(f"{r.name}: built with {options}; measured in {r.seconds:.1f} s")
            lines += [f"{r.name}: {note}" for note in r.notes]
            lines += [f"{r.name} error: {err}" for err in r.errors]
        lines += [f"plugin failed to load: {p}" for p in self.plugin_failures]
        return lines

    def text(self) -> str:
        """The table for a terminal (wrapped cells), the sweep, claims and notes."""
        from genproto.cli.table import render_table

        parts = [self._settings(), "", textwrap.fill(NAMES_CONVENTIONS, 100), "",
                 render_table(NAMES_HEADERS, self.rows(),
                              widths=[12, 14, 7, 18, 5, 5, 5, 6, 6, 10, 10, 10, 8])]
        if sweep := self.sweep_rows():
            parts += ["", "Quality against steps:", render_table(NAMES_STEPS_HEADERS, sweep)]
        parts += claims_text("Claims of the cheatsheet on names, from the numbers above:",
                             self.claims, self._notes())
        return "\n".join(parts)

    def markdown(self) -> str:
        """A markdown section: conventions, the table, the sweep, claims, notes."""
        lines = ["# The paradigms, measured on the Census names", "", self._settings(), "",
                 NAMES_CONVENTIONS, "", *markdown_table(NAMES_HEADERS, self.rows())]
        if sweep := self.sweep_rows():
            lines += ["", "## Quality against steps", "",
                      *markdown_table(NAMES_STEPS_HEADERS, sweep)]
        lines += claims_markdown("The cheatsheet's claims on names", self.claims, self._notes())
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": {"data": "names", "n": self.n, "seed": self.seed,
                         "iwae_k": self.iwae_k, "seconds": self.seconds},
            "conventions": NAMES_CONVENTIONS,
            "models": [r.to_dict() for r in self.reports],
            "claims": [c.to_dict() for c in self.claims],
            "plugin_failures": list(self.plugin_failures),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
