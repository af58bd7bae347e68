"""The command line, run as a user would: a fresh interpreter with the test plugin installed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

Runner = Callable[..., subprocess.CompletedProcess[str]]
GENPROTO = [sys.executable, "-m", "genproto"]


def test_info_shows_capabilities_and_options(run_with_plugins: Runner) -> None:
    proc = run_with_plugins([*GENPROTO, "info", "tiny"])
    assert proc.returncode == 0, proc.stderr
    for phrase in ("paradigm:         flow", "likelihood:       exact",
                   "component 0..2 (optional)", "sigma = 0.5", "float > 0"):
        assert phrase in proc.stdout


def test_info_json_round_trips_capabilities(run_with_plugins: Runner) -> None:
    from genproto.protocol import Capabilities

    proc = run_with_plugins([*GENPROTO, "info", "tiny", "--json"])
    data = json.loads(proc.stdout)
    caps = Capabilities.from_dict(data["capabilities"])
    assert caps.event.shape == (2,)
    assert data["options"][0]["name"] == "sigma"
    assert data["distribution"] == "genproto-tiny"


def test_list_json_is_parseable(run_with_plugins: Runner) -> None:
    proc = run_with_plugins([*GENPROTO, "list", "--json"], env={"GENPROTO_PLUGINS": "tiny"})
    (row,) = json.loads(proc.stdout)
    assert row["name"] == "tiny"
    assert row["likelihood"] == "exact"
    assert row["cost"]["evaluations"] == 1


def test_sample_to_npy_equals_the_library(run_with_plugins: Runner, tmp_path: Path) -> None:
    out = tmp_path / "s.npy"
    proc = run_with_plugins([*GENPROTO, "sample", "tiny", "-n", "37", "--seed", "5",
                             "--condition", "2", "-M", "sigma=0.25", "-o", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert "seed 5" in proc.stdout
    code = ("import genproto, numpy as np\n"
            "m = genproto.registry.get('tiny', sigma=0.25)\n"
            f"np.save({str(tmp_path / 'ref.npy')!r}, m.sample(37, seed=5, condition=2).numpy())\n")
    assert run_with_plugins([sys.executable, "-c", code]).returncode == 0
    assert np.array_equal(np.load(out), np.load(tmp_path / "ref.npy"))


def test_sample_to_png_stores_the_seed(run_with_plugins: Runner, tmp_path: Path) -> None:
    out = tmp_path / "points.png"
    proc = run_with_plugins([*GENPROTO, "sample", "tiny", "-n", "200", "-o", str(out),
                             "--provenance"])
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as img:
        assert img.size == (512, 512)
        seed = int(img.text["genproto:seed"])
        provenance = json.loads(img.text["genproto:provenance"])
        colours = img.getcolors(maxcolors=100_000) or []
    assert f"seed {seed}" in proc.stdout
    assert provenance["seed"] == seed
    assert provenance["model"] == "tiny"
    assert len(colours) > 2  # dots were drawn, not a blank canvas


@pytest.mark.parametrize(
    ("args", "phrase"),
    [(["-o", "x.txt"], "a path ending in .png or .npy"),
     (["-o", "no/such/dir/x.npy"], "Create it first"),
     (["-n", "-3"], "argument -n: -3 is outside"),
     (["--condition", "9"], "condition label: got 9"),
     (["-O", "temperature=2"], "unknown 'tiny' sample option 'temperature'"),
     (["-M", "sigma=-1"], "option 'sigma'"),
     (["-O", "oops"], "KEY=VALUE")],
)
def test_bad_sample_arguments_are_one_line_errors(
    run_with_plugins: Runner, tmp_path: Path, args: list[str], phrase: str
) -> None:
    proc = run_with_plugins([*GENPROTO, "sample", "tiny", *args], cwd=tmp_path)
    assert proc.returncode == 2
    assert phrase in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.npy"))
    assert not list(tmp_path.glob(".*.tmp-*"))  # the atomic writer's temporary siblings


def test_torchrun_two_processes_write_the_single_process_file(
    run_with_plugins: Runner, tmp_path: Path
) -> None:
    single, multi = tmp_path / "single.npy", tmp_path / "multi.npy"
    base = ["sample", "tiny", "-n", "1001", "--seed", "12", "--batch-size", "64"]
    assert run_with_plugins([*GENPROTO, *base, "-o", str(single)]).returncode == 0
    proc = run_with_plugins([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc-per-node=2", "-m", "genproto", *base, "-o", str(multi)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("wrote 1001 samples") == 1  # only rank 0 reports
    assert np.array_equal(np.load(multi), np.load(single))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multi.npy", "single.npy"]


def test_torchrun_refuses_png(run_with_plugins: Runner, tmp_path: Path) -> None:
    proc = run_with_plugins([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc-per-node=2", "-m", "genproto", "sample", "tiny", "-o",
                             str(tmp_path / "x.png")])
    assert proc.returncode != 0
    assert "a .npy file" in proc.stderr


def test_interpolation_strip_of_the_vae(tmp_path: Path) -> None:
    pytest.importorskip("genproto_vae")
    from genproto.cli.main import main

    out = tmp_path / "strip.png"
    assert main(["sample", "vae", "--interpolate", "6", "-n", "12", "-o", str(out)]) == 0
    with Image.open(out) as img:
        assert img.text["genproto:interpolate"] == "6"
        width, height = img.size
    assert width > 2 * height  # two rows of six images
    assert main(["sample", "ar", "--interpolate", "6", "-o", str(out)]) == 2
