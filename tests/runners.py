"""Running things in fresh processes for the tests: pip installs into a scratch folder, a
command that sees them, a script under a 2-process torchrun. A plain module (the tests import
it by name), apart from ``conftest.py``, whose fixtures use it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

Runner = Callable[..., subprocess.CompletedProcess[str]]


def pip_install_target(target: Path, *projects: Path) -> None:
    """``pip install --target``: a real install (wheel built, entry points written)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), *map(str, projects)],
        check=True,
        capture_output=True,
        text=True,
    )


def make_runner(site: Path) -> Runner:
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
