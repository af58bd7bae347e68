"""docs/writing-a-plugin.md is runnable: its plugin installs, and its commands pass.

Every code block tagged ``file=PATH`` is written to a scratch plugin folder, which is
pip-installed (into a scratch target, as conftest.py does for the test plugins). Then the
page's commands run in a fresh interpreter that sees it: the plugin's contract tests under
pytest, ``genproto check affine`` and the ``python run`` block; the failure the page shows is
reproduced (times aside). The ``python streams`` block, one line per ``KeyedStreams`` method, runs
here. (``pytest --genproto-model`` is run on the tiny plugin in test_contract_cli.py.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from runners import pip_install_target

from genproto.streams import KeyedStreams
from genproto.testing import PROPERTY_NAMES

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "writing-a-plugin.md").read_text()
FENCE = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", flags=re.S)


def _blocks() -> list[tuple[str, str, str]]:
    """(language, info after the language, body) of every fenced block."""
    return [(m[1], m[2].strip(), m[3]) for m in FENCE.finditer(PAGE)]


def _files() -> dict[str, str]:
    return {info.removeprefix("file="): body for _, info, body in _blocks()
            if info.startswith("file=")}


def test_page_has_the_plugin_files_and_a_runnable_example() -> None:
    assert set(_files()) == {"pyproject.toml", "genproto_affine/__init__.py",
                             "tests/test_contract.py"}
    assert len(_files()["tests/test_contract.py"].strip().splitlines()) <= 15
    assert [body for lang, info, body in _blocks() if (lang, info) == ("python", "run")]


@pytest.fixture(scope="module")
def affine_plugin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The page's plugin on disk and pip-installed; the environment that sees it."""
    project = tmp_path_factory.mktemp("genproto-affine")
    for name, body in _files().items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    target = tmp_path_factory.mktemp("site-affine")
    pip_install_target(target, project)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
    env["GENPROTO_PLUGINS"] = "affine"
    env["OMP_NUM_THREADS"] = "1"
    return project, env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_the_plugins_contract_tests_pass(affine_plugin: tuple[Path, dict[str, str]]) -> None:
    project, env = affine_plugin
    proc = _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                 "tests/test_contract.py"], env, project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # truth is skipped: the affine flow's data has no known density
    assert f"{len(PROPERTY_NAMES) - 1} passed, 1 skipped" in proc.stdout


@pytest.mark.slow
def test_genproto_check_and_check_model_pass(
    affine_plugin: tuple[Path, dict[str, str]],
) -> None:
    project, env = affine_plugin
    (example,) = [body for lang, info, body in _blocks() if (lang, info) == ("python", "run")]
    # `genproto check affine`, then the page's Python, in one interpreter (one torch import)
    code = ("import sys\nfrom genproto.cli.main import main\n"
            "print('exit', main(['check', 'affine']), flush=True)\n" + example)
    proc = _run([sys.executable, "-c", code], env, project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check, _, rest = proc.stdout.partition("exit 0\n")
    assert "affine  conformance        PASS" in check
    assert check.rstrip().endswith("all properties hold")
    assert "affine  persistence        PASS" in rest


@pytest.mark.slow
def test_the_failure_shown_on_the_page_is_what_the_suite_says(
    affine_plugin: tuple[Path, dict[str, str]],
) -> None:
    """Section 6: noise from torch.randn fails determinism with the message the page shows."""
    project, env = affine_plugin
    code = (
        "import torch\n"
        "from genproto.testing import check_model\n"
        "from genproto_affine import AffineFlow\n"
        "class Broken(AffineFlow):\n"
        "    def sample_batch(self, streams, condition, **options):\n"
        "        return self.flow(torch.randn(len(streams), 2), condition)\n"
        "print(check_model(Broken, properties=['determinism', 'batch_invariance']).format())\n"
    )
    proc = _run([sys.executable, "-c", code], env, project)
    assert proc.returncode == 0, proc.stderr
    shown = [line for line in PAGE.splitlines()
             if line.startswith(("affine  determinism", "affine  batch_invariance"))]
    assert len(shown) == 2
    assert _untimed(proc.stdout.splitlines()) == _untimed(shown)  # the page's lines, verbatim


def _untimed(lines: list[str]) -> list[str]:
    """Lines with each property's time, ``(0.01 s)``, blanked: it varies from run to run."""
    return [re.sub(r"\(\d+\.\d\d s\)", "(t s)", line) for line in lines]


def test_the_streams_block_shows_every_method_a_plugin_uses_and_runs() -> None:
    (block,) = [body for lang, info, body in _blocks() if (lang, info) == ("python", "streams")]
    methods = {"normal", "uniform", "gumbel", "categorical", "randint", "truncated_normal",
               "rademacher", "words", "fork", "select", "for_range"}
    assert {m for m in methods if f".{m}(" in block} == methods
    assert {m for m in methods if hasattr(KeyedStreams, m)} == methods  # the real names
    exec(compile(block, "writing-a-plugin.md (streams)", "exec"), {})


def test_the_page_says_what_is_off_limits_and_what_seed_means() -> None:
    text = " ".join(PAGE.split())
    for phrase in ("Off limits in `sample_batch`", "`torch.randn`", "`.sample()`",
                   "`numpy.random`", "`random`", "draws from the stream *(seed, i)*",
                   "`seed=` is therefore the seed of an estimator's random numbers",
                   "`exact_determinism`", "`--seed S`", "`--profile ci`", "`--property P`",
                   "`INCONCLUSIVE`", "converted to the event's float32"):
        assert phrase in text, phrase


def test_the_prompted_token_example_runs() -> None:
    """The second worked example (a text prompt, variable-length tokens, a cost bound) runs
    as printed: batch-size invariant, counted under its bound, normalised per prompt."""
    (block,) = [body for lang, info, body in _blocks() if (lang, info) == ("python", "prompted")]
    namespace: dict[str, object] = {}
    exec(compile(block, "writing-a-plugin.md (prompted)", "exec"), namespace)
    assert "Prompted" in namespace
