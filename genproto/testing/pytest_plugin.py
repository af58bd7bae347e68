"""The ``pytest11`` plugin: ``pytest --genproto-model NAME`` checks installed models.

Registered as the entry point ``pytest11: genproto``, so it is loaded by every pytest run in an
environment where genproto is installed. It is therefore import-light (nothing but pytest at
import: no torch, no Hypothesis, no plugin loading) and inert until a genproto option is given.

* ``--genproto-model NAME`` (repeatable) adds one test item per (model, property), with node
  id ``genproto::NAME::PROPERTY``; each model is built once and each property runs once.
* ``--genproto-profile genproto-ci|genproto-thorough`` picks the Hypothesis settings for these
  items and for plugins' own :func:`~genproto.testing.contract_tests`.
"""

from __future__ import annotations

from typing import Any

import pytest

PROFILES = ("genproto-ci", "genproto-thorough")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("genproto", "genproto contract suite")
    group.addoption(
        "--genproto-model", action="append", default=[], metavar="NAME", dest="genproto_model",
        help="run the genproto contract suite on the installed model NAME (repeatable)",
    )
    group.addoption(
        "--genproto-profile", default=None, choices=PROFILES, dest="genproto_profile",
        help="Hypothesis profile of the contract suite (default: genproto-ci)",
    )


class ContractItem(pytest.Item):
    """One contract property of one installed model."""

    def __init__(self, *, model: str, prop: str, runner: _Runner, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.prop = prop
        self.runner = runner

    def runtest(self) -> None:
        from genproto.testing.contract import verdict

        verdict(self.runner.session(), self.prop)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "genproto", None, f"{self.model}::{self.prop}"


class _Runner:
    """Builds the :class:`~genproto.testing.ContractSession` of one model on first use."""

    def __init__(self, model: str, profile: str) -> None:
        self.model = model
        self.profile = profile
        self._session: Any = None

    def session(self) -> Any:
        if self._session is None:
            from genproto.testing.suite import ContractSession

            self._session = ContractSession(self.model, profile=self.profile)
        return self._session


class ContractCollector(pytest.Collector):
    """The contract items of every ``--genproto-model``: one per (model, property)."""

    def __init__(self, *, names: list[str], profile: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.names = names
        self.profile = profile

    def collect(self) -> list[pytest.Item]:
        from genproto.testing.suite import PROPERTY_NAMES

        out: list[pytest.Item] = []
        for name in self.names:
            runner = _Runner(name, self.profile)
            out.extend(
                ContractItem.from_parent(self, name=f"{name}::{prop}", model=name, prop=prop,
                                         runner=runner)
                for prop in PROPERTY_NAMES
            )
        return out


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so they apply to these items too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    names: list[str] = list(dict.fromkeys(config.getoption("genproto_model") or []))
    if not names:
        return
    from genproto import registry
    from genproto.errors import GenprotoError

    for name in names:
        try:
            registry.default().entry(name)
        except GenprotoError as exc:
            raise pytest.UsageError(f"--genproto-model {name}: {exc}") from None
    profile = config.getoption("genproto_profile") or PROFILES[0]
    collector = ContractCollector.from_parent(session, name="genproto", nodeid="genproto",
                                              names=names, profile=profile)
    # collected through the usual hooks, so reports count them like any other test
    collector.ihook.pytest_collectstart(collector=collector)
    report = collector.ihook.pytest_make_collect_report(collector=collector)
    collector.ihook.pytest_collectreport(report=report)
    items.extend(item for item in report.result if isinstance(item, pytest.Item))
