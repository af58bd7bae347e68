"""The suite's other two front ends: ``genproto check`` and ``pytest --genproto-model``.

The installed-plugin runs use the pip-installed ``genproto-tiny`` (see conftest.py) in a fresh
interpreter; the failing cases register broken models in-process in a fresh default registry.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from contract_models import BROKEN
from runners import Runner

from genproto import registry
from genproto.cli.main import main
from genproto.options import Option
from genproto.testing import PROPERTY_NAMES
from genproto.testing.reference import Categorical, GaussianMixture

GENPROTO = [sys.executable, "-m", "genproto.cli.main"]
ONLY_TINY = {"GENPROTO_PLUGINS": "tiny", "OMP_NUM_THREADS": "1"}


@pytest.fixture
def in_process_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A default registry without entry-point plugins, holding a good and a broken model."""
    monkeypatch.setenv("GENPROTO_PLUGINS", "")
    registry.reset()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    registry.register("categorical", Categorical, capabilities=Categorical().capabilities)
    factory = BROKEN["ten_calls"][0]
    registry.register("ten_calls", factory, capabilities=GaussianMixture().capabilities)
    yield
    registry.reset()
    torch.set_num_threads(before)


def test_check_prints_one_line_per_property_and_fails_on_a_failure(
    in_process_models: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "categorical"]) == 0
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if line.startswith("categorical  ")]
    assert len(lines) == len(PROPERTY_NAMES)
    assert all(re.search(r" \(\d+\.\d\d s\)", line) for line in lines)  # time per property
    assert "categorical  shape              PASS  (" in "\n".join(out)
    assert out[-1].startswith("1 model(s) checked")
    assert out[-1].endswith("all properties hold")

    assert main(["check", "ten_calls", "categorical"]) == 1
    text = capsys.readouterr().out
    line = next(line for line in text.splitlines() if " cost " in line and "ten_calls" in line)
    assert "FAIL" in line
    assert "counted 10" in line
    assert "counterexample: n=3" in line
    assert "reproduce: model.sample_run(3" in line
    assert "1 failed" in text


def test_check_json_and_property_selection(
    in_process_models: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "ten_calls", "--json", "--property", "cost"]) == 1
    [report] = json.loads(capsys.readouterr().out)
    assert report["model"] == "ten_calls"
    assert report["ok"] is False
    assert [r["property"] for r in report["results"]] == ["cost"]
    assert report["results"][0]["status"] == "failed"
    assert report["results"][0]["example"]["n"] == 3


class Wrapped:
    """A GenerativeModel that is not a genproto.Model: no declared networks to count."""

    def __init__(self) -> None:
        self._inner = GaussianMixture()
        self.name = "wrapped"
        self.capabilities = self._inner.capabilities

    def cost(self, **options: Any) -> Any:
        return self._inner.cost(**options)

    def sample(self, n: int, **kwargs: Any) -> torch.Tensor:
        return self._inner.sample(n, **kwargs)

    def log_likelihood(self, x: torch.Tensor, condition: Any = None, **options: Any) -> Any:
        return self._inner.log_likelihood(x, condition, **options)

    def save(self, directory: str) -> Any:
        return self._inner.save(directory)


