"""The measured table of paradigms as people read it: :class:`Comparison` and :func:`equal_steps`.

A :class:`Comparison` holds one :class:`~genproto.compare.records.ModelReport`
per model and the judged :class:`~genproto.compare.claims.Claim` s, and renders
them as a terminal table (:meth:`Comparison.text`), a markdown report
(:meth:`Comparison.markdown`) or JSON (:meth:`Comparison.to_json`): the table,
the quality-against-steps sweeps, latent against pixel-space diffusion at
equal steps, the claims and the notes. The chart is :mod:`genproto.compare.chart`.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from genproto.compare.claims import Claim, Status
from genproto.compare.records import ModelReport, SweepPoint, num
from genproto.protocol import Likelihood, Paradigm

__all__ = [
    "TEXT_HEADERS",
    "Comparison",
    "claims_markdown",
    "claims_text",
    "equal_steps",
    "implementations",
    "markdown_table",
]

#: How a likelihood's bits/dim relate to the true ones, in its table cell.
_RELATION = {Likelihood.BOUND: "≤ ", Likelihood.ESTIMATE: "≈ "}


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table's lines: the headers, the rule, then the rows (``|`` in cells escaped)."""

    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [row(headers), row(["---"] * len(headers)), *(row(cells) for cells in rows)]


def claims_text(title: str, claims: Sequence[Claim], notes: Sequence[str]) -> list[str]:
    """The end of a terminal report: the claims under ``title``, then the notes if any."""
    lines = ["", title, *(f"  - {c.line()}" for c in claims)]
    if notes:
        lines += ["", "Notes:", *(f"  - {n}" for n in notes)]
    return lines


def claims_markdown(title: str, claims: Sequence[Claim], notes: Sequence[str]) -> list[str]:
    """The end of a markdown report: the claims under ``## title``, then the notes if any."""
    lines = ["", f"## {title}", ""]
    lines += [f"- **{c.statement}**: {c.verdict()}"
              + ("" if c.status is Status.NOT_MEASURED else f" — {c.evidence}")
              for c in claims]
    if notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in notes)]
    return lines


def equal_steps(reports: Iterable[ModelReport]) -> list[tuple[str, str, SweepPoint, SweepPoint]]:
    """``(hybrid, pixel, hybrid_point, pixel_point)`` for every step count K swept by both a
    hybrid with a diffusion part and a single-paradigm diffusion model: quality and cost of
    latent against pixel-space diffusion at equal K."""
    reports = list(reports)
    hybrids = [r for r in reports if r.is_hybrid and Paradigm.DIFFUSION in r.paradigms]
    pixels = [r for r in reports if r.paradigms == (Paradigm.DIFFUSION,) and r.digits]
    out = []
    for h in hybrids:
        for d in pixels:
            theirs = {p.steps: p for p in d.sweep}
            out += [(h.name, d.name, p, theirs[p.steps]) for p in h.sweep if p.steps in theirs]
    return out


def implementations(reports: Iterable[ModelReport]
                    ) -> list[tuple[str, str, SweepPoint, SweepPoint]]:
    """``(a, b, a_point, b_point)`` for every step count K swept by two single-paradigm
    diffusion models of the digits (``a`` before ``b`` by name): the same data, two
    implementations (the native plugin and the diffusers UNet), at equal K."""
    pixels = sorted((r for r in reports if r.paradigms == (Paradigm.DIFFUSION,) and r.digits),
                    key=lambda r: r.name)
    out = []
    for i, a in enumerate(pixels):
        for b in pixels[i + 1:]:
            theirs = {p.steps: p for p in b.sweep}
            out += [(a.name, b.name, p, theirs[p.steps]) for p in a.sweep if p.steps in theirs]
    return out


