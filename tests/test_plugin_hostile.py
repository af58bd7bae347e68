"""Hostile plugins, installed with a real ``pip install``, never stop or replace shipped ones.

``genproto-hostile`` (found *before* the project's own plugins on the path) has one plugin
that calls ``sys.exit`` at import, one whose hook raises SystemExit, an impostor that
registers ``gan`` (a first-party name) and one that registers ``rival``, a name the
third-party ``genproto-rival`` registers too. See ``Collision`` in genproto/registry.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

Runner = Callable[..., subprocess.CompletedProcess[str]]

GENPROTO = [sys.executable, "-m", "genproto.cli.main"]
SHOW = (
    "import genproto, json\n"
    "reg = genproto.registry.default()\n"
    "print(json.dumps({'gan': reg.entry('gan').distribution,\n"
    "  'names': reg.names(),\n"
    "  'collisions': {c.name: c.chosen for c in reg.collisions()},\n"
    "  'failed': {r.name: r.error for r in reg.failures()}}))\n"
)


def test_system_exit_in_a_plugin_is_contained_and_the_others_load(
    run_with_hostile_plugins: Runner,
) -> None:
    proc = run_with_hostile_plugins([sys.executable, "-c", SHOW])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "SystemExit: 3" in out["failed"]["exits_at_import"]
    assert "SystemExit: 4" in out["failed"]["exits_in_hook"]
    assert {"gan", "vae", "impostor_only"} <= set(out["names"])


def test_an_impostor_never_takes_a_first_party_name(run_with_hostile_plugins: Runner) -> None:
    proc = run_with_hostile_plugins([sys.executable, "-c", SHOW])
    out = json.loads(proc.stdout)
    assert out["gan"] == "genproto-gan"
    assert out["collisions"]["gan"].startswith("gan (genproto-gan ")
    assert "impostor_only" in out["names"]  # the impostor's own model still loads


def test_two_third_party_plugins_with_one_name_make_it_unavailable_until_chosen(
    run_with_hostile_plugins: Runner,
) -> None:
    proc = run_with_hostile_plugins([*GENPROTO, "info", "rival"])
    assert proc.returncode == 2
    assert "offered by several plugins" in proc.stderr
    assert "GENPROTO_PREFER=rival=DISTRIBUTION" in proc.stderr
    assert "Traceback" not in proc.stderr
    for chosen in ("genproto-rival", "genproto-hostile"):
        proc = run_with_hostile_plugins(
            [*GENPROTO, "info", "rival", "--json"], env={"GENPROTO_PREFER": f"rival={chosen}"}
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["distribution"] == chosen


def test_genproto_plugins_shows_every_collision_and_its_resolution(
    run_with_hostile_plugins: Runner,
) -> None:
    proc = run_with_hostile_plugins([*GENPROTO, "plugins"])
    assert proc.returncode == 1  # failed plugins make the command fail
    assert "'gan' offered by" in proc.stdout
    assert "genproto-gan" in proc.stdout
    assert "a first-party distribution keeps its names" in proc.stdout
    assert "'rival' offered by" in proc.stdout
    assert "unavailable" in proc.stdout
    proc = run_with_hostile_plugins([*GENPROTO, "plugins", "--json"])
    records = {r["name"]: r for r in json.loads(proc.stdout)}
    assert any("'gan'" in c for c in records["impostor"]["collisions"])