def test_check_reports_not_applicable_with_the_declared_reason(
    in_process_models: None, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.register("wrapped", Wrapped, capabilities=GaussianMixture().capabilities)
    assert main(["check", "wrapped", "--property", "cost", "--property", "persistence"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"wrapped  cost               N/A   \(\d+\.\d\d s\)  not applicable: not a "
                     r"genproto\.Model", out)
    assert "genproto.load rebuilds Model subclasses only" in out


def test_check_unknown_model_or_property_is_a_one_line_error(
    in_process_models: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "categorial"]) == 2
    assert "Did you mean 'categorical'" in capsys.readouterr().err
    assert main(["check", "categorical", "--property", "shapes"]) == 2
    assert "allowed: conformance" in capsys.readouterr().err


@pytest.mark.slow
def test_genproto_check_on_an_installed_plugin(run_with_plugins: Runner) -> None:
    proc = run_with_plugins([*GENPROTO, "check", "tiny", "--json"], env=ONLY_TINY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [report] = json.loads(proc.stdout)
    assert report["ok"]
    assert len(report["results"]) == len(PROPERTY_NAMES)
    status = {r["property"]: r["status"] for r in report["results"]}
    assert status.pop("truth") == "not-applicable"  # no known density of its data
    assert set(status.values()) == {"passed"}
    assert all(r["seconds"] >= 0 for r in report["results"])


@pytest.mark.slow
def test_pytest_plugin_runs_one_item_per_property(run_with_plugins: Runner,
                                                  tmp_path: Path) -> None:
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--genproto-model", "tiny",
            "-v", str(tmp_path)]
    # with the known density of its data every property runs (tiny: three Gaussians on the ring)
    proc = run_with_plugins([*args[:-1], "--genproto-truth", "eight_gaussians", str(tmp_path)],
                            env=ONLY_TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "genproto::tiny::shape PASSED" in proc.stdout
    assert f"{len(PROPERTY_NAMES)} passed" in proc.stdout

    proc = run_with_plugins([*args, "--collect-only", "-q", "-k", "likelihood"], env=ONLY_TINY,
                            cwd=tmp_path)
    total = len(PROPERTY_NAMES)
    assert f"2/{total} tests collected ({total - 2} deselected)" in proc.stdout, proc.stdout

    # the same choices as genproto check: --genproto-property, --genproto-seed, a short profile
    proc = run_with_plugins([*args[:-2], "--genproto-property", "shape", "--genproto-property",
                             "persistence", "--genproto-seed", "5", "--genproto-profile", "ci",
                             "-v", str(tmp_path)], env=ONLY_TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "genproto::tiny::shape PASSED" in proc.stdout
    assert "genproto::tiny::persistence PASSED" in proc.stdout
    assert "2 passed" in proc.stdout

    proc = run_with_plugins([*args[:-2], "--genproto-property", "shapes", str(tmp_path)],
                            env=ONLY_TINY, cwd=tmp_path)
    assert proc.returncode == 4
    assert "allowed: conformance" in proc.stderr

    proc = run_with_plugins([*args[:-2], "--genproto-model", "tinny", str(tmp_path)],
                            env=ONLY_TINY, cwd=tmp_path)
    assert proc.returncode == 4  # a usage error, before anything runs
    assert "Did you mean 'tiny'" in proc.stderr


def test_pytest_plugin_is_import_light_and_inert() -> None:
    code = ("import sys, genproto.testing.pytest_plugin, genproto.testing; "
            "print(sorted(m for m in ('torch', 'hypothesis', 'genproto.registry') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip() == "[]"


def test_check_with_a_bad_model_option_is_a_usage_error_not_a_contract_failure(
    in_process_models: None, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.register(
        "sized", lambda components=3: GaussianMixture(),
        capabilities=GaussianMixture().capabilities,
        options=[Option("components", int, 3, "mixture components", minimum=1, maximum=8)],
    )
    assert main(["check", "sized", "-M", "components=-1"]) == 2
    captured = capsys.readouterr()
    assert "PASS" not in captured.out
    assert "FAIL" not in captured.out
    assert "'components'" in captured.err
    assert "-1" in captured.err


def test_check_seed_profile_and_property_flags(
    in_process_models: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for profile in ("ci", "genproto-ci"):
        assert main(["check", "categorical", "--profile", profile, "--seed", "3",
                     "--property", "exact_determinism", "--json"]) == 0
        [report] = json.loads(capsys.readouterr().out)
        assert report["profile"] == "genproto-ci"
        assert report["seed"] == 3
        assert [r["property"] for r in report["results"]] == ["exact_determinism"]
    for bad in (["--seed", "-1"], ["--profile", "fast"]):  # checked where argparse reads them
        with pytest.raises(SystemExit) as exit_info:
            main(["check", "categorical", *bad])
        assert exit_info.value.code == 2
        assert bad[0] in capsys.readouterr().err


def test_check_help_documents_seed_profile_and_property(
    capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--seed S", "--profile {ci,thorough,genproto-ci,genproto-thorough}",
                 "--property P", "exact_determinism", "INCONCLUSIVE"):
        assert flag in text


def test_check_reports_an_inconclusive_property_without_failing(
    in_process_models: None, capsys: pytest.CaptureFixture[str]
) -> None:
    def peaked() -> GaussianMixture:  # too narrow for the quadrature grid
        return GaussianMixture(std=0.002)

    registry.register("peaked", peaked, capabilities=peaked().capabilities)
    assert main(["check", "peaked", "--property", "likelihood"]) == 0  # not a failure
    out = capsys.readouterr().out
    assert "peaked  likelihood         INCONCLUSIVE  (" in out
    assert "PASS" not in out.splitlines()[0]
    assert out.rstrip().endswith("no property failed, 1 inconclusive (peaked: likelihood)")
    assert main(["check", "peaked", "--property", "likelihood", "--json"]) == 0
    [report] = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["inconclusive"] == ["likelihood"]
    assert report["results"][0]["status"] == "inconclusive"
    assert "too peaked for the grid" in report["results"][0]["message"]


def test_contract_tests_honour_the_property_seed_and_profile_options() -> None:
    """A plugin's own contract_tests file takes --genproto-property/-seed/-profile too."""
    here = Path(__file__).parent
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            str(here / "test_contract_tiny.py"), "--genproto-property", "shape",
            "--genproto-property", "likelihood_values", "--genproto-seed", "11",
            "--genproto-profile", "thorough"]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=here.parent,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    total = len(PROPERTY_NAMES)
    assert f"2 passed, {total - 2} deselected" in proc.stdout, proc.stdout
