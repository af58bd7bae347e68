"""Tests of genproto.checkpoint: round trips, atomic saves, and every way a checkpoint breaks.

Each corruption test damages a freshly saved checkpoint in one way and checks
both the error class and a phrase of the message, so that a regression in
either the detection or the explanation fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import torch
from safetensors import SafetensorError

import genproto
from genproto import checkpoint
from genproto.checkpoint import (
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    WEIGHTS_FILE,
    CheckpointConfig,
    PluginInfo,
    read_checkpoint,
    read_config,
    save_checkpoint,
    weights_hash,
)
from genproto.errors import (
    ArgumentTypeError,
    CheckpointError,
    CheckpointNotFoundError,
    InvalidArgumentError,
    OptionError,
    OptionTypeError,
)
from genproto.protocol import (
    Capabilities,
    ConditionSpec,
    EventSpace,
    Likelihood,
    Paradigm,
    SampleCost,
)

CAPS = Capabilities(
    paradigms=Paradigm.LATENT_VARIABLE,
    likelihood=Likelihood.BOUND,
    cost=SampleCost.single_pass(),
    event=EventSpace.discrete((8, 8), 17),
    condition=ConditionSpec(10),
    objective="ELBO",
    sampling="ancestral: prior, then one decoder pass",
)
PLUGIN = PluginInfo("genproto-vae", "0.1.0")
OPTIONS = {"latent_dim": 8, "beta": 0.5, "prior": "normal", "warmup": None, "tied": True}
METADATA = {"seed": "0", "steps": "2000"}


def _tensors() -> dict[str, torch.Tensor]:
    base = torch.arange(10, dtype=torch.int64)
    return {
        "float32": torch.tensor([1.5, -0.0, float("nan"), float("inf"), 1e-45]),
        "int64": torch.tensor([-(2**62), 0, 2**62 + 1]),
        "bool": torch.tensor([[True, False], [False, True]]),
        "scalar": torch.tensor(3.25),
        "transposed": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),
        "base": base,
        "window": base[2:5],  # shares base's storage
        "tied": base,  # the same tensor under a second name
        "trainable": torch.ones(2, 3, requires_grad=True),
    }


def _save(directory: Path, **overrides: Any) -> Path:
    arguments: dict[str, Any] = {
        "model": "vae",
        "options": OPTIONS,
        "plugin": PLUGIN,
        "capabilities": CAPS,
        "tensors": _tensors(),
        "metadata": METADATA,
    }
    arguments.update(overrides)
    return save_checkpoint(directory, **arguments)


def _bits(tensor: torch.Tensor) -> tuple[torch.dtype, tuple[int, ...], bytes]:
    """Dtype, shape and raw bytes: equal only when bitwise equal (NaN and -0.0 included)."""
    tensor = tensor.detach().contiguous()
    return tensor.dtype, tuple(tensor.shape), tensor.numpy().tobytes()


def _siblings(directory: Path) -> list[str]:
    """Everything in the parent of ``directory`` (temporary or aside directories show here)."""
    return sorted(p.name for p in directory.parent.iterdir())


def _edit(directory: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = directory / CONFIG_FILE
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _set(dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change for :func:`_edit` setting (or with ``_DELETE`` removing) ``a.b.c``."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = dotted.split(".")
        for key in parents:
            data = data[key]
        if value is _DELETE:
            del data[last]
        else:
            data[last] = value

    return change


_DELETE = object()


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return _save(tmp_path / "ckpt")


# ---------------------------------------------------------------------------
# round trip
# ---------------------------------------------------------------------------


def test_round_trip_gives_equal_config_and_bitwise_equal_tensors(saved: Path) -> None:
    config, tensors = read_checkpoint(saved)
    original = _tensors()
    assert set(tensors) == set(original)
    for name, tensor in original.items():
        assert _bits(tensors[name]) == _bits(tensor), name
        assert tensors[name].device.type == "cpu"
    assert config.model == "vae"
    assert config.options == OPTIONS
    assert config.metadata == METADATA
    assert config.plugin == PLUGIN
    assert config.capabilities == CAPS
    assert config.protocol_version == CAPS.protocol_version
    assert config.genproto_version == genproto.__version__
    assert config.tensor_count == len(original)
    assert read_config(saved) == config


def test_saved_json_has_the_documented_layout(saved: Path) -> None:
    assert sorted(p.name for p in saved.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    data = json.loads((saved / CONFIG_FILE).read_text())
    assert data["format"] == FORMAT
    assert data["format_version"] == FORMAT_VERSION
    assert data["protocol_version"] == CAPS.protocol_version
    assert data["genproto_version"] == genproto.__version__
    assert data["model"] == "vae"
    assert data["options"] == OPTIONS
    assert data["plugin"] == {"distribution": "genproto-vae", "version": "0.1.0"}
    assert data["capabilities"] == CAPS.to_dict()
    assert data["metadata"] == METADATA
    weights = (saved / WEIGHTS_FILE).read_bytes()
    assert data["weights"] == {
        "file": WEIGHTS_FILE,
        "sha256": hashlib.sha256(weights).hexdigest(),
        "tensors": len(_tensors()),
    }
    assert weights_hash(saved / WEIGHTS_FILE) == hashlib.sha256(weights).hexdigest()


def test_weights_are_safetensors_and_reading_never_unpickles(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = (saved / WEIGHTS_FILE).read_bytes()
    header = int.from_bytes(weights[:8], "little")  # safetensors: u64 header size, JSON header
    assert json.loads(weights[8 : 8 + header])["int64"]["dtype"] == "I64"

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a checkpoint must never be unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    assert len(read_checkpoint(saved)[1]) == len(_tensors())


def test_config_json_round_trip_and_read_only_mappings(saved: Path) -> None:
    config = read_config(saved)
    assert CheckpointConfig.from_json(config.to_json(), where=saved / CONFIG_FILE) == config
    assert hash(config) == hash(CheckpointConfig.from_json(config.to_json(), where=saved))
    with pytest.raises(TypeError):
        config.options["latent_dim"] = 16  # type: ignore[index]
    with pytest.raises(TypeError):
        config.metadata["seed"] = "1"  # type: ignore[index]


def test_returns_the_absolute_path_and_creates_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _save(Path("runs/exp1/ckpt"))
    assert path == tmp_path / "runs" / "exp1" / "ckpt"
    assert read_config(path).model == "vae"


# ---------------------------------------------------------------------------
# atomic saving
# ---------------------------------------------------------------------------


def test_overwriting_an_existing_checkpoint_replaces_it(saved: Path) -> None:
    new = {"w": torch.full((2, 2), 7.0)}
    _save(saved, tensors=new, options={"latent_dim": 16}, metadata={"steps": "9"})
    config, tensors = read_checkpoint(saved)
    assert config.options == {"latent_dim": 16}
    assert config.metadata == {"steps": "9"}
    assert _bits(tensors["w"]) == _bits(new["w"])
    assert set(tensors) == {"w"}
    assert _siblings(saved) == ["ckpt"]


def test_saving_into_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    _save(tmp_path / "ckpt")
    assert read_config(tmp_path / "ckpt").model == "vae"


def _user_file(target: Path) -> None:
    target.write_text("my thesis")


def _user_directory(target: Path) -> None:
    target.mkdir()
    (target / "notes.txt").write_text("keep me")


def _checkpoint_plus_user_file(target: Path) -> None:
    _save(target)
    (target / "notes.txt").write_text("keep me")


def _foreign_config(target: Path) -> None:
    target.mkdir()
    (target / CONFIG_FILE).write_text(json.dumps({"model_type": "gpt2"}))


@pytest.mark.parametrize(
    "make_target",
    [_user_file, _user_directory, _checkpoint_plus_user_file, _foreign_config],
    ids=["file", "user-directory", "checkpoint-plus-user-file", "foreign-config"],
)
def test_refuses_to_overwrite_what_is_not_a_genproto_checkpoint(
    tmp_path: Path, make_target: Callable[[Path], None]
) -> None:
    target = tmp_path / "ckpt"
    make_target(target)
    before = {p: p.read_bytes() for p in [target, *target.rglob("*")] if p.is_file()}
    with pytest.raises(CheckpointError, match="refusing to") as info:
        _save(target, tensors={"w": torch.zeros(1)})
    assert "never deletes files" in str(info.value)
    assert {p: p.read_bytes() for p in before} == before
    assert _siblings(target) == ["ckpt"]


def test_refuses_to_save_over_a_symbolic_link(saved: Path) -> None:
    link = saved.parent / "link"
    link.symlink_to(saved, target_is_directory=True)
    with pytest.raises(CheckpointError, match="symbolic link"):
        _save(link)
    assert link.is_symlink()


@pytest.mark.parametrize("exception", [OSError("disk full"), KeyboardInterrupt()])
def test_failure_while_writing_weights_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exception: BaseException
) -> None:
    written: list[Path] = []

    def failing_save_file(tensors: dict[str, torch.Tensor], filename: str) -> None:
        written.append(Path(filename))
        Path(filename).write_bytes(b"half a file")
        raise exception

    monkeypatch.setattr(checkpoint, "save_file", failing_save_file)
    with pytest.raises(type(exception)):
        _save(tmp_path / "ckpt")
    # It wrote into a hidden sibling of the target, and removed it.
    assert written[0].parent.parent == tmp_path
    assert written[0].parent.name.startswith(".ckpt.tmp-")
    assert _siblings(tmp_path / "ckpt") == []


@pytest.mark.parametrize("exception", [OSError("rename failed"), KeyboardInterrupt()])
def test_failure_while_renaming_new_target_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exception: BaseException
) -> None:
    def failing_replace(src: Any, dst: Any) -> None:
        raise exception

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(type(exception)):
        _save(tmp_path / "ckpt")
    assert _siblings(tmp_path / "ckpt") == []


@pytest.mark.parametrize("exception", [OSError("rename failed"), KeyboardInterrupt()])
def test_failure_while_replacing_restores_the_old_checkpoint(
    saved: Path, monkeypatch: pytest.MonkeyPatch, exception: BaseException
) -> None:
    old_config, old_tensors = read_checkpoint(saved)
    real_replace = os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        if ".tmp-" in Path(src).name:  # moving the new checkpoint in
            raise exception
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(type(exception)):
        _save(saved, tensors={"w": torch.zeros(3)})
    monkeypatch.undo()
    config, tensors = read_checkpoint(saved)
    assert config == old_config
    assert {k: _bits(v) for k, v in tensors.items()} == {
        k: _bits(v) for k, v in old_tensors.items()
    }
    assert _siblings(saved) == ["ckpt"]


# ---------------------------------------------------------------------------
# invalid arguments to save: errors before anything is written
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "error", "phrase"),
    [
        ({"options": {"layers": [64, 64]}}, OptionTypeError, "option 'layers' must be a JSON"),
        ({"options": {"sizes": (1, 2)}}, OptionTypeError, "option 'sizes'"),
        ({"options": {"beta": float("nan")}}, OptionError, "option 'beta' must be finite"),
        ({"options": {1: 2}}, OptionTypeError, "option names must be str"),
        ({"metadata": {"seed": 0}}, ArgumentTypeError, "metadata entry 'seed'"),
        ({"tensors": {"w": [1.0, 2.0]}}, ArgumentTypeError, "tensor 'w'"),
        ({"model": ""}, InvalidArgumentError, "registry name"),
        ({"plugin": "genproto-vae"}, ArgumentTypeError, "must be a PluginInfo"),
        ({"capabilities": CAPS.to_dict()}, ArgumentTypeError, "Capabilities"),
        (
            {"capabilities": attrs.evolve(CAPS, protocol_version="3.0")},
            InvalidArgumentError,
            "protocol_version is not readable",
        ),
    ],
)
def test_bad_arguments_to_save_fail_before_anything_is_written(
    tmp_path: Path, overrides: dict[str, Any], error: type[Exception], phrase: str
) -> None:
    with pytest.raises(error, match=re.escape(phrase)):
        _save(tmp_path / "ckpt", **overrides)
    assert _siblings(tmp_path / "ckpt") == []


def test_a_bad_option_error_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(OptionTypeError) as info:
        _save(tmp_path / "ckpt", options={"latent_dim": 8, "layers": [64]})
    assert info.value.option == "layers"
    assert isinstance(info.value, TypeError)


# ---------------------------------------------------------------------------
# reading broken checkpoints
# ---------------------------------------------------------------------------


def test_truncated_weights_are_reported_as_corrupted(saved: Path) -> None:
    weights = saved / WEIGHTS_FILE
    expected = read_config(saved).weights_sha256
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="corrupted or truncated") as info:
        read_checkpoint(saved)
    assert expected in str(info.value)
    assert "re-download" in str(info.value)


def test_a_flipped_byte_is_reported_as_corrupted_and_read_config_stays_cheap(
    saved: Path,
) -> None:
    weights = saved / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # inside the last tensor's bytes: still a parseable file
    weights.write_bytes(bytes(data))
    assert read_config(saved).model == "vae"  # the config alone does not hash the weights
    with pytest.raises(CheckpointError, match="corrupted") as info:
        read_checkpoint(saved)
    assert hashlib.sha256(data).hexdigest() in str(info.value)


def test_deleted_weights(saved: Path) -> None:
    (saved / WEIGHTS_FILE).unlink()
    for read in (read_config, read_checkpoint):
        with pytest.raises(CheckpointNotFoundError, match=r"weights\.safetensors is missing"):
            read(saved)


def test_deleted_config(saved: Path) -> None:
    (saved / CONFIG_FILE).unlink()
    with pytest.raises(CheckpointNotFoundError, match=r"genproto\.json is missing") as info:
        read_checkpoint(saved)
    assert isinstance(info.value, FileNotFoundError)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        read_checkpoint(tmp_path / "nowhere")


def test_a_file_given_instead_of_the_directory(saved: Path) -> None:
    with pytest.raises(CheckpointError, match="not a checkpoint directory") as info:
        read_config(saved / CONFIG_FILE)
    assert f"Pass the directory that holds it: {saved}" in str(info.value)


def test_invalid_json(saved: Path) -> None:
    (saved / CONFIG_FILE).write_text('{"format": "genproto-checkpoint",')
    with pytest.raises(CheckpointError, match="invalid JSON") as info:
        read_checkpoint(saved)
    assert not isinstance(info.value, json.JSONDecodeError)
    assert "line 1" in str(info.value)


def test_json_that_is_not_an_object(saved: Path) -> None:
    (saved / CONFIG_FILE).write_text("[1, 2, 3]")
    with pytest.raises(CheckpointError, match="must be a JSON object"):
        read_checkpoint(saved)


def test_a_foreign_json_config(saved: Path) -> None:
    (saved / CONFIG_FILE).write_text(json.dumps({"model_type": "gpt2", "n_layer": 12}))
    with pytest.raises(CheckpointError, match="not a genproto checkpoint"):
        read_checkpoint(saved)


def test_a_foreign_checkpoint_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointNotFoundError, match="not a genproto checkpoint") as info:
        read_checkpoint(tmp_path)
    assert "config.json" in str(info.value)


def test_a_newer_format_version(saved: Path) -> None:
    _edit(saved, _set("format_version", FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError, match="newer than this genproto reads") as info:
        read_checkpoint(saved)
    assert "Upgrade genproto" in str(info.value)


def _protocol(version: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["protocol_version"] = version
        data["capabilities"]["protocol_version"] = version

    return change


@pytest.mark.parametrize(
    ("version", "phrase"),
    [
        ("3.0", "Upgrade genproto"),  # a newer major
        ("2.7", "Upgrade genproto"),  # a newer minor
        ("0.3", "re-save it"),  # an older major
        ("1.7", "re-save it"),  # an older major, beyond the 1.x versions still read
        ("one.zero", "not MAJOR.MINOR"),
    ],
)
def test_an_incompatible_protocol_version(saved: Path, version: str, phrase: str) -> None:
    _edit(saved, _protocol(version))
    with pytest.raises(CheckpointError, match=re.escape(phrase)) as info:
        read_config(saved)
    assert f"protocol {version!r}" in str(info.value)
    assert f"protocol {genproto.PROTOCOL_VERSION!r}" in str(info.value)


@pytest.mark.parametrize(
    ("dotted", "value", "phrase"),
    [
        ("model", 3, "field 'model' must be a str"),
        ("format_version", "1", "field 'format_version' must be an int"),
        ("format_version", True, "field 'format_version' must be an int"),
        ("format_version", 0, "'format_version' must be >= 1"),
        ("protocol_version", 1.0, "field 'protocol_version' must be a str"),
        ("options", [["latent_dim", 8]], "field 'options' must be a JSON object"),
        ("options", {"layers": [64, 64]}, "option 'layers' must be a JSON scalar"),
        ("plugin", _DELETE, "field 'plugin' is missing"),
        ("plugin.version", 1, "field 'plugin.version' must be a str"),
        ("weights.sha256", 12, "field 'weights.sha256' must be a str"),
        ("weights.sha256", "abc", "SHA-256"),
        ("weights.tensors", "9", "field 'weights.tensors' must be an int"),
        ("weights.tensors", -1, "must be >= 0"),
        ("weights.file", "../../secrets.safetensors", "'weights.file' must name"),
        ("metadata", {"seed": 0}, "metadata entry 'seed'"),
        ("genproto_version", _DELETE, "field 'genproto_version' is missing"),
        ("capabilities.likelihood", "maybe", "field 'capabilities' is malformed"),
        ("capabilities.cost", _DELETE, "field 'capabilities' is malformed"),
        ("capabilities.protocol_version", "1.0", "must equal capabilities.protocol_version"),
    ],
)
def test_a_missing_or_wrong_typed_field_is_named(
    saved: Path, dotted: str, value: Any, phrase: str
) -> None:
    _edit(saved, _set(dotted, value))
    with pytest.raises(CheckpointError, match=re.escape(phrase)) as info:
        read_config(saved)
    message = str(info.value)
    assert str(saved / CONFIG_FILE) in message
    assert "re-save" in message
    assert type(info.value) is CheckpointError


def test_a_weights_file_that_is_not_safetensors(saved: Path) -> None:
    garbage = b"\xff" * 64
    (saved / WEIGHTS_FILE).write_bytes(garbage)
    _edit(saved, _set("weights.sha256", hashlib.sha256(garbage).hexdigest()))
    with pytest.raises(CheckpointError, match="not a readable safetensors file") as info:
        read_checkpoint(saved)
    assert not isinstance(info.value, SafetensorError)


def test_a_tensor_count_mismatch(saved: Path) -> None:
    _edit(saved, _set("weights.tensors", 3))
    with pytest.raises(CheckpointError, match=f"holds {len(_tensors())} tensors but"):
        read_checkpoint(saved)


@pytest.mark.parametrize("directory", [None, 3, "", "x" * 300])
def test_saving_to_a_bad_directory_is_a_typed_error(directory: object, tmp_path: Path) -> None:
    from genproto.errors import GenprotoError

    target = directory if not isinstance(directory, str) or not directory else \
        str(tmp_path / directory)
    with pytest.raises(GenprotoError):
        _save(target)  # type: ignore[arg-type]
