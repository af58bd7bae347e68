"""The command line on causal LMs: prompts, printed names, text files, a folder as an option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genproto import registry
from genproto.cli.main import main
from genproto.data.names import load_names


def test_sample_names_prints_names_of_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "names", "-n", "20", "--condition", "female", "--seed", "0",
                 "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 20
    assert all(line.isalpha() and line.islower() for line in lines)
    female = set(load_names("all", "female").names)
    assert sum(line in female for line in lines) >= 10
    model = registry.get("names", device="cpu")
    expected = model.to_text(model.sample(20, condition="female", seed=0))  # type: ignore[attr-defined]
    assert lines == expected


def test_a_folder_as_an_option_and_text_files(gpt2_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.txt"
    assert main(["sample", "hf-causal-lm", "--option", f"path={gpt2_dir}", "-O",
                 "max_new_tokens=6", "-n", "5", "--condition", "ab", "--seed", "3",
                 "--device", "cpu", "-o", str(out)]) == 0
    assert "wrote 5 samples" in capsys.readouterr().out
    model = registry.get("hf-causal-lm", path=str(gpt2_dir), max_new_tokens=6, device="cpu")
    samples = model.sample(5, condition="ab", seed=3)
    assert out.read_text().splitlines() == model.to_text(samples)  # type: ignore[attr-defined]
    jsonl = tmp_path / "s.jsonl"
    assert main(["sample", "hf-causal-lm", "-M", f"path={gpt2_dir}", "-M", "max_new_tokens=6",
                 "-n", "5", "--condition", "ab", "--seed", "3", "--device", "cpu",
                 "-o", str(jsonl)]) == 0
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    nats = model.log_likelihood(samples, "ab")
    for i, row in enumerate(rows):
        assert row["prompt"] == "ab"
        n = int(model.capabilities.event.lengths(samples[i : i + 1]))
        assert row["tokens"] == samples[i, :n].tolist()
        assert row["log_likelihood"] == pytest.approx(float(nats[i]), abs=1e-5)


def test_a_missing_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sample", "hf-causal-lm", "-M", f"path={tmp_path / 'nope'}", "-n", "2"])
    assert code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "no model folder" in err[0]
