"""``genproto sample MODEL --interpolate A B [--steps N]`` (protocol 2.2's ``Interpolates``).

Tiny fake models registered in-process in a plugin-free default registry (as
tests/test_cli_text.py does): :class:`Walker`, a text model whose path is its start, then its
end (and which records what it was called with); :class:`Segment`, points on the plane on the
straight line between the ends; models that break the protocol. ``main`` runs as the console
script would; each refusal is exit status 2 with one line on stderr and no output file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import pytest
import torch
from PIL import Image
from text_cli_models import LENGTH, Letters, register_all

from genproto import (
    Capabilities,
    ConditionSpec,
    EventSpace,
    Likelihood,
    Paradigm,
    SampleCost,
    registry,
)
from genproto.cli.main import main
from genproto.model import Model
from genproto.protocol import Interpolates
from genproto.streams import KeyedStreams
from genproto.training import seeded_init

LABELLED = ConditionSpec(3, "favoured letter", labels=("ay", "bee", "sea"))


class Walker(Letters):
    """Letters words with a labelled class condition and a fake latent path: ``start`` for the
    first half of the steps, ``end`` for the rest. Every call is recorded in :attr:`calls`."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self) -> None:
        super().__init__(LENGTH, "class")
        self._name = "walker"

    @property
    def capabilities(self) -> Capabilities:
        return attrs.evolve(super().capabilities, condition=LABELLED)

    def interpolate(self, start: torch.Tensor, end: torch.Tensor, steps: int, *,
                    condition: Any = None, seed: int = 0) -> torch.Tensor:
        Walker.calls.append({"start": start.clone(), "end": end.clone(), "steps": steps,
                             "condition": condition, "seed": seed})
        half = torch.arange(steps)[:, None] < steps / 2  # (steps, 1)
        return torch.where(half, start, end)


class Segment(Model):
    """A Gaussian on the plane whose path is the straight segment between the ends."""

    def __init__(self) -> None:
        super().__init__(
            Capabilities(Paradigm.LATENT_VARIABLE, Likelihood.NONE, SampleCost.single_pass(),
                         EventSpace.continuous((2,), low=-10.0, high=10.0, layout="points")),
            name="segment")
        with seeded_init(0):
            self.net = torch.nn.Linear(2, 2)

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        out: torch.Tensor = self.net(streams.normal(2))
        return out

    def interpolate(self, start: torch.Tensor, end: torch.Tensor, steps: int, *,
                    condition: Any = None, seed: int = 0) -> torch.Tensor:
        t = torch.linspace(0.0, 1.0, steps)[:, None]  # (steps, 1)
        return (1 - t) * start + t * end  # (steps, 2)


class OldSignature(Segment):
    """An ``interpolate`` of another shape (the digits VAE's before protocol 2.2)."""

    def interpolate(self, x0: torch.Tensor, x1: torch.Tensor,  # type: ignore[override]
                    steps: int = 8, condition: Any = None) -> torch.Tensor:
        return super().interpolate(x0, x1, steps)


class ShortPath(Segment):
    """Returns one event too few."""

    def interpolate(self, start: torch.Tensor, end: torch.Tensor, steps: int, *,
                    condition: Any = None, seed: int = 0) -> torch.Tensor:
        return super().interpolate(start, end, steps)[1:]


class Escapes(Segment):
    """Returns a path that leaves the declared range [-10, 10]."""

    def interpolate(self, start: torch.Tensor, end: torch.Tensor, steps: int, *,
                    condition: Any = None, seed: int = 0) -> torch.Tensor:
        return super().interpolate(start, end, steps) * 100


FAKES: dict[str, type[Letters] | type[Segment]] = {
    "walker": Walker, "segment": Segment, "old-signature": OldSignature,
    "short-path": ShortPath, "escapes": Escapes,
}


