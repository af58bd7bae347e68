"""Shared fixtures: the test plugins, pip-installed for real into a scratch folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from runners import Runner, make_runner, pip_install_target

HERE = Path(__file__).parent
PLUGINS = HERE / "plugins"


@pytest.fixture(scope="session")
def installed_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the good ``genproto-tiny`` and the broken ``genproto-broken``."""
    target = tmp_path_factory.mktemp("site")
    pip_install_target(target, PLUGINS / "tiny", PLUGINS / "broken")
    return target


@pytest.fixture(scope="session")
def run_with_plugins(installed_plugins: Path) -> Runner:
    """Run a command in a fresh interpreter that sees the pip-installed test plugins."""
    return make_runner(installed_plugins)


@pytest.fixture(scope="session")
def run_with_hostile_plugins(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """Like ``run_with_plugins``, with ``genproto-hostile`` (plugins that call sys.exit at
    import and in their hook, an impostor registering 'gan', a model named 'rival') and
    ``genproto-rival`` (another 'rival') pip-installed instead."""
    target = tmp_path_factory.mktemp("hostile-site")
    pip_install_target(target, PLUGINS / "hostile", PLUGINS / "rival")
    return make_runner(target)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module of tests on tiny tensors: OpenMP's spin-waits between two
    threads cost more than they save there (measured 10x slower while other processes train).
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``; the count is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
