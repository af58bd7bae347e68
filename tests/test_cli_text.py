"""``genproto sample`` for conditions of every kind and for text models (.txt, .jsonl, -O).

The models are registered in-process (tests/text_cli_models.py, tests/condition_models.py)
in a default registry without entry-point plugins; ``main`` runs as the console script would.
Each bad input must end in exit status 2 with one line on stderr naming the problem and no
output file (nor a temporary sibling) left behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import torch
from condition_models import Captioned, Prompted, RowLoop, Steered
from sampler_models import Dice
from text_cli_models import Letters, capabilities, register_all

from genproto import Capabilities, Likelihood, registry
from genproto.cli.main import main
from genproto.protocol import Condition


@pytest.fixture(autouse=True)
def models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin-free default registry holding the letters models and the condition models."""
    monkeypatch.setenv("GENPROTO_PLUGINS", "")
    registry.reset()
    names = register_all()
    for model in (Prompted, Captioned, Steered, Dice, RowLoop):
        registry.register(model().name, model, capabilities=model().capabilities)
        names.append(model().name)
    yield
    for name in names:
        registry.default().unregister(name)
    registry.reset()


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *phrases: str) -> str:
    """Run ``genproto argv``; it must fail with status 2 and one stderr line holding phrases."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = int(exc.code or 0)
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in err, err
    return err


def _no_leftovers(folder: Path, *keep: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- .txt and .jsonl --------------------------------------------------------------------------


def test_txt_holds_one_sample_text_a_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "names.txt"
    assert main(["sample", "letters-none", "-n", "40", "--seed", "3", "-o", str(out)]) == 0
    assert "wrote 40 samples of 'letters-none'" in capsys.readouterr().out
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # every line, the last included, ends in a newline
    model = Letters()
    assert lines[:-1] == model.to_text(model.sample(40, seed=3))
    assert all(set(line) <= set("abc") for line in lines)
    _no_leftovers(tmp_path, "names.txt")


def test_jsonl_fields_match_the_samples_and_the_likelihood(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    assert main(["sample", "letters-text", "-n", "25", "--seed", "9", "--condition", "cab",
                 "-o", str(out)]) == 0
    rows = _jsonl(out)
    model = Letters(conditioned="text")
    x = model.sample(25, seed=9, condition="cab")
    nats = model.log_likelihood(x, "cab")
    lengths = model.capabilities.event.lengths(x)
    assert [r["index"] for r in rows] == list(range(25))
    assert {r["seed"] for r in rows} == {9}
    assert {r["prompt"] for r in rows} == {"cab"}
    assert [r["text"] for r in rows] == model.to_text(x)
    assert [r["tokens"] for r in rows] == [x[i, : lengths[i]].tolist() for i in range(25)]
    assert all(r["tokens"][-1] == 1 or len(r["tokens"]) == 6 for r in rows)  # up to the stop
    assert np.allclose([r["log_likelihood"] for r in rows], nats.tolist(), atol=1e-6)
    assert set(rows[0]) == {"index", "seed", "prompt", "text", "tokens", "log_likelihood"}


def test_jsonl_log_likelihood_is_null_without_a_likelihood(tmp_path: Path) -> None:
    def caps(length: int = 6) -> Capabilities:
        return attrs.evolve(capabilities(length), likelihood=Likelihood.NONE)

    class NoLikelihood(Letters):
        def __init__(self, length: int = 6) -> None:
            super().__init__(length)
            self._capabilities = caps(length)

    registry.register("letters-nolik", NoLikelihood, capabilities=caps)
    try:
        out = tmp_path / "s.jsonl"
        assert main(["sample", "letters-nolik", "-n", "5", "--seed", "1", "-o", str(out)]) == 0
        rows = _jsonl(out)
        assert [r["log_likelihood"] for r in rows] == [None] * 5
        assert [r["prompt"] for r in rows] == [None] * 5
    finally:
        registry.default().unregister("letters-nolik")


def test_condition_file_gives_each_sample_its_prompt(tmp_path: Path) -> None:
    prompts = ["a", "bb", "", "ccc", "abc", "c"]
    cond = tmp_path / "prompts.txt"
    cond.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    out = tmp_path / "s.jsonl"
    assert main(["sample", "letters-text", "-n", "6", "--seed", "4", "--condition-file",
                 str(cond), "-o", str(out)]) == 0
    rows = _jsonl(out)
    assert [r["prompt"] for r in rows] == prompts
    model = Letters(conditioned="text")
    x = model.sample(6, seed=4, condition=prompts)
    assert [r["text"] for r in rows] == model.to_text(x)
    assert np.allclose([r["log_likelihood"] for r in rows],
                       model.log_likelihood(x, prompts).tolist(), atol=1e-6)


def test_token_condition_file_rows_of_different_lengths_are_padded(tmp_path: Path) -> None:
    cond = tmp_path / "ids.txt"
    cond.write_text("2,3\n4\r\n2, 2, 4, 3\n", encoding="utf-8")
    out = tmp_path / "s.jsonl"
    assert main(["sample", "letters-tokens", "-n", "3", "--seed", "2", "--condition-file",
                 str(cond), "-o", str(out)]) == 0
    rows = _jsonl(out)
    assert [r["prompt"] for r in rows] == [[2, 3], [4], [2, 2, 4, 3]]
    padded = torch.tensor([[2, 3, 0, 0], [4, 0, 0, 0], [2, 2, 4, 3]])
    model = Letters(conditioned="tokens")
    assert [r["text"] for r in rows] == model.to_text(model.sample(3, seed=2, condition=padded))


@pytest.mark.parametrize(
    ("name", "condition", "value"),
    [("letters-class", "2", 2),
     ("letters-tokens", "2,4,4", [2, 4, 4]),
     ("letters-vector", "0.5,-1,2", [0.5, -1.0, 2.0])],
)
def test_condition_of_each_kind_reaches_the_model(
    tmp_path: Path, name: str, condition: str, value: object
) -> None:
    out = tmp_path / "s.jsonl"
    assert main(["sample", name, "-n", "8", "--seed", "5", f"--condition={condition}",
                 "-o", str(out)]) == 0
    rows = _jsonl(out)
    assert all(r["prompt"] == value for r in rows)
    model = registry.get(name)
    given = value if isinstance(value, int) else torch.tensor(value)
    x = model.sample(8, seed=5, condition=given)
    assert isinstance(model, Letters)
    assert [r["text"] for r in rows] == model.to_text(x)


@pytest.mark.parametrize(
    ("name", "condition", "library"),
    [("prompted", "1,2,3", torch.tensor([1, 2, 3])),
     ("captioned", "hi you", "hi you"),
     ("steered", "-0.5,1,2", torch.tensor([-0.5, 1.0, 2.0]))],
)
def test_npy_of_condition_models_equals_the_library(
    tmp_path: Path, name: str, condition: str, library: Condition
) -> None:
    out = tmp_path / "s.npy"
    assert main(["sample", name, "-n", "9", "--seed", "6", f"--condition={condition}",
                 "-o", str(out)]) == 0
    expected = registry.get(name).sample(9, seed=6, condition=library)
    assert np.array_equal(np.load(out), expected.numpy())


def test_vector_condition_file_per_sample(tmp_path: Path) -> None:
    cond = tmp_path / "e.csv"
    cond.write_text("0,0,0\n1,2,3\n-1,0.5,0\n", encoding="utf-8")
    out = tmp_path / "s.npy"
    assert main(["sample", "steered", "-n", "3", "--seed", "1", "--condition-file", str(cond),
                 "-o", str(out)]) == 0
    embeddings = torch.tensor([[0, 0, 0], [1, 2, 3], [-1, 0.5, 0]])
    assert np.array_equal(np.load(out),
                          registry.get("steered").sample(3, seed=1, condition=embeddings))


# -- -O for factory options -------------------------------------------------------------------


def test_option_naming_a_factory_option_goes_to_the_factory(tmp_path: Path) -> None:
    out, ref = tmp_path / "o.npy", tmp_path / "m.npy"
    assert main(["sample", "letters-none", "-n", "12", "--seed", "2", "-O", "length=3",
                 "-O", "temperature=0.5", "-o", str(out)]) == 0
    assert main(["sample", "letters-none", "-n", "12", "--seed", "2", "-M", "length=3",
                 "-O", "temperature=0.5", "-o", str(ref)]) == 0
    samples = np.load(out)
    assert samples.shape == (12, 3)
    assert np.array_equal(samples, np.load(ref))
    assert np.array_equal(samples, Letters(3).sample(12, seed=2, temperature=0.5).numpy())


def test_option_given_both_ways_is_refused(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _fails(capsys, ["sample", "letters-none", "-M", "length=3", "-O", "length=4", "-o",
                    str(tmp_path / "x.txt")], "'length' given both with -M and with -O")
    _no_leftovers(tmp_path)


def test_option_that_is_factory_and_sample_option_is_ambiguous(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fails(capsys, ["sample", "letters-clash", "-O", "temperature=0.5", "-o",
                    str(tmp_path / "x.txt")], "ambiguous", "-M temperature=VALUE")
    _no_leftovers(tmp_path)
    assert main(["sample", "letters-clash", "-n", "2", "-M", "temperature=0.5", "-o",
                 str(tmp_path / "x.txt")]) == 0


# -- bad inputs: one line, exit status 2, nothing written -----------------------------------


def _write(folder: Path, name: str, text: str | bytes) -> str:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("name", "args", "phrases"),
    [  # a value of the wrong kind, or the wrong count
        ("letters-class", ["--condition", "b"], ["--condition is not a class label",
                                                  "0..2"]),
        ("letters-class", ["--condition", "7"], ["condition label: got 7"]),
        ("letters-tokens", ["--condition", "2,x"], ["not a list of token ids", "e.g. 5,17,3"]),
        ("letters-tokens", ["--condition", "2,9"], ["condition token id: got 9"]),
        ("letters-tokens", ["--condition", "2,2,2,2,2"], ["5 ids"]),
        ("letters-vector", ["--condition", "1,2"], ["has 2 numbers for a vector of shape (3,)",
                                                     "3 comma-separated"]),
        ("letters-vector", ["--condition", "1,a,2"], ["not a list of numbers"]),
        ("letters-vector", ["--condition", "1,nan,2"], ["NaN or inf"]),
        ("letters-text", ["--condition", "abcabcabc"], ["9 characters long"]),
        ("letters-none", ["--condition", "a"], ["unconditional but got a condition"]),
        ("dice", ["--condition", "x"], ["not a class label", "label 0..1 (class)"]),
        ("rowloop", ["--condition", "1"], ["unconditional but got a condition"]),
        ("letters-text", ["--condition", "a", "--condition-file", "f"], ["not allowed with"]),
        # outputs that do not fit
        ("dice", ["-o", "{tmp}/out.txt"], ["needs a text model", ".png or .npy"]),
        ("prompted", ["--condition", "1", "-o", "{tmp}/out.jsonl"], ["needs a text model"]),
        ("letters-none", ["-o", "{tmp}/out.csv"], [".txt or .jsonl for a text model"]),
    ],
)
def test_bad_condition_or_output_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, args: list[str],
    phrases: list[str],
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.jsonl")]
    _fails(capsys, ["sample", name, "-n", "4", *args], *phrases)
    _no_leftovers(tmp_path)


@pytest.mark.parametrize(
    ("file", "n", "phrases"),
    [(None, 3, ["--condition-file cannot be read", "No such file"]),
     ("a\nb\n", 3, ["has 2 lines for -n 3 samples", "pass -n 2"]),
     ("a\nb\nc\nd", 3, ["has 4 lines for -n 3 samples"]),
     (b"a\n\xff\nc\n", 3, ["cannot be read", "UTF-8"]),
     ("a\nabcabcabcabc\nc\n", 3, ["item 1", "12 characters long"])],
)
def test_bad_text_condition_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], file: str | bytes | None, n: int,
    phrases: list[str],
) -> None:
    path = str(tmp_path / "missing.txt") if file is None else _write(tmp_path, "c.txt", file)
    _fails(capsys, ["sample", "letters-text", "-n", str(n), "--condition-file", path,
                    "-o", str(tmp_path / "out.jsonl")], *phrases)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    ("name", "file", "phrases"),
    [("letters-tokens", "2,3\n\n4\n", ["line 2 of --condition-file", "is empty"]),
     ("letters-tokens", "2,3\n4,b\n4\n", ["line 2 of --condition-file", "token ids"]),
     ("letters-vector", "1,2,3\n1,2,3\n1,2\n", ["line 3", "has 2 numbers"]),
     ("letters-class", "0\n1\ntwo\n", ["line 3", "not a class label"]),
     ("letters-class", "0\n1\n5\n", ["condition label: got 5"]),
     ("letters-none", "a\nb\nc\n", ["unconditional but got a condition"])],
)
def test_bad_row_in_a_condition_file_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, file: str,
    phrases: list[str],
) -> None:
    path = _write(tmp_path, "c.txt", file)
    _fails(capsys, ["sample", name, "-n", "3", "--condition-file", path,
                    "-o", str(tmp_path / "out.txt")], *phrases)
    _no_leftovers(tmp_path, "c.txt")


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_existing_output_is_kept_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    out = tmp_path / f"old{suffix}"
    out.write_text("keep me\n")
    _fails(capsys, ["sample", "letters-none", "-n", "3", "-o", str(out)],
           "output file already exists", "--force")
    assert out.read_text() == "keep me\n"
    assert main(["sample", "letters-none", "-n", "3", "-o", str(out), "--force"]) == 0
    assert len(out.read_text().splitlines()) == 3
    _no_leftovers(tmp_path, out.name)


def test_txt_refuses_a_text_with_a_line_break(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Letters, "to_text", lambda self, x: ["a\nb"] * x.shape[0])
    _fails(capsys, ["sample", "letters-none", "-n", "2", "-o", str(tmp_path / "x.txt")],
           "line break", "Write .jsonl instead")
    _no_leftovers(tmp_path)


def test_text_output_under_torchrun_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    _fails(capsys, ["sample", "letters-none", "-n", "2", "-o", str(tmp_path / "x.txt")],
           "distributed run (2 processes)", "a .npy file")
    _no_leftovers(tmp_path)
