"""``contract_tests``: the contract suite as module-level pytest tests in a plugin's own test file.

A plugin's whole contract test file::

    # tests/test_contract.py
    from genproto.testing import contract_tests
    from genproto_mymodel import MyModel

    globals().update(contract_tests(factory=MyModel, tiny=lambda: MyModel(width=8)))

This defines one test per property (``test_contract_shape``, ``test_contract_likelihood``, ...)
and a module-scoped fixture, ``genproto_contract``, that builds the model once and runs each
property at most once. The tests are plain module-level functions and Hypothesis runs *inside*
them, so two plugins' contract files in one pytest run do not trip Hypothesis's
``differing_executors`` health check (which shared base classes with ``@given`` methods do), and
no function-scoped fixture meets ``@given``. A failed property fails its test with the message
and the one-line reproduction; a property that does not apply, or whose prerequisite failed, is
skipped with the reason; an inconclusive one is skipped with what could not be decided (it is
not a pass). ``pytest --genproto-profile thorough`` runs more examples, ``--genproto-seed S``
draws other ones (and other samples for the statistical checks), and ``--genproto-property P``
runs only the tests of the properties named (the others are deselected).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from genproto.testing import PROPERTY_NAMES
from genproto.testing._core import ModelSource
from genproto.testing.strategies import CI_PROFILE
from genproto.testing.suite import ContractSession, Status
from genproto.testing.truth import resolve_truth

__all__ = ["FIXTURE", "contract_tests"]

#: The name of the module-scoped fixture holding the :class:`ContractSession`.
FIXTURE = "genproto_contract"


def contract_tests(
    factory: ModelSource,
    *,
    tiny: ModelSource | None = None,
    exact_log_prob: Callable[[torch.Tensor], torch.Tensor] | None = None,
    properties: Iterable[str] | None = None,
    profile: str | None = None,
    seed: int | None = None,
    truth: Any = None,
) -> dict[str, Any]:
    """Module globals for a contract test file: a fixture and one test per property.

    Args:
        factory: builds the model (a class or a function without arguments); a ready model works
            too, but then persistence needs it to come from a registry.
        tiny: a small configuration (or its factory) for the checks that sum or integrate over
            the event space.
        exact_log_prob: the known log-density of the (tiny) model's class marginal, if any.
        properties: the properties to test (default: all).
        profile: the Hypothesis profile; default ``--genproto-profile`` or ``"ci"``.
        seed: the suite's seed; default ``--genproto-seed`` or none (the fixed draws).
        truth: the known density of the model's data for the ``truth`` property (a toy2d name
            or an object with ``log_prob(x)`` and ``sample(n, generator)``); default: inferred
            from the model's factory option ``dataset=`` when it names a toy2d density.

    Returns:
        ``{"genproto_contract_fixture": fixture, "test_contract_<property>": test, ...}`` for
        ``globals().update(...)``.
    """
    import pytest

    wanted = list(PROPERTY_NAMES if properties is None else properties)
    unknown = [name for name in wanted if name not in PROPERTY_NAMES]
    if unknown:
        raise ValueError(f"unknown contract properties {unknown}; known: {PROPERTY_NAMES}")
    known = None if truth is None else resolve_truth(truth)  # a bad one fails at collection

    @pytest.fixture(scope="module", name=FIXTURE)
    def session(request: pytest.FixtureRequest) -> ContractSession:
        chosen = profile or request.config.getoption("genproto_profile", None) or CI_PROFILE
        drawn = seed if seed is not None else request.config.getoption("genproto_seed", None)
        return ContractSession(factory, tiny=tiny, exact_log_prob=exact_log_prob,
                               profile=chosen, seed=drawn, truth=known)

    out: dict[str, Any] = {f"{FIXTURE}_fixture": session}
    for name in wanted:
        test = _make_test(name)
        out[test.__name__] = test
    return out


def _make_test(name: str) -> Callable[[ContractSession], None]:
    def test(genproto_contract: ContractSession) -> None:
        verdict(genproto_contract, name)

    test.__name__ = test.__qualname__ = f"test_contract_{name}"
    test.__doc__ = f"The model keeps the contract property {name!r}."
    test.genproto_property = name  # type: ignore[attr-defined]  # --genproto-property selects
    return test


def verdict(session: ContractSession, name: str) -> None:
    """Turn one property's result into a pytest outcome: pass, fail, or skip with the reason
    (an inconclusive property is skipped with ``INCONCLUSIVE: ...``, never passed)."""
    import pytest

    result = session.result(name)
    if result.status is Status.FAILED:
        pytest.fail(f"{session.label}: {result.line()}", pytrace=False)
    if result.status is Status.INCONCLUSIVE:
        pytest.skip(f"INCONCLUSIVE ({result.seconds:.2f} s): {result.message}")
    if result.status is not Status.PASSED:
        pytest.skip(result.message)
