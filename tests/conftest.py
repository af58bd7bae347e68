"""Shared fixtures: the test plugins, pip-installed for real into a scratch folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
PLUGINS = HERE / "plugins"

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _pip_install_target(target: Path, *projects: Path) -> None:
    """``pip install --target``: a real install (wheel built, entry points written)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), *map(str, projects)],
        check=True,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="session")
def installed_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the good ``genproto-tiny`` and the broken ``genproto-broken``."""
    target = tmp_path_factory.mktemp("site")
    _pip_install_target(target, PLUGINS / "tiny", PLUGINS / "broken")
    return target


def _runner(site: Path) -> Runner:
    """Run commands in a fresh interpreter that sees the plugins pip-installed in ``site``
    (ahead of the environment's own, so they are discovered first)."""

    def run(args: list[str], *, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(site), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        full_env.pop("GENPROTO_PLUGINS", None)
        full_env.pop("GENPROTO_PREFER", None)
        full_env.update(env or {})
        return subprocess.run(args, capture_output=True, text=True, env=full_env, cwd=cwd,
                              timeout=300)

    return run


@pytest.fixture(scope="session")
def run_with_plugins(installed_plugins: Path) -> Runner:
    """Run a command in a fresh interpreter that sees the pip-installed test plugins."""
    return _runner(installed_plugins)


@pytest.fixture(scope="session")
def run_with_hostile_plugins(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """Like ``run_with_plugins``, with ``genproto-hostile`` (plugins that call sys.exit at
    import and in their hook, an impostor registering 'gan', a model named 'rival') and
    ``genproto-rival`` (another 'rival') pip-installed instead."""
    target = tmp_path_factory.mktemp("hostile-site")
    _pip_install_target(target, PLUGINS / "hostile", PLUGINS / "rival")
    return _runner(target)


def run_single_and_torchrun(script: Path, cwd: Path) -> None:
    """Run ``script single`` in one process, then ``script multi`` under a 2-process torchrun
    (plugin-free, one thread each); both must succeed. The script writes its own outputs."""
    env = {**os.environ, "GENPROTO_PLUGINS": "none", "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(script), "single"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    multi = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         str(script), "multi"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert multi.returncode == 0, multi.stderr


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module of tests on tiny tensors: OpenMP's spin-waits between two
    threads cost more than they save there (measured 10x slower while other processes train).
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``; the count is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
