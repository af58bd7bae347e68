"""Hostile checkpoints: every one is refused with a typed genproto error naming its file.

Two kinds of test. Named cases pin down each rule of reading a checkpoint (NaN
and infinite weights, foreign dtypes and shapes, JSON nested or sized beyond the
limits, integers of thousands of digits, non-path arguments, a model or options
the installed plugins refuse) with the error class and a phrase of the message.
Then Hypothesis fuzzes a small saved checkpoint: it corrupts ``genproto.json``
(a random JSON value, a raw literal such as a 5,000-digit integer or ``NaN``, or
deep nesting in any field; deleted fields; truncation, bit flips, inserted
bytes) and ``weights.safetensors`` (truncation and bit flips with the recorded
hash updated so that the parser, not the hash, meets them; a rewritten
safetensors header; tensors with NaN, another dtype or shape, missing or extra
names), and checks that ``genproto.load`` either returns a model whose
likelihoods are finite or raises a :class:`GenprotoError` whose message names
the checkpoint: never a bare KeyError, JSONDecodeError, SafetensorError,
RecursionError or ValueError.

The 700 examples are derandomized (the same on every run), about 5 s in all; set
``GENPROTO_FUZZ_EXAMPLES`` to run more per test, e.g. ``GENPROTO_FUZZ_EXAMPLES=5000
pytest tests/test_checkpoint_fuzz.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as save_safetensors
from sampler_models import Dice

import genproto
from genproto.checkpoint import (
    CONFIG_FILE,
    MAX_CONFIG_BYTES,
    MAX_CONFIG_DEPTH,
    WEIGHTS_FILE,
    read_checkpoint,
    read_config,
)
from genproto.errors import (
    ArgumentTypeError,
    CheckpointError,
    CheckpointNotFoundError,
    GenprotoError,
    InvalidArgumentError,
    OptionError,
    UnknownModelError,
)
from genproto.loading import CheckpointModelUnavailable, CheckpointOptionError
from genproto.model import Model
from genproto.options import Option
from genproto.registry import Registry

EXAMPLES = int(os.environ.get("GENPROTO_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _examples(default: int) -> settings:
    return settings(FUZZ, max_examples=EXAMPLES or default)


def _dice(width: int = 2) -> Dice:
    """The test model behind a factory option with a declared range, to fuzz options too."""
    return Dice()


def _registry() -> Registry:
    reg = Registry(entry_points=False)
    options = [Option("width", int, 2, "a sized option", minimum=1, maximum=8)]
    reg.register("dice", _dice, capabilities=Dice().capabilities, options=options)
    return reg


@attrs.frozen
class Pristine:
    """A saved checkpoint of the dice model: its two files' bytes and its parts."""

    config: bytes
    weights: bytes
    tensors: dict[str, torch.Tensor]

    def config_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.config)
        return data


@pytest.fixture(scope="module")
def registry() -> Registry:
    return _registry()


