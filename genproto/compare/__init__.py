"""The cheatsheet's table of paradigms, measured: ``genproto compare``.

The cheatsheet that inspired genproto compares the paradigms in prose -- what
each trains on, how it samples, whether it has a likelihood, how sampling cost
grows, how each fails. Here every number in that table is measured on the
installed models. One module a job:

* :mod:`~genproto.compare.measure` -- :func:`evaluate` measures one model into a
  :class:`ModelReport` (:mod:`~genproto.compare.records`): evaluations per sample
  counted by the sampler, samples per second, bits/dim and its kind, and for the
  8x8 digits Frechet distance, conditional accuracy and mode coverage, at several
  step counts for a model with a ``steps`` option.
* :mod:`~genproto.compare.claims` -- :func:`judge` turns the reports into
  :class:`Claim` s from the table :data:`CLAIMS`: for each of the cheatsheet's
  statements, whether it *holds*, *does not hold*, or was *not measured*, with
  the numbers that decided it. The place to edit for a new paradigm or event kind.
* :mod:`~genproto.compare.report` and :mod:`~genproto.compare.chart` --
  :class:`Comparison` renders the result as text, markdown or JSON;
  :func:`comparison_chart` draws quality against cost.
* :mod:`~genproto.compare.run` -- :func:`compare` does all of it for every model
  in a registry (or those named).
* On 2-D points (``genproto compare --data points``), against the exact density:
  :mod:`~genproto.compare.points` measures one model on one toy dataset
  (:func:`evaluate_points`: KL to the truth, coverage of its components, cost),
  :mod:`~genproto.compare.points_records` holds what it measured,
  :mod:`~genproto.compare.points_claims` judges the claims on points
  (:data:`POINTS_CLAIMS`), :mod:`~genproto.compare.points_report` and
  :mod:`~genproto.compare.points_chart` render them, and :func:`compare_points`
  (:mod:`~genproto.compare.run`) runs every model on every dataset it offers.

Conventions, stated once (they are repeated in every report):

* **Likelihood.** ``log_likelihood`` of the 359 digits test images, with
  ``condition=None``: for a class-conditional model that is the marginal
  ``log sum_c p(x|c) p(c)`` with uniform ``p(c)`` (the same quantity an
  unconditional model gives, so the numbers compare); a model whose condition
  is required is evaluated on the true labels instead, and says so. Discrete
  models see the levels (bin width 1); continuous 8x8 models see ``z = x + u``,
  ``u ~ U[0, 1)^64`` (unit-width cells, bin width 1), which makes their
  bits/dim an upper bound on the discrete one (see
  :func:`genproto.metrics.bits_per_dim`).
* **Quality.** Unconditional samples (``condition=None``; a conditional model
  draws each sample's class uniformly) of ``n`` images give the Frechet
  distance against the test split and the class coverage; ``per_class``
  samples of each class give the conditional accuracy. Compare Frechet
  distances at equal ``n`` only, and against :func:`genproto.metrics.frechet_floor`.
* **Cost.** The evaluations the sampler counts per sample of the first run, and
  samples per second of that run's wall time (the machine's load shows in it).
* **Points** (:data:`POINTS_DATASETS`): a model offers a 2-D configuration through its
  ``dataset`` factory option; held-out points ``load_toy2d(name, N, seed=1 + seed)`` (training
  draws seed 0) give ``KL(data || model)``, ``n`` unconditional samples the coverage of the
  density's components; the full statement is :data:`POINTS_CONVENTIONS`.
* **Text models** (:func:`genproto.metrics.text.is_text_model`: a sequence event, a
  text condition, ``to_text``/``from_text``) are models of the Census names: ``n``
  samples per list with ``condition`` = the list's name, and the text metrics of
  :mod:`genproto.metrics.text` per list (cross-entropy on the test names beside the
  truth's, novelty, validity, length distance, the names classifier's accuracy)
  instead of bits/dim and the image metrics; their cost is the mean counted over
  the lists.
"""

from __future__ import annotations

from genproto.compare.chart import comparison_chart, save_chart
from genproto.compare.claims import (
    CLAIMS,
    COLLAPSE_RATIO,
    HYBRID_CLAIMS,
    QUALITY_GAIN,
    Claim,
    Rule,
    Status,
    judge,
)
from genproto.compare.measure import (
    DEFAULT_N,
    DEFAULT_PER_CLASS,
    DEFAULT_STEPS,
    evaluate,
    planned_stages,
    sweep_steps,
)
from genproto.compare.names import (
    DEFAULT_NAMES_N,
    NAMES_STEPS,
    evaluate_names,
    measure_names_truth,
)
from genproto.compare.names_chart import names_chart, save_names_chart
from genproto.compare.names_claims import NAMES_CLAIMS, judge_names
from genproto.compare.names_records import NamesListResult, NamesReport, NamesSweep
from genproto.compare.names_report import NAMES_CONVENTIONS, NamesComparison
from genproto.compare.points import (
    DEFAULT_HELD_OUT,
    DEFAULT_POINTS_N,
    IWAE_K,
    POINTS_DATASETS,
    evaluate_points,
    measure_truth,
)
from genproto.compare.points_chart import points_chart, save_points_chart
from genproto.compare.points_claims import POINTS_CLAIMS, PointsRule, judge_points
from genproto.compare.points_records import PointsReport, PointsStatus, PointsSweep, TruthReport
from genproto.compare.points_report import POINTS_CONVENTIONS, PointsComparison
from genproto.compare.records import ModelReport, Outcome, SweepPoint
from genproto.compare.report import Comparison, equal_steps
from genproto.compare.run import compare, compare_names, compare_points

__all__ = [
    "DEFAULT_NAMES_N",
    "NAMES_CLAIMS",
    "NAMES_CONVENTIONS",
    "NAMES_STEPS",
    "NamesComparison",
    "NamesListResult",
    "NamesReport",
    "NamesSweep",
    "compare_names",
    "evaluate_names",
    "judge_names",
    "measure_names_truth",
    "names_chart",
    "save_names_chart",
    "CLAIMS",
    "COLLAPSE_RATIO",
    "DEFAULT_HELD_OUT",
    "DEFAULT_N",
    "DEFAULT_PER_CLASS",
    "DEFAULT_POINTS_N",
    "DEFAULT_STEPS",
    "HYBRID_CLAIMS",
    "IWAE_K",
    "POINTS_CLAIMS",
    "POINTS_CONVENTIONS",
    "POINTS_DATASETS",
    "QUALITY_GAIN",
    "Claim",
    "Comparison",
    "ModelReport",
    "Outcome",
    "PointsComparison",
    "PointsReport",
    "PointsRule",
    "PointsStatus",
    "PointsSweep",
    "Rule",
    "Status",
    "SweepPoint",
    "TruthReport",
    "compare",
    "compare_points",
    "comparison_chart",
    "equal_steps",
    "evaluate",
    "evaluate_points",
    "judge",
    "judge_points",
    "measure_truth",
    "planned_stages",
    "points_chart",
    "save_chart",
    "save_points_chart",
    "sweep_steps",
]
