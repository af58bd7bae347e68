"""``genproto compare`` and ``genproto classify`` on the command line.

In-process on a default registry swapped for test models with known answers, and in a fresh
interpreter with the pip-installed test plugin (``tiny``, a 2-D flow).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from compare_models import Denoiser, Resampler, Uniform, capabilities
from PIL import Image

import genproto.registry
from genproto import Likelihood, Paradigm, SampleCost
from genproto.cli.main import main
from genproto.registry import Registry

Runner = Callable[..., subprocess.CompletedProcess[str]]
GENPROTO = [sys.executable, "-m", "genproto"]
GAN_CAPS = capabilities(Paradigm.ADVERSARIAL, Likelihood.NONE, SampleCost.single_pass())
FAST = ["-n", "120", "--per-class", "12", "--steps", "2,8"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The default registry, replaced by one holding the test models (no plugins loaded)."""
    reg = Registry(entry_points=False)
    reg.register("ar", lambda: Resampler(name="ar"), capabilities=capabilities())
    reg.register("gan", lambda: Resampler(GAN_CAPS, name="gan", collapse_to=1),
                 capabilities=GAN_CAPS)
    reg.register("vae", lambda: Uniform(name="vae", likelihood=Likelihood.BOUND, gap=1.0),
                 capabilities=capabilities(Paradigm.LATENT_VARIABLE, Likelihood.BOUND,
                                           SampleCost.single_pass(), conditional=False))
    reg.register("diffusion", Denoiser, capabilities=Denoiser().capabilities)
    monkeypatch.setattr(genproto.registry, "_default", reg)
    return reg


def test_compare_prints_the_table_and_writes_markdown_and_plot(
    models: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    report, plot = tmp_path / "report.md", tmp_path / "compare.png"
    assert main(["compare", *FAST, "-o", str(report), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "Frechet distance" in out
    assert "Claims of the cheatsheet" in out
    assert "GAN: prone to mode collapse (class coverage of unconditional samples): holds" in out
    md = report.read_text(encoding="utf-8")
    assert md.startswith("# The paradigms, measured")
    assert "| model | paradigm |" in md
    assert "- **Flow: one inverse pass per sample**: not measured (model missing)" in md
    with Image.open(plot) as img:
        assert img.size == (900, 560)
        settings = json.loads(img.text["genproto:comparison"])
        pixels = np.asarray(img.convert("RGB")).astype(int)
    assert settings["models"] == ["ar", "diffusion", "gan", "vae"]
    assert settings["n"] == 120
    plot_area = pixels[50:500, 80:640].reshape(-1, 3)
    coloured = np.abs(plot_area - plot_area[:, :1]).sum(1) > 60  # not grey: a series was drawn
    assert coloured.sum() > 200


def test_compare_json_names_models_and_verdicts(
    models: Registry, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", "gan", "vae", "--json", *FAST]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in data["models"]] == ["gan", "vae"]
    assert data["settings"]["seed"] == 0
    verdicts = {c["key"]: c["verdict"] for c in data["claims"]}
    assert verdicts["adversarial.likelihood"] == "holds"
    assert verdicts["autoregressive.cost"] == "not measured (model missing)"


def test_compare_seed_changes_the_samples(
    models: Registry, capsys: pytest.CaptureFixture[str],
) -> None:
    frechet = []
    for seed in ("1", "1", "2"):
        assert main(["compare", "ar", "--json", *FAST, "--seed", seed]) == 0
        frechet.append(json.loads(capsys.readouterr().out)["models"][0]["frechet"])
    assert frechet[0] == frechet[1] != frechet[2]


@pytest.mark.parametrize(
    ("args", "phrase"),
    [(["--plot", "x.txt"], "ending in .png"),
     (["-o", "no/such/dir/r.md"], "Create it first"),
     (["nope"], "'nope'"),
     (["-n", "1"], "'n'")],
)
def test_compare_errors_are_one_line(models: Registry, args: list[str], phrase: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert phrase in err


def test_classify_reports_both_accuracies(
    models: Registry, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["classify", "ar"]) == 0
    out = capsys.readouterr().out
    assert "argmax_c log p(x|c) + log p(c)" in out
    assert "accuracy 1.0000" in out  # the resampler looks every test digit up
    assert "reference CNN" in out
    assert main(["classify", "ar", "-n", "30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n"] == 30
    assert data["accuracy"] == 1.0
    assert data["reference_accuracy"] > 0.9


def test_classify_a_model_without_likelihood_is_an_error(
    models: Registry, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["classify", "gan"]) == 2
    assert "declares likelihood 'none'" in capsys.readouterr().err


# --- a fresh interpreter with the pip-installed test plugin --------------------------------


def test_compare_installed_plugin_in_a_fresh_interpreter(run_with_plugins: Runner) -> None:
    proc = run_with_plugins([*GENPROTO, "compare", "tiny", "--json", "-n", "40"],
                            env={"GENPROTO_PLUGINS": "tiny", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    (tiny,) = data["models"]
    assert tiny["distribution"] == "genproto-tiny"
    assert tiny["counted_evaluations"] == 1
    assert tiny["frechet"] is None  # a 2-D model: no image metrics, and the notes say why
    assert any("8x8 digits" in note for note in tiny["notes"])
    verdicts = {c["key"]: c["verdict"] for c in data["claims"]}
    assert verdicts["flow.cost"] == "holds"
    assert verdicts["flow.likelihood"] == "holds"
    assert verdicts["diffusion.cost"] == "not measured (model missing)"


def test_plot_and_classify_need_a_digits_model(run_with_plugins: Runner,
                                               tmp_path: Path) -> None:
    env = {"GENPROTO_PLUGINS": "tiny", "OMP_NUM_THREADS": "1"}
    proc = run_with_plugins([*GENPROTO, "compare", "tiny", "-n", "20", "--plot",
                             str(tmp_path / "p.png")], env=env)
    assert proc.returncode == 2
    assert "digits model" in proc.stderr
    assert not (tmp_path / "p.png").exists()
    proc = run_with_plugins([*GENPROTO, "classify", "tiny"], env=env)
    assert proc.returncode == 2
    assert "8x8 digits conditioned on the 10 digit classes" in proc.stderr
