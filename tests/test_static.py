"""The public API is typed and linted: mypy --strict and ruff run as part of the tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mypy_strict_is_clean() -> None:
    pytest.importorskip("mypy")
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    # --no-cache: ruff's cache keeps a file's old verdict when only the project around it
    # changed (a new top-level module changes how imports are sorted)
    proc = subprocess.run([ruff, "check", "--no-cache", "genproto", "tests", "benchmarks",
                           "plugins", "conftest.py"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean_on_every_plugin() -> None:
    """The plugins are checked together: a hybrid imports the parts it is built on."""
    pytest.importorskip("mypy")
    packages = sorted(str(p.parent.relative_to(ROOT))
                      for p in ROOT.glob("plugins/*/genproto_*/__init__.py"))
    assert len(packages) >= 6  # ar, diffusion, flow, gan, latent_diffusion, vae
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", *packages], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
