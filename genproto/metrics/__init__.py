"""Sample-quality metrics for genproto, judged by a shipped reference digits classifier.

* ``classifier.py`` -- :class:`DigitsClassifier`, a small CNN trained on the
  digits train split (0.994 test accuracy); :func:`reference_classifier` loads
  the shipped weights once, on first use.
* ``quality.py`` -- :func:`frechet_distance` (Heusel et al. 2017) and its digits
  version :func:`digits_frechet` with :func:`frechet_floor`;
  :func:`conditional_accuracy`; :func:`mode_coverage`; :func:`bits_per_dim`.

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
    from genproto.metrics.quality import (
        Coverage,
        bits_per_dim,
        conditional_accuracy,
        digits_frechet,
        frechet_distance,
        frechet_floor,
        mode_coverage,
    )

_HOMES = {
    "FEATURE_DIM": "classifier",
    "DigitsClassifier": "classifier",
    "accuracy": "classifier",
    "classifier_features": "classifier",
    "classify": "classifier",
    "reference_classifier": "classifier",
    "Coverage": "quality",
    "bits_per_dim": "quality",
    "conditional_accuracy": "quality",
    "digits_frechet": "quality",
    "frechet_distance": "quality",
    "frechet_floor": "quality",
    "mode_coverage": "quality",
}

__all__ = [
    "FEATURE_DIM",
    "Coverage",
    "DigitsClassifier",
    "accuracy",
    "bits_per_dim",
    "classifier_features",
    "classify",
    "conditional_accuracy",
    "digits_frechet",
    "frechet_distance",
    "frechet_floor",
    "mode_coverage",
    "reference_classifier",
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
