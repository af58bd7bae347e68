"""``genproto compare --data points`` on the command line, in-process on a default registry
swapped for the points test models with known answers (tests/test_compare_points.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_compare_points import GAP, points_registry

import genproto.registry
from genproto.cli.main import main
from genproto.registry import Registry

FAST = ["--data", "points", "-n", "300", "--held-out", "200", "--steps", "2,8"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The default registry, replaced by the points test models (no plugins loaded)."""
    reg = points_registry()
    monkeypatch.setattr(genproto.registry, "_default", reg)
    return reg


def test_points_prints_the_tables_and_writes_markdown_and_plot(
    models: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    report, plot = tmp_path / "points.md", tmp_path / "points.png"
    assert main(["compare", *FAST, "-o", str(report), "--plot", str(plot)]) == 0
    captured = capsys.readouterr()
    assert "grid25: 25 Gaussians" in captured.out
    assert "two_moons: 64 Gaussians" in captured.out
    assert "Claims of the cheatsheet on points" in captured.out
    assert "wrote the plot to" in captured.err
    md = report.read_text(encoding="utf-8")
    assert md.startswith("# The paradigms, measured on 2-D points")
    assert "| flow | flow | exact |" in md
    assert "| flow | flow | none |" not in md
    assert "no shipped weights" in md  # the flow ships grid25 only
    with Image.open(plot) as img:
        settings = json.loads(img.text["genproto:points-comparison"])
        pixels = np.asarray(img.convert("RGB")).astype(int)
    assert settings["models"] == ["ar", "diffusion", "flow", "gan", "vae"]
    assert settings["n"] == 300
    coloured = np.abs(pixels - pixels[..., :1]).sum(-1) > 60  # dots in a model's colour
    assert coloured.sum() > 1000


def test_points_json_names_models_datasets_and_verdicts(
    models: Registry, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", "vae", "gan", "--json", "--datasets", "grid25", "--seed", "2",
                 *FAST]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["datasets"] == ["grid25"]
    assert data["settings"]["held_out_seed"] == 3
    assert [(m["name"], m["dataset"]) for m in data["models"]] == [("vae", "grid25"),
                                                                   ("gan", "grid25")]
    assert data["models"][0]["kl"]["value"] == pytest.approx(GAP)
    verdicts = {c["key"]: c["verdict"] for c in data["claims"]}
    assert verdicts["latent_variable.points_bounds"] == "holds"
    assert verdicts["adversarial.points_likelihood"] == "holds"
    assert verdicts["flow.points_kl"] == "not measured (model missing)"


def test_points_text_report_file(models: Registry, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "points.txt"
    assert main(["compare", "ar", "-o", str(out), *FAST]) == 0
    assert out.read_text(encoding="utf-8") == capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "phrase"),
    [(["--data", "pixels"], "--data: got 'pixels'"),
     (["--data", "points", "digits-only"], "accepts grid25 or two_moons: ar"),
     (["--data", "points", "--per-class", "3"], "--per-class with --data points"),
     (["--datasets", "grid25"], "--datasets with --data digits"),
     (["--held-out", "20"], "--held-out with --data digits"),
     (["--data", "points", "--datasets", "grid52"], "'grid25'"),
     (["--data", "points", "--plot", "x.txt"], "ending in .png")],
)
def test_points_errors_are_one_line(models: Registry, args: list[str], phrase: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert phrase in err


def test_a_named_model_without_points_lists_those_with_one(
    models: Registry, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", "--data", "points", "digits-only", "ar"]) == 2
    err = capsys.readouterr().err
    assert "got ['digits-only']" in err
    assert "ar, diffusion, flow, gan, vae" in err