def _cell(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


#: The text table's columns (:meth:`Comparison.text_rows`).
TEXT_HEADERS = ("model", "list", "cross-entropy (nats/name)", "truth", "H(p)", "gap",
                "novel", "real (unseen)", "valid", "length TV", "list accuracy (truth's)")


def _text_cells(r: ModelReport) -> list[list[str]]:
    from genproto.metrics.names_classifier import TRUTH_ACCURACY

    rows = []
    for t in r.text:
        ce = t.cross_entropy
        rows.append([
            r.name, t.list,
            "—" if ce is None else format(ce.model, ".3f"),
            "—" if ce is None else format(ce.truth, ".3f"),
            "—" if ce is None else format(ce.entropy, ".3f"),
            "—" if ce is None else format(ce.gap, "+.3f"),
            f"{t.novelty:.3f}", f"{t.real:.3f} ({t.unseen_real:.3f})", f"{t.validity:.3f}",
            f"{t.length_tv:.3f}", f"{t.accuracy:.3f} ({TRUTH_ACCURACY[t.list]:.3f})",
        ])
    return rows


_TEXT_CONVENTIONS = (
    "Text models, per Census list: n samples drawn with condition = the list's name. "
    "Cross-entropy: -sum q log m over the list's test names, q the truth renormalised over "
    "them, beside the truth's own (truth) and the list's entropy H(p); gap = model - truth. "
    "novel: not a train name; real: a name of the list (unseen: a test name); valid: a-z "
    "only, non-empty, stopped; length TV: total variation to the truth's lengths; list "
    "accuracy: share the reference names classifier puts on the list asked for (in brackets, "
    "its accuracy on samples of the truth).")


def _cell_likelihood(r: ModelReport) -> str:
    if r.likelihood is Likelihood.NONE:
        return "none (—)"
    if r.bits_per_dim is None:
        return f"{r.likelihood.value} (—)"
    return f"{r.likelihood.value} ({_RELATION.get(r.likelihood, '')}{r.bits_per_dim:.3f})"


def _cell_cost(r: ModelReport) -> str:
    if r.counted_evaluations is None:
        return f"— (declared {r.declared_evaluations})"
    if r.cost_bound:
        return f"{r.counted_evaluations:.3g} (declared ≤ {r.declared_evaluations})"
    return f"{r.counted_evaluations:g} (declared {r.declared_evaluations})"


#: The likelihood table's columns (:meth:`Comparison.likelihood_rows`).
LIKELIHOOD_HEADERS = ("model", "route", "declared", "bits/dim ± s.e.",
                      "network evaluations / image", "ms / image")

_LIKELIHOOD_CONVENTIONS = (
    "Every likelihood measured on the digits test split, on the basis of the model's row "
    "above (see the notes), with what it cost: forward network evaluations per test image, "
    "counted by the sampler's hooks (an ODE's vector-Jacobian products are backward passes and "
    "not counted), and wall milliseconds per image on this machine. A route is a choice of a "
    "model's 'likelihood' option, on the same weights (the model's own row is its default).")


def _bits_cell(kind: Likelihood, bits: float | None, stderr: float | None) -> str:
    if bits is None:
        return "—"
    err = "" if stderr is None or not math.isfinite(stderr) else f" ± {stderr:.3f}"
    return f"{_RELATION.get(kind, '')}{bits:.3f}{err}"


def evaluations_cell(evaluations: float | None) -> str:
    """Counted forward evaluations per item; 0 means the networks were not called through
    their ``forward`` (a method such as ``inverse`` or ``log_prob`` bypasses the hooks)."""
    if evaluations == 0:
        return "— (no forward call counted)"
    return num(evaluations, 4)


def _likelihood_cells(r: ModelReport) -> list[list[str]]:
    """The likelihood table's rows of one model: its own route, then the others."""
    if r.likelihood is Likelihood.NONE or r.bits_per_dim is None:
        return []
    ms = None if r.likelihood_seconds is None else 1e3 * r.likelihood_seconds
    rows = [[r.name, "default", r.likelihood.value,
             _bits_cell(r.likelihood, r.bits_per_dim, r.bits_per_dim_stderr),
             evaluations_cell(r.likelihood_evaluations), _cell(ms, ".3g")]]
    for route in r.routes:
        route_ms = None if route.seconds_per_item is None else 1e3 * route.seconds_per_item
        bits = _bits_cell(route.likelihood, route.bits_per_dim, route.stderr)
        rows.append([r.name, route.option, route.likelihood.value,
                     bits if route.error is None else f"— ({route.error})",
                     evaluations_cell(route.evaluations_per_item), _cell(route_ms, ".3g")])
    return rows


def _versus(h: SweepPoint, d: SweepPoint) -> tuple[str, str, str]:
    """Frechet distance, evaluations and samples/s of two models at one K, ``"a vs b"``."""
    return (f"{_cell(h.frechet, '.2f')} vs {_cell(d.frechet, '.2f')}",
            f"{num(h.counted_evaluations)} vs {num(d.counted_evaluations)}",
            f"{_cell(h.samples_per_second, '.0f')} vs {_cell(d.samples_per_second, '.0f')}")


@attrs.frozen
class Comparison:
    """The measured table of paradigms: one :class:`ModelReport` per model, and the claims.

    Attributes:
        reports: one per model, in the order compared.
        claims: the cheatsheet's claims, judged (:func:`~genproto.compare.judge`).
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
                " + ".join(p.value for p in r.paradigms),
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

    def likelihood_rows(self) -> list[list[str]]:
        """The likelihood table's cells (:data:`LIKELIHOOD_HEADERS`): every route of every
        model with values, and its cost."""
        return [cells for r in self.reports for cells in _likelihood_cells(r)]

    def text_rows(self) -> list[list[str]]:
        """The text table's cells (:data:`TEXT_HEADERS`), one row per text model and list."""
        return [cells for r in self.reports for cells in _text_cells(r)]

    def _settings(self) -> str:
        floor = "" if self.floor is None else f"; Frechet floor (test vs train) {self.floor:.2f}"
        return (f"n = {self.n} unconditional samples, {self.per_class} per class for accuracy, "
                f"seed {self.seed}{floor}; {self.seconds:.0f} s")

    def _notes(self) -> list[str]:
        lines = []
        for r in self.reports:
            if r.likelihood is not Likelihood.NONE:
                lines.append(f"{r.name} bits/dim: {r.bits_per_dim_basis}")
            lines += [f"{r.name}: {note}" for note in r.notes]
            lines += [f"{r.name} error: {err}" for err in r.errors]
            lines.append(f"{r.name} measured in {r.seconds:.1f} s")
        lines += [f"plugin failed to load: {p}" for p in self.plugin_failures]
        hybrids = [r.name for r in self.reports if r.is_hybrid]
        if hybrids:
            lines.append(f"hybrids ({', '.join(hybrids)}) are judged by their own claims, not "
                         "against single-paradigm ones")
        return lines

    def _equal_steps(self) -> list[str]:
        lines = []
        for hybrid, pixel, h, d in equal_steps(self.reports):
            frechet, evaluations, speed = _versus(h, d)
            lines.append(f"{hybrid} vs {pixel} at K={h.steps}: Frechet distance {frechet}; "
                         f"evaluations {evaluations}; samples/s {speed}")
        return lines

    def _implementations(self) -> list[str]:
        return [f"{a} vs {b} at K={p.steps}: Frechet distance {frechet}; evaluations "
                f"{evaluations}; samples/s {speed}"
                for a, b, p, q in implementations(self.reports)
                for frechet, evaluations, speed in [_versus(p, q)]]

    def _sweeps(self) -> list[str]:
        lines = []
        for r in self.reports:
            if not r.sweep:
                continue
            parts = [
                f"K={p.steps}: {num(p.counted_evaluations)} evals, FD "
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
        if likelihoods := self.likelihood_rows():
            parts += ["", textwrap.fill(_LIKELIHOOD_CONVENTIONS, 100),
                      render_table(LIKELIHOOD_HEADERS, likelihoods,
                                   widths=[16, 16, 9, 16, 12, 10])]
        if text_rows := self.text_rows():
            parts += ["", textwrap.fill(_TEXT_CONVENTIONS, 100),
                      render_table(TEXT_HEADERS, text_rows,
                                   widths=[12, 8, 13, 7, 7, 7, 6, 13, 6, 7, 14])]
        if sweeps := self._sweeps():
            parts += ["", *sweeps]
        if pairs := self._equal_steps():
            parts += ["", "Latent against pixel-space diffusion at equal steps:", *pairs]
        if same := self._implementations():
            parts += ["", "Two implementations of pixel-space diffusion at equal steps:", *same]
        parts += claims_text("Claims of the cheatsheet, from the numbers above:", self.claims,
                             self._notes())
        return "\n".join(parts)

    def markdown(self) -> str:
        """A markdown report: the table, the steps sweeps, the claims and the notes."""
        lines = ["# The paradigms, measured", "", self._settings(), "",
                 *markdown_table(self.HEADERS, self.rows())]
        if likelihoods := self.likelihood_rows():
            lines += ["", "## Likelihoods and what they cost", "", _LIKELIHOOD_CONVENTIONS, "",
                      *markdown_table(LIKELIHOOD_HEADERS, likelihoods)]
        if text_rows := self.text_rows():
            lines += ["", "## Text models: the Census names", "", _TEXT_CONVENTIONS, "",
                      *markdown_table(TEXT_HEADERS, text_rows)]
        sweeps = [r for r in self.reports if r.sweep]
        if sweeps:
            lines += ["", "## Quality against steps", ""]
            lines += markdown_table(
                ["model", "K", "evaluations / sample (declared)", "Frechet distance",
                 "samples/s"],
                [[r.name, str(p.steps),
                  f"{num(p.counted_evaluations)} ({num(p.declared_evaluations)})",
                  _cell(p.frechet, ".2f"), _cell(p.samples_per_second, ".0f")]
                 for r in sweeps for p in r.sweep])
        versus = ["K", "models", "Frechet distance", "evaluations / sample", "samples/s"]
        pairs = equal_steps(self.reports)
        if pairs:
            lines += ["", "## Latent against pixel-space diffusion at equal steps", ""]
            lines += markdown_table(versus, [[str(h.steps), f"{hybrid} vs {pixel}", *_versus(h, d)]
                                             for hybrid, pixel, h, d in pairs])
        same = implementations(self.reports)
        if same:
            lines += ["", "## Two implementations of pixel-space diffusion at equal steps", ""]
            lines += markdown_table(versus, [[str(p.steps), f"{a} vs {b}", *_versus(p, q)]
                                             for a, b, p, q in same])
        lines += claims_markdown("The cheatsheet's claims", self.claims, self._notes())
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
