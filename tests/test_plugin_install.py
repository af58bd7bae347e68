"""Plugins are found through a real ``pip install`` and their entry points.

The test plugins under ``tests/plugins`` are built and installed with pip into
a scratch folder (see ``conftest.py``); a fresh interpreter with that folder on
its path must find the good plugin and report the broken one, which raises at
import, while the good one still works. Nothing in the registry is patched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

Runner = Callable[..., subprocess.CompletedProcess[str]]

GENPROTO = [sys.executable, "-m", "genproto.cli.main"]


def test_installed_plugin_is_found_and_samples(run_with_plugins: Runner) -> None:
    code = (
        "import genproto, json\n"
        "m = genproto.registry.get('tiny', sigma=0.25)\n"
        "x = m.sample(5, condition=2, seed=1)\n"
        "print(json.dumps({'shape': list(x.shape), 'names': genproto.registry.names(),"
        " 'origin': [m.origin.distribution, m.origin.version]}))\n"
    )
    proc = run_with_plugins([sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["shape"] == [5, 2]
    assert "tiny" in out["names"]  # the project's own plugins may be installed too
    assert out["origin"] == ["genproto-tiny", "0.3.1"]


def test_broken_plugin_is_reported_with_distribution_version_and_cause(
    run_with_plugins: Runner,
) -> None:
    proc = run_with_plugins([*GENPROTO, "plugins", "--json"])
    records = {r["name"]: r for r in json.loads(proc.stdout)}
    assert records["tiny"]["error"] is None
    assert records["tiny"]["models"] == ["tiny"]
    broken = records["broken"]
    assert (broken["distribution"], broken["version"]) == ("genproto-broken", "9.9.9")
    assert "RuntimeError: genproto_broken is broken on purpose" in broken["error"]
    assert proc.returncode == 1  # a failed plugin makes `genproto plugins` fail


def test_list_shows_installed_models_and_warns_about_broken(run_with_plugins: Runner) -> None:
    proc = run_with_plugins([*GENPROTO, "list"])
    assert proc.returncode == 0, proc.stderr
    assert "tiny" in proc.stdout
    assert "flow" in proc.stdout
    assert "exact" in proc.stdout
    assert "1 evaluation (single pass)" in proc.stdout
    assert "genproto-broken 9.9.9" in proc.stderr


def test_environment_variable_restricts_plugins(run_with_plugins: Runner) -> None:
    proc = run_with_plugins([*GENPROTO, "plugins", "--json"], env={"GENPROTO_PLUGINS": "tiny"})
    assert [r["name"] for r in json.loads(proc.stdout)] == ["tiny"]
    assert proc.returncode == 0
    proc = run_with_plugins([*GENPROTO, "list", "--json"], env={"GENPROTO_PLUGINS": ""})
    assert json.loads(proc.stdout) == []
    proc = run_with_plugins([*GENPROTO, "plugins", "--json"],
                            env={"GENPROTO_PLUGINS": "genproto-broken"})
    assert [r["name"] for r in json.loads(proc.stdout)] == ["broken"]


def test_unknown_model_on_the_command_line_is_one_line_not_a_traceback(
    run_with_plugins: Runner,
) -> None:
    proc = run_with_plugins([*GENPROTO, "info", "tinny"])
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown model")
    assert "Did you mean 'tiny'" in proc.stderr
    assert "Traceback" not in proc.stderr