@pytest.fixture(scope="module")
def pristine(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    model = registry.get("dice", width=3)
    with torch.no_grad():
        model.net.weight.add_(0.5)  # type: ignore[attr-defined]
    directory = model.save(tmp_path_factory.mktemp("pristine") / "ckpt")
    return Pristine(
        (directory / CONFIG_FILE).read_bytes(),
        (directory / WEIGHTS_FILE).read_bytes(),
        {k: v.clone() for k, v in model.state_tensors().items()},  # type: ignore[attr-defined]
    )


@pytest.fixture
def saved(pristine: Pristine, tmp_path: Path) -> Path:
    return _write(tmp_path / "ckpt", pristine.config, pristine.weights)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory the fuzz examples write their checkpoints into, one after another."""
    return tmp_path_factory.mktemp("fuzz") / "ckpt"


def _write(directory: Path, config: bytes, weights: bytes) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / CONFIG_FILE).write_bytes(config)
    (directory / WEIGHTS_FILE).write_bytes(weights)
    return directory


def _with_weights(pristine: Pristine, weights: bytes, *, count: int | None = None) -> bytes:
    """The pristine config recording ``weights``' hash (and tensor count), so it is parsed."""
    data = pristine.config_json()
    data["weights"]["sha256"] = hashlib.sha256(weights).hexdigest()
    if count is not None:
        data["weights"]["tensors"] = count
    return json.dumps(data).encode()


def _edit(directory: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = directory / CONFIG_FILE
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _raw(directory: Path, dotted: str, literal: str) -> None:
    """Put the JSON text ``literal`` at ``a.b.c`` of the config, as written, unparsed."""
    marker = "@@literal@@"

    def change(data: dict[str, Any]) -> None:
        *parents, last = dotted.split(".")
        for key in parents:
            data = data[key]
        data[last] = marker

    _edit(directory, change)
    path = directory / CONFIG_FILE
    path.write_text(path.read_text().replace(json.dumps(marker), literal))


def _save_tensors(directory: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Replace the weights by ``tensors``, with the config's hash and count to match."""
    weights = save_safetensors(tensors)
    (directory / WEIGHTS_FILE).write_bytes(weights)

    def change(data: dict[str, Any]) -> None:
        data["weights"]["sha256"] = hashlib.sha256(weights).hexdigest()
        data["weights"]["tensors"] = len(tensors)

    _edit(directory, change)


def _finite_model(model: Model) -> None:
    """A loaded model's likelihoods are finite (no silent NaN from bad weights)."""
    grid = torch.cartesian_prod(*[torch.arange(5)] * 3)
    assert torch.isfinite(model.log_likelihood(grid, condition=0)).all()


def _load(
    directory: Path, registry: Registry, case: str, *, fuzzing: bool = True
) -> GenprotoError | None:
    """``genproto.load``: a model with finite likelihoods, or a typed error naming the file.

    Under Hypothesis the outcome (the error class, or "loaded") is counted as an event:
    ``--hypothesis-show-statistics`` shows how many examples met each.
    """
    error: GenprotoError | None = None
    try:
        model = genproto.load(directory, registry=registry)
    except GenprotoError as exc:
        error = exc
    except Exception as exc:  # the property under test: nothing untyped escapes
        pytest.fail(f"{case}: untyped {type(exc).__name__} escaped genproto.load: {exc!r}")
    if error is not None:
        message = str(error)
        assert str(directory) in message, f"{case}: the error does not name the file: {message}"
        if fuzzing:
            event(type(error).__name__)
        return error
    _finite_model(model)
    if fuzzing:
        event("loaded")
    return None


# ---------------------------------------------------------------------------
# named cases: weights
# ---------------------------------------------------------------------------


def test_the_pristine_checkpoint_loads(saved: Path, registry: Registry) -> None:
    assert _load(saved, registry, "pristine", fuzzing=False) is None


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused_naming_file_and_tensor(
    saved: Path, registry: Registry, pristine: Pristine, bad: float
) -> None:
    tensors = dict(pristine.tensors)
    tensors["net.weight"] = tensors["net.weight"].clone()
    tensors["net.weight"][1, 0] = bad
    tensors["net.weight"][3, 1] = bad
    _save_tensors(saved, tensors)
    assert read_checkpoint(saved)[1]["net.weight"][1, 0].item() != 0  # read as stored
    with pytest.raises(CheckpointError) as info:
        genproto.load(saved, registry=registry)
    message = str(info.value)
    assert str(saved / WEIGHTS_FILE) in message
    assert "tensor 'net.weight' holds 2 NaN or infinite values (of 30)" in message
    assert "retrain" in message


@pytest.mark.parametrize("dtype", [torch.int8, torch.float16, torch.float64, torch.bool])
def test_weights_of_another_dtype_are_refused(
    saved: Path, registry: Registry, pristine: Pristine, dtype: torch.dtype
) -> None:
    tensors = dict(pristine.tensors)
    tensors["net.bias"] = tensors["net.bias"].to(dtype)
    _save_tensors(saved, tensors)
    with pytest.raises(CheckpointError) as info:
        genproto.load(saved, registry=registry)
    message = str(info.value)
    assert str(saved / WEIGHTS_FILE) in message
    assert f"tensor 'net.bias' has the wrong dtype: got {dtype!r}" in message
    assert "torch.float32, the dtype of the model's own 'net.bias'" in message


def test_weights_of_another_shape_are_refused(
    saved: Path, registry: Registry, pristine: Pristine
) -> None:
    tensors = dict(pristine.tensors)
    tensors["net.weight"] = tensors["net.weight"].t().contiguous()
    _save_tensors(saved, tensors)
    with pytest.raises(CheckpointError, match=r"'net.weight' has the wrong shape: got \(2, 15\)"):
        genproto.load(saved, registry=registry)


def test_load_state_tensors_checks_dtype_and_values_without_a_file() -> None:
    model, tensors = Dice(), Dice().state_tensors()
    with pytest.raises(CheckpointError, match="wrong dtype"):
        model.load_state_tensors({**tensors, "net.bias": tensors["net.bias"].to(torch.int8)})
    with pytest.raises(CheckpointError, match="1 NaN or infinite"):
        model.load_state_tensors(
            {
                **tensors,
                "net.bias": torch.full((15,), 0.0).index_fill(0, torch.tensor([4]), float("nan")),
            }
        )
    with pytest.raises(ArgumentTypeError, match="'net.bias' must be a tensor"):
        model.load_state_tensors({**tensors, "net.bias": [0.0] * 15})  # type: ignore[dict-item]
    assert torch.isfinite(model.net.weight).all()  # nothing was loaded


# ---------------------------------------------------------------------------
# named cases: the config
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["options", "metadata", "capabilities.event.shape"])
def test_deep_nesting_is_refused_before_parsing(saved: Path, where: str) -> None:
    depth = 100_000
    _raw(saved, where, "[" * depth + "]" * depth)
    with pytest.raises(CheckpointError) as info:
        read_config(saved)
    assert f"JSON nested more than {MAX_CONFIG_DEPTH} levels deep" in str(info.value)
    assert str(saved / CONFIG_FILE) in str(info.value)
    assert not isinstance(info.value.__cause__, RecursionError)


def test_brackets_inside_strings_are_not_nesting(saved: Path, registry: Registry) -> None:
    _edit(saved, lambda data: data["metadata"].update(note='["\\' + "[{" * 500))
    assert read_config(saved).metadata["note"].endswith("[{[{")
    assert _load(saved, registry, "brackets in a string", fuzzing=False) is None


def test_nesting_within_the_limit_is_read(saved: Path) -> None:
    literal = "[" * (MAX_CONFIG_DEPTH - 2) + "]" * (MAX_CONFIG_DEPTH - 2)
    _raw(saved, "options.width", literal)  # depth 2 + 30: read, then refused as an option
    with pytest.raises(CheckpointError, match="option 'width' must be a JSON scalar"):
        read_config(saved)


@pytest.mark.parametrize(
    ("where", "literal", "phrase"),
    [
        ("weights.tensors", "1" + "0" * 4999, "an integer of 5000 digits"),
        ("format_version", "-" + "9" * 150, "an integer of 150 digits"),
        ("options.width", "1" * 101, "an integer of 101 digits"),
        ("options.width", "NaN", "holds NaN, which JSON does not allow"),
        ("options.width", "-Infinity", "holds -Infinity"),
        ("capabilities.cost.units", "1e999", "a number too large for a float"),
    ],
)
def test_numbers_beyond_json_or_sane_limits_are_refused(
    saved: Path, where: str, literal: str, phrase: str
) -> None:
    _raw(saved, where, literal)
    with pytest.raises(CheckpointError) as info:
        read_config(saved)
    assert phrase in str(info.value)
    assert str(saved / CONFIG_FILE) in str(info.value)
    assert "re-save" in str(info.value)


def test_a_config_beyond_the_size_limit_is_refused_unparsed(saved: Path) -> None:
    _edit(saved, lambda data: data["metadata"].update(pad="x" * MAX_CONFIG_BYTES))
    with pytest.raises(CheckpointError, match=f"larger than {MAX_CONFIG_BYTES} bytes"):
        read_config(saved)


def test_saving_over_a_directory_with_a_hostile_config_refuses_cleanly(
    saved: Path, registry: Registry
) -> None:
    (saved / CONFIG_FILE).write_text("[" * 100_000)
    with pytest.raises(CheckpointError, match="not a genproto checkpoint"):
        registry.get("dice").save(saved)


# ---------------------------------------------------------------------------
# named cases: the argument, the model, the options
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("directory", [None, 123, 1.5, b"ckpt", ["ckpt"]])
def test_a_directory_that_is_not_a_path_is_a_type_error(directory: Any) -> None:
    for read in (genproto.load, read_checkpoint, read_config):
        with pytest.raises(ArgumentTypeError, match="checkpoint directory must be a path") as info:
            read(directory)
        assert repr(directory)[:20] in str(info.value)
        assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("directory", ["", "ckpt\0x"])
def test_an_empty_path_or_a_nul_is_refused(directory: str) -> None:
    with pytest.raises(InvalidArgumentError, match="non-empty path without NUL"):
        genproto.load(directory)


def test_a_name_too_long_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError):
        genproto.load(tmp_path / ("x" * 5000))


def test_an_unknown_model_names_the_file_and_the_plugin_to_install(
    saved: Path, registry: Registry
) -> None:
    def change(data: dict[str, Any]) -> None:
        data["model"] = "dicey"
        data["plugin"] = {"distribution": "genproto-dicey", "version": "1.2"}

    _edit(saved, change)
    with pytest.raises(CheckpointModelUnavailable) as info:
        genproto.load(saved, registry=registry)
    error = info.value
    assert isinstance(error, CheckpointError)
    assert isinstance(error, UnknownModelError)
    assert isinstance(error.__cause__, UnknownModelError)
    assert error.name == "dicey"
    assert error.path == saved / CONFIG_FILE
    message = str(error)
    assert str(saved / CONFIG_FILE) in message
    assert "pip install 'genproto-dicey==1.2'" in message
    assert "did you mean 'dice'?" in message


def test_an_unknown_model_saved_without_a_plugin_says_to_register_it(
    saved: Path,
) -> None:
    with pytest.raises(CheckpointModelUnavailable, match=r"Register 'dice' in the registry"):
        genproto.load(saved, registry=Registry(entry_points=False))


@pytest.mark.parametrize(
    ("value", "phrase"), [(99, "99"), ("wide", "'wide'"), ("fuzzy", "unknown")]
)
def test_rejected_options_name_the_file(
    saved: Path, registry: Registry, value: Any, phrase: str
) -> None:
    if value == "fuzzy":
        _edit(saved, lambda data: data["options"].update(fuzzy=1))
    else:
        _edit(saved, lambda data: data["options"].update(width=value))
    with pytest.raises(CheckpointOptionError) as info:
        genproto.load(saved, registry=registry)
    error = info.value
    assert isinstance(error, CheckpointError)
    assert isinstance(error, OptionError)
    assert isinstance(error.__cause__, OptionError)
    message = str(error)
    assert str(saved / CONFIG_FILE) in message
    assert phrase in message
    assert "re-save the checkpoint" in message


def test_a_missing_directory_is_still_not_found(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        genproto.load(tmp_path / "nowhere")


# ---------------------------------------------------------------------------
# fuzz: genproto.json
# ---------------------------------------------------------------------------


def _paths(data: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of a parsed JSON object, interior ones included."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_LITERALS = st.sampled_from(
    [
        "1" + "0" * 5000,
        "-" + "7" * 4400,
        "9" * 101,
        "1e999",
        "-1e999",
        "NaN",
        "Infinity",
        "[" * 5000 + "]" * 5000,
        '{"a":' * 2000 + "1" + "}" * 2000,
        "[" * 40 + "]" * 40,
        '"\\ud800"',
        '"\\u0000"',
        '"' + "\\" * 9 + '"',
        "0.0",
        "-0",
        "1E400",
        "[[]]",
        "{}",
    ]
)
_MUTATIONS = ("value", "literal", "delete")


@_examples(250)
@given(data=st.data())
def test_fuzzed_config_fields_load_or_raise_a_typed_error(
    data: st.DataObject, pristine: Pristine, registry: Registry, scratch: Path
) -> None:
    config = pristine.config_json()
    path = data.draw(st.sampled_from(sorted(_paths(config))), label="field")
    mutation = data.draw(st.sampled_from(_MUTATIONS), label="mutation")
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    marker = "@@literal@@"
    literal = ""
    if mutation == "value":
        parent[path[-1]] = data.draw(_JSON, label="value")
    elif mutation == "literal":
        literal = data.draw(_LITERALS, label="literal")
        parent[path[-1]] = marker
    else:
        del parent[path[-1]]
    text = json.dumps(config).replace(json.dumps(marker), literal)
    directory = _write(scratch, text.encode(), pristine.weights)
    _load(directory, registry, f"{'.'.join(path)}: {mutation} {literal[:40]}")


@_examples(150)
@given(data=st.data())
def test_fuzzed_config_bytes_load_or_raise_a_typed_error(
    data: st.DataObject, pristine: Pristine, registry: Registry, scratch: Path
) -> None:
    raw = bytearray(pristine.config)
    how = data.draw(st.sampled_from(["truncate", "flip", "insert", "replace", "garbage"]))
    if how == "truncate":
        del raw[data.draw(st.integers(0, len(raw) - 1), label="at") :]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif how in ("insert", "replace"):
        at = data.draw(st.integers(0, len(raw)), label="at")
        chunk = data.draw(
            st.binary(min_size=1, max_size=16)
            | st.sampled_from([b"[" * 3000, b"{", b"]", b'"', b"\\", b"\xff\xfe", b"9" * 5000]),
            label="bytes",
        )
        raw[at : at + (len(chunk) if how == "replace" else 0)] = chunk
    else:
        raw = bytearray(data.draw(st.binary(max_size=64), label="garbage"))
    directory = _write(scratch, bytes(raw), pristine.weights)
    _load(directory, registry, f"config bytes {how}")


# ---------------------------------------------------------------------------
# fuzz: weights.safetensors (with the recorded hash updated, so the parser meets it)
# ---------------------------------------------------------------------------


def _header(weights: bytes) -> tuple[dict[str, Any], bytes]:
    size = struct.unpack("<Q", weights[:8])[0]
    return json.loads(weights[8 : 8 + size]), weights[8 + size :]


def _with_header(header: dict[str, Any], body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


_DTYPES = st.sampled_from(
    ["F32", "F16", "BF16", "F64", "I8", "U8", "I64", "BOOL", "F8_E4M3", "C64", "XX", 3, None]
)
_SHAPES = st.lists(st.integers(-3, 2**40), max_size=4) | st.sampled_from([[15, 2], [2, 15], []])
_OFFSETS = st.lists(st.integers(-1, 2**40), max_size=3) | st.just([0, 0])


@_examples(150)
@given(data=st.data())
def test_fuzzed_weights_bytes_load_or_raise_a_typed_error(
    data: st.DataObject, pristine: Pristine, registry: Registry, scratch: Path
) -> None:
    raw = bytearray(pristine.weights)
    how = data.draw(st.sampled_from(["truncate", "flip", "header", "garbage"]), label="how")
    if how == "truncate":
        del raw[data.draw(st.integers(0, len(raw) - 1), label="at") :]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif how == "header":
        header, body = _header(bytes(raw))
        name = data.draw(st.sampled_from(sorted(header)), label="entry")
        field = data.draw(st.sampled_from(["dtype", "shape", "data_offsets", "rename", "drop"]))
        if field == "dtype":
            header[name]["dtype"] = data.draw(_DTYPES)
        elif field == "shape":
            header[name]["shape"] = data.draw(_SHAPES)
        elif field == "data_offsets":
            header[name]["data_offsets"] = data.draw(_OFFSETS)
        elif field == "rename":
            header[data.draw(st.text(max_size=8))] = header.pop(name)
        else:
            del header[name]
        raw = bytearray(_with_header(header, body))
    else:
        raw = bytearray(data.draw(st.binary(max_size=64), label="garbage"))
    weights = bytes(raw)
    count = data.draw(st.none() | st.integers(0, 4), label="recorded tensor count")
    directory = _write(scratch, _with_weights(pristine, weights, count=count), weights)
    _load(directory, registry, f"weights bytes {how}")


_VALUES = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e38, -0.0, 0.0])
_TO_DTYPES = st.sampled_from(
    [
        torch.int8,
        torch.uint8,
        torch.int64,
        torch.bool,
        torch.float16,
        torch.bfloat16,
        torch.float64,
        torch.complex64,
    ]
)


@_examples(150)
@given(data=st.data())
def test_fuzzed_weight_tensors_load_or_raise_a_typed_error(
    data: st.DataObject, pristine: Pristine, registry: Registry, scratch: Path
) -> None:
    tensors = {k: v.clone() for k, v in pristine.tensors.items()}
    name = data.draw(st.sampled_from(sorted(tensors)), label="tensor")
    how = data.draw(st.sampled_from(["value", "dtype", "shape", "drop", "extra", "rename"]))
    if how == "value":
        flat = tensors[name].view(-1)
        flat[data.draw(st.integers(0, flat.numel() - 1), label="at")] = data.draw(_VALUES)
    elif how == "dtype":
        tensors[name] = tensors[name].to(data.draw(_TO_DTYPES, label="dtype"))
    elif how == "shape":
        shape = data.draw(st.lists(st.integers(0, 40), max_size=3), label="shape")
        tensors[name] = torch.zeros(shape)
    elif how == "drop":
        del tensors[name]
    elif how == "extra":
        tensors[data.draw(st.text(min_size=1, max_size=8), label="extra")] = torch.zeros(2)
    else:
        new_name = st.text(min_size=1, max_size=8).filter(lambda text: text != name)
        tensors[data.draw(new_name, label="new name")] = tensors.pop(name)
    weights = save_safetensors(tensors)
    directory = _write(scratch, _with_weights(pristine, weights, count=len(tensors)), weights)
    error = _load(directory, registry, f"tensor {name!r}: {how}")
    nonfinite = how == "value" and not all(torch.isfinite(t).all() for t in tensors.values())
    if nonfinite or how in ("dtype", "drop", "extra", "rename"):
        assert isinstance(error, CheckpointError), f"{how} of {name!r} was accepted"
