"""The ``pytest11`` plugin: ``pytest --genproto-model NAME`` checks installed models.

Registered as the entry point ``pytest11: genproto``, so it is loaded by every pytest run in an
environment where genproto is installed. It is therefore import-light (nothing but pytest at
import: no torch, no Hypothesis, no plugin loading) and inert until a genproto option is given.

* ``--genproto-model NAME`` (repeatable) adds one test item per (model, property), with node
  id ``genproto::NAME::PROPERTY``; each model is built once and each property runs once.
* ``--genproto-profile ci|thorough`` (or the registered names ``genproto-ci`` /
  ``genproto-thorough``) picks the Hypothesis settings for these items and for plugins' own
  :func:`~genproto.testing.contract_tests`.
* ``--genproto-seed S`` seeds what the suite draws (Hypothesis's examples, the statistical
  checks' samples) instead of the fixed default draws, for both kinds of items.
* ``--genproto-property P`` (repeatable) keeps only the items of the properties named, for both
  kinds of items; a property's prerequisites still run, unreported.
* ``--genproto-truth NAME2D`` names the known density of the ``--genproto-model`` models' data
  (a toy2d density) for the ``truth`` property (a plugin's own ``contract_tests`` take
  ``truth=``); an unknown name is a usage error. Without it, a model whose factory option
  ``dataset`` names a toy2d density is held to that density.

The same choices as ``genproto check NAME --profile ci --seed S --property P --truth NAME2D``.
"""

from __future__ import annotations

from typing import Any

import pytest

PROFILES = ("ci", "thorough", "genproto-ci", "genproto-thorough")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("genproto", "genproto contract suite")
    group.addoption(
        "--genproto-model", action="append", default=[], metavar="NAME", dest="genproto_model",
        help="run the genproto contract suite on the installed model NAME (repeatable)",
    )
    group.addoption(
        "--genproto-profile", default=None, choices=PROFILES, dest="genproto_profile",
        help="Hypothesis profile of the contract suite: ci (the default) or thorough",
    )
    group.addoption(
        "--genproto-seed", default=None, type=int, metavar="S", dest="genproto_seed",
        help="seed of the contract suite's draws (default: its fixed, derandomized ones)",
    )
    group.addoption(
        "--genproto-property", action="append", default=[], metavar="P",
        dest="genproto_property",
        help="run only this contract property's tests (repeatable)",
    )
    group.addoption(
        "--genproto-truth", default=None, metavar="NAME2D", dest="genproto_truth",
        help="the known density (a toy2d name) of the --genproto-model models' data, for the "
             "truth property (default: the model's dataset option, if it names one)",
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

    def __init__(self, model: str, profile: str, seed: int | None, truth: str | None) -> None:
        self.model = model
        self.profile = profile
        self.seed = seed
        self.truth = truth
        self._session: Any = None

    def session(self) -> Any:
        if self._session is None:
            from genproto.testing.suite import ContractSession

            self._session = ContractSession(self.model, profile=self.profile, seed=self.seed,
                                            truth=self.truth)
        return self._session


class ContractCollector(pytest.Collector):
    """The contract items of every ``--genproto-model``: one per (model, property)."""

    def __init__(self, *, names: list[str], profile: str, seed: int | None,
                 properties: tuple[str, ...], truth: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.names = names
        self.profile = profile
        self.seed = seed
        self.properties = properties
        self.truth = truth

    def collect(self) -> list[pytest.Item]:
        out: list[pytest.Item] = []
        for name in self.names:
            runner = _Runner(name, self.profile, self.seed, self.truth)
            out.extend(
                ContractItem.from_parent(self, name=f"{name}::{prop}", model=name, prop=prop,
                                         runner=runner)
                for prop in self.properties
            )
        return out


def _chosen_properties(config: pytest.Config) -> tuple[str, ...]:
    """``--genproto-property`` values in the suite's order (all when none); a usage error for
    an unknown one."""
    from genproto.testing import PROPERTY_NAMES  # import-light

    asked = list(dict.fromkeys(config.getoption("genproto_property") or []))
    unknown = [p for p in asked if p not in PROPERTY_NAMES]
    if unknown:
        raise pytest.UsageError(f"--genproto-property {unknown[0]}: not a contract property; "
                                f"allowed: {', '.join(PROPERTY_NAMES)}")
    return tuple(p for p in PROPERTY_NAMES if not asked or p in asked)


def _chosen_seed(config: pytest.Config) -> int | None:
    value = config.getoption("genproto_seed")
    if value is None:
        return None
    from genproto.errors import GenprotoError
    from genproto.streams import check_seed

    try:
        return check_seed(value)
    except GenprotoError as exc:
        raise pytest.UsageError(f"--genproto-seed {value}: {exc}") from None


def _chosen_truth(config: pytest.Config) -> str | None:
    value = config.getoption("genproto_truth")
    if value is None:
        return None
    from genproto.errors import GenprotoError
    from genproto.testing.truth import resolve_truth

    try:
        resolve_truth(value, argument="--genproto-truth")
    except GenprotoError as exc:
        raise pytest.UsageError(str(exc)) from None
    return str(value)


def _deselect_other_properties(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop ``contract_tests`` items of properties ``--genproto-property`` did not name."""
    if not config.getoption("genproto_property"):
        return
    keep = set(_chosen_properties(config))
    dropped = [item for item in items
               if getattr(getattr(item, "obj", None), "genproto_property", None)
               not in (None, *keep)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so they apply to these items too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    _deselect_other_properties(config, items)
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
                                              names=names, profile=profile,
                                              seed=_chosen_seed(config),
                                              properties=_chosen_properties(config),
                                              truth=_chosen_truth(config))
    # collected through the usual hooks, so reports count them like any other test
    collector.ihook.pytest_collectstart(collector=collector)
    report = collector.ihook.pytest_make_collect_report(collector=collector)
    collector.ihook.pytest_collectreport(report=report)
    items.extend(item for item in report.result if isinstance(item, pytest.Item))
