"""README is runnable: its quickstart matches CI and its Python example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
Runner = Callable[..., subprocess.CompletedProcess[str]]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_quickstart_is_exactly_two_commands_and_ci_runs_them() -> None:
    install, test = (b.strip() for b in blocks("bash")[:2])
    ci = (ROOT / ".ci" / "run").read_text()
    assert "torch==2.13.0" in install
    assert test in ci  # CI runs README's test command
    for step in install.split(" && ")[:-1]:  # and installs the same way (not the main job)
        assert step in ci, step


def test_python_example_runs(run_with_plugins: Runner) -> None:
    (example,) = blocks("python")
    proc = run_with_plugins([sys.executable, "-c", example])
    assert proc.returncode == 0, proc.stderr
