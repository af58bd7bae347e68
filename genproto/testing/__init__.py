"""genproto's contract suite: the properties every model must keep, and three ways to run them.

* :func:`check_model` -- run every property on a model (or a factory, or an installed model's
  name) and get a :class:`Report`; ``check_model(...).raise_for_failures()`` in a test.
* :func:`contract_tests` -- module-level pytest tests for a plugin's own test suite, one per
  property, fed by a module-scoped fixture (a plugin's contract test file is a few lines).
* ``pytest --genproto-model NAME`` (the ``pytest11`` plugin :mod:`genproto.testing.pytest_plugin`)
  and ``genproto check NAME`` -- the same properties on installed models.

Each front end takes a Hypothesis profile (``"ci"``, the default, or ``"thorough"``), a seed for
everything the suite draws, and the properties to run; every verdict (PASS, FAIL, INCONCLUSIVE,
N/A, SKIP) carries its time.

The properties live in :mod:`genproto.testing.properties`, :mod:`genproto.testing.likelihood`
and :mod:`genproto.testing.truth` (no model beats the known density of its data); Hypothesis
strategies and the ``"ci"`` (``"genproto-ci"``) / ``"thorough"`` (``"genproto-thorough"``)
settings profiles in :mod:`genproto.testing.strategies`; the statistics in
:mod:`genproto.testing.stats`; correct reference models in :mod:`genproto.testing.reference`.

Importing this package is cheap (no torch, no Hypothesis): the names below load on first use,
so the pytest plugin costs nothing in test runs that do not ask for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genproto.errors import ContractViolation
    from genproto.testing._core import NotApplicable
    from genproto.testing.contract import contract_tests
    from genproto.testing.suite import (
        ContractSession,
        PropertyResult,
        Report,
        Status,
        check_model,
    )

__all__ = [
    "PROPERTY_NAMES",
    "ContractSession",
    "ContractViolation",
    "NotApplicable",
    "PropertyResult",
    "Report",
    "Status",
    "check_model",
    "contract_tests",
]

#: The contract's properties, in the order they run (here, not in :mod:`suite`, so that the
#: command line can list them without importing torch or Hypothesis).
PROPERTY_NAMES = (
    "conformance", "shape", "determinism", "batch_invariance", "cost", "likelihood_values",
    "exact_determinism", "likelihood", "conditioning", "bad_input", "side_effects",
    "persistence", "truth",
)

_WHERE = {
    "ContractViolation": "genproto.errors",
    "NotApplicable": "genproto.testing._core",
    "contract_tests": "genproto.testing.contract",
    "ContractSession": "genproto.testing.suite",
    "PropertyResult": "genproto.testing.suite",
    "Report": "genproto.testing.suite",
    "Status": "genproto.testing.suite",
    "check_model": "genproto.testing.suite",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
