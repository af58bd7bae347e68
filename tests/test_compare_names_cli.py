"""``genproto compare --data names``: the command line over the names test models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from test_compare_names import names_registry

import genproto.registry
from genproto.cli.main import main
from genproto.registry import Registry

FAST = ["--data", "names", "-n", "60"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The default registry, replaced by the names test models (no plugins loaded)."""
    reg = names_registry()
    monkeypatch.setattr(genproto.registry, "_default", reg)
    return reg


def test_names_prints_the_table_and_writes_markdown_and_plot(
    models: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    report, plot = tmp_path / "names.md", tmp_path / "names.png"
    assert main(["compare", *FAST, "-o", str(report), "--plot", str(plot)]) == 0
    captured = capsys.readouterr()
    assert "Claims of the cheatsheet on names" in captured.out
    assert "wrote the plot to" in captured.err
    md = report.read_text(encoding="utf-8")
    assert md.startswith("# The paradigms, measured on the Census names")
    assert "| one_name | adversarial | surname | —, no likelihood |" in md
    with Image.open(plot) as img:
        settings = json.loads(img.text["genproto:comparison"])
    assert settings == {"data": "names", "n": 60, "seed": 0,
                        "models": ["truth", "bigram", "one_name"]}


def test_names_json_names_the_models(models: Registry, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    assert main(["compare", *FAST, "--json", "one_name"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in data["models"]] == ["truth", "one_name"]


@pytest.mark.parametrize("flag", [["--per-class", "5"], ["--datasets", "grid25"],
                                  ["--held-out", "50"]])
def test_flags_of_other_data_are_refused(models: Registry, flag: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *FAST, *flag]) != 0
    assert f"{flag[0]} with --data names" in capsys.readouterr().err


def test_a_model_without_names_is_refused(models: Registry,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *FAST, "digits_only"]) != 0
    assert "digits_only" in capsys.readouterr().err