@pytest.fixture(autouse=True)
def models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin-free default registry holding the fakes and the letters models."""
    monkeypatch.setenv("GENPROTO_PLUGINS", "")
    registry.reset()
    names = register_all()
    for name, cls in FAKES.items():
        registry.register(name, cls, capabilities=cls().capabilities)
        names.append(name)
    Walker.calls.clear()
    yield
    for name in names:
        registry.default().unregister(name)
    registry.reset()


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *phrases: str) -> str:
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


def _npy(path: Path, value: Any) -> str:
    np.save(path, np.asarray(value, dtype=np.float32))
    return str(path)


# -- text models: texts in, texts out ------------------------------------------------------------


def test_a_text_model_prints_the_path_one_text_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(Walker(), Interpolates)
    assert main(["sample", "walker", "--interpolate", "ab", "cca", "--steps", "5"]) == 0
    assert capsys.readouterr().out.splitlines() == ["ab", "ab", "ab", "cca", "cca"]
    call = Walker.calls[-1]
    assert call["steps"] == 5
    assert call["condition"] is None
    assert call["seed"] == 0
    assert torch.equal(call["start"], Walker().from_text(["ab"])[0])
    assert torch.equal(call["end"], Walker().from_text(["cca"])[0])


def test_the_default_is_8_steps_and_condition_and_seed_pass_through(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sample", "walker", "--interpolate", "a", "b", "--condition", "bee",
                 "--seed", "11"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 8
    assert (Walker.calls[-1]["condition"], Walker.calls[-1]["seed"]) == ("bee", 11)
    assert main(["sample", "walker", "--interpolate", "a", "b", "--condition", "2"]) == 0
    assert Walker.calls[-1]["condition"] == 2


def test_text_outputs_txt_and_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    txt, jsonl = tmp_path / "path.txt", tmp_path / "path.jsonl"
    argv = ["sample", "walker", "--interpolate", "ab", "c", "--steps", "3", "--condition", "sea"]
    assert main([*argv, "-o", str(txt)]) == 0
    assert txt.read_text(encoding="utf-8") == "ab\nab\nc\n"
    assert main([*argv, "-o", str(jsonl)]) == 0
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [line["text"] for line in lines] == ["ab", "ab", "c"]
    assert [line["t"] for line in lines] == [0.0, 0.5, 1.0]
    assert {line["prompt"] for line in lines} == {"sea"}
    assert lines[2]["tokens"] == Walker().from_text(["c"])[0, :2].tolist()  # 'c' and the stop
    assert "wrote 3 events of 'walker'" in capsys.readouterr().out
    _fails(capsys, [*argv, "-o", str(txt)], "already exists")
    assert main([*argv, "-o", str(txt), "--force"]) == 0


def test_bad_texts_and_conditions_are_typed_errors(capsys: pytest.CaptureFixture[str]) -> None:
    _fails(capsys, ["sample", "walker", "--interpolate", "abz", "a"], "text 0", "abz")
    _fails(capsys, ["sample", "walker", "--interpolate", "a", "b", "--condition", "be"],
           "'be' is not a class of model 'walker'", "Did you mean 'bee'?")
    _fails(capsys, ["sample", "walker", "--interpolate", "a", "b", "--condition", "7"],
           "condition label")
    assert Walker.calls == []  # nothing reached the model


# -- other events: .npy ends, .npy or a picture out --------------------------------------------


def test_points_from_npy_ends_to_npy_and_png(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _npy(tmp_path / "a.npy", [0.0, 1.0]), _npy(tmp_path / "b.npy", [4.0, -3.0])
    out = tmp_path / "path.npy"
    assert main(["sample", "segment", "--interpolate", a, b, "--steps", "5", "-o",
                 str(out)]) == 0
    path = np.load(out)
    assert path.dtype == np.float32
    assert path.shape == (5, 2)
    assert path[0].tolist() == [0.0, 1.0]
    assert path[-1].tolist() == [4.0, -3.0]
    assert np.allclose(path[2], [2.0, -1.0])
    picture = tmp_path / "path.png"
    assert main(["sample", "segment", "--interpolate", a, b, "-o", str(picture)]) == 0
    with Image.open(picture) as image:
        assert json.loads(image.text["genproto:interpolate"]) == [a, b]
        assert image.text["genproto:steps"] == "8"
    batch = _npy(tmp_path / "batch.npy", [[1.0, 1.0]])  # (1, 2): one event with a batch axis
    assert main(["sample", "segment", "--interpolate", batch, b, "-o",
                 str(tmp_path / "x.npy")]) == 0
    assert "wrote 8 events of 'segment'" in capsys.readouterr().out


def test_bad_npy_ends_are_typed_errors(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    good = _npy(tmp_path / "good.npy", [0.0, 0.0])
    three = _npy(tmp_path / "three.npy", [0.0, 0.0, 0.0])
    far = _npy(tmp_path / "far.npy", [0.0, 50.0])
    out = str(tmp_path / "out.npy")
    _fails(capsys, ["sample", "segment", "--interpolate", three, good, "-o", out],
           "holds shape (3,)", "one event of shape (2,)")
    _fails(capsys, ["sample", "segment", "--interpolate", good, str(tmp_path / "no.npy"),
                    "-o", out], "cannot read")
    _fails(capsys, ["sample", "segment", "--interpolate", good, far, "-o", out], "x for model")
    _fails(capsys, ["sample", "segment", "--interpolate", good, good, "-o",
                    str(tmp_path / "out.txt")], "needs a text model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["far.npy", "good.npy", "three.npy"]


# -- refusals ------------------------------------------------------------------------------------


def test_a_model_without_interpolate_is_refused_naming_those_that_have_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _fails(capsys, ["sample", "letters-class", "--interpolate", "a", "b"],
           "model 'letters-class' has no latent path", "vae -M dataset=names",
           "genproto.protocol.Interpolates")


@pytest.mark.parametrize(
    ("name", "phrase"),
    [("old-signature", "does not take protocol 2.2's arguments"),
     ("short-path", "returned (7, 2) torch.float32"),
     ("escapes", "outside the event space")],
)
def test_a_model_breaking_the_protocol_is_a_plugin_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, phrase: str,
) -> None:
    a = _npy(tmp_path / "a.npy", [0.0, 1.0])
    _fails(capsys, ["sample", name, "--interpolate", a, a, "-o", str(tmp_path / "p.npy")],
           phrase)
    assert not (tmp_path / "p.npy").exists()


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [(["--steps", "1"], "--steps of --interpolate A B"),
     (["-O", "temperature=0.5"], "-O with --interpolate A B"),
     (["c"], "expected A B (two ends) or STEPS, got 3 values")],
)
def test_bad_arguments(capsys: pytest.CaptureFixture[str], extra: list[str], phrase: str) -> None:
    _fails(capsys, ["sample", "walker", "--interpolate", "a", "b", *extra], phrase)


def test_a_condition_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = tmp_path / "c.txt"
    lines.write_text("ay\n" * 64, encoding="utf-8")
    _fails(capsys, ["sample", "walker", "--interpolate", "a", "b", "--condition-file",
                    str(lines)], "--condition-file with --interpolate")


def test_one_value_is_still_the_digit_strip_form(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    _fails(capsys, ["sample", "segment", "--interpolate", "6", "-o", str(tmp_path / "s.png")],
           "interpolation_strip", "two ends A B")
