"""Sample-quality metrics for genproto, judged by shipped reference classifiers.

* ``classifier.py`` -- :class:`DigitsClassifier`, a small CNN trained on the
  digits train split (0.994 test accuracy); :func:`reference_classifier` loads
  the shipped weights once, on first use.
* ``quality.py`` -- :func:`frechet_distance` (Heusel et al. 2017) and its digits
  version :func:`digits_frechet` with :func:`frechet_floor`;
  :func:`conditional_accuracy`; :func:`mode_coverage`; :func:`bits_per_dim`.
* ``names_classifier.py`` -- :class:`NamesClassifier`, per-list character trigram
  models of the Census names and Bayes' rule (0.71 balanced test accuracy);
  :func:`reference_names_classifier` builds the shipped one on first use.
* ``points.py`` -- a 2-D model against the data's exact density: :func:`kl_to_truth`
  (KL(data || model) with its standard error), :func:`beats_truth` (the "no model beats the
  truth" test) and :func:`component_coverage` (modes covered and precision on a mixture).
* ``text.py`` -- the text metrics of a names model, per list: :func:`cross_entropy`
  beside the truth's, :func:`name_shares` (novelty), :func:`validity`,
  :func:`length_distance`; :func:`text_metrics` and :func:`evaluate_text` do all of them.

The names below are imported on first access (PEP 562), so ``import
genproto.metrics`` reads no weights, no data and not even the submodules, and
``python -m genproto.metrics.classifier --train`` runs its module only once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genproto.metrics.classifier import (
        FEATURE_DIM,
        DigitsClassifier,
        accuracy,
        classifier_features,
        classify,
        reference_classifier,
    )
    from genproto.metrics.names_classifier import (
        NamesClassifier,
        classify_names,
        list_accuracy,
        reference_names_classifier,
    )
    from genproto.metrics.points import (
        ComponentCoverage,
        KLEstimate,
        beats_truth,
        component_coverage,
        kl_to_truth,
    )
    from genproto.metrics.quality import (
        Coverage,
        bits_per_dim,
        conditional_accuracy,
        digits_frechet,
        frechet_distance,
        frechet_floor,
        mode_coverage,
    )
    from genproto.metrics.text import (
        CrossEntropy,
        NameShares,
        TextMetrics,
        cross_entropy,
        evaluate_text,
        is_text_model,
        length_distance,
        name_shares,
        text_metrics,
        validity,
    )

_HOMES = {
    "FEATURE_DIM": "classifier",
    "DigitsClassifier": "classifier",
    "accuracy": "classifier",
    "classifier_features": "classifier",
    "classify": "classifier",
    "reference_classifier": "classifier",
    "ComponentCoverage": "points",
    "KLEstimate": "points",
    "beats_truth": "points",
    "component_coverage": "points",
    "kl_to_truth": "points",
    "Coverage": "quality",
    "bits_per_dim": "quality",
    "conditional_accuracy": "quality",
    "digits_frechet": "quality",
    "frechet_distance": "quality",
    "frechet_floor": "quality",
    "mode_coverage": "quality",
    "NamesClassifier": "names_classifier",
    "classify_names": "names_classifier",
    "list_accuracy": "names_classifier",
    "reference_names_classifier": "names_classifier",
    "CrossEntropy": "text",
    "NameShares": "text",
    "TextMetrics": "text",
    "cross_entropy": "text",
    "evaluate_text": "text",
    "is_text_model": "text",
    "length_distance": "text",
    "name_shares": "text",
    "text_metrics": "text",
    "validity": "text",
}

__all__ = [
    "FEATURE_DIM",
    "ComponentCoverage",
    "Coverage",
    "CrossEntropy",
    "DigitsClassifier",
    "KLEstimate",
    "NameShares",
    "NamesClassifier",
    "TextMetrics",
    "accuracy",
    "beats_truth",
    "bits_per_dim",
    "classifier_features",
    "classify",
    "classify_names",
    "component_coverage",
    "conditional_accuracy",
    "cross_entropy",
    "digits_frechet",
    "evaluate_text",
    "frechet_distance",
    "frechet_floor",
    "is_text_model",
    "kl_to_truth",
    "length_distance",
    "list_accuracy",
    "mode_coverage",
    "name_shares",
    "reference_classifier",
    "reference_names_classifier",
    "text_metrics",
    "validity",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'genproto.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"genproto.metrics.{home}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
