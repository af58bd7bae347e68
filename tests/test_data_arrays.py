"""User data from .npy/.npz files, and the checks every Dataset runs on construction."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from genproto.data import Dataset, load_array
from genproto.errors import DataError, DataFileNotFoundError, GenprotoError, InvalidArgumentError
from genproto.protocol import EventKind, EventSpace


def _npy(tmp_path: Path, array: Any, name: str = "data.npy") -> Path:
    path = tmp_path / name
    np.save(path, array, allow_pickle=True)
    return path


def _npz(tmp_path: Path, name: str = "data.npz", **arrays: Any) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


# --- round trips ------------------------------------------------------------------------


def test_npy_float_round_trip_is_continuous_float32(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(6, 3, 2))
    data = load_array(_npy(tmp_path, x))
    assert data.name == "data"
    assert data.event == EventSpace.continuous((3, 2))
    assert data.x.dtype == torch.float32
    assert np.array_equal(data.x.numpy(), x.astype(np.float32))
    assert data.y is None
    assert data.num_classes is None


def test_npy_integer_round_trip_is_discrete_int64(tmp_path: Path) -> None:
    x = np.array([[0, 3], [2, 1], [4, 4]], dtype=np.uint8)
    data = load_array(str(_npy(tmp_path, x)))
    assert data.event == EventSpace.discrete((2,), 5)  # levels = max + 1
    assert data.x.dtype == torch.int64
    assert data.x.tolist() == x.tolist()


@pytest.mark.parametrize(
    "x", [np.zeros((4, 2), dtype=np.int32), np.array([[True], [False]]), np.ones((3, 1), np.int8)]
)
def test_discrete_levels_are_at_least_two(tmp_path: Path, x: Any) -> None:
    data = load_array(_npy(tmp_path, x))
    assert data.event.kind is EventKind.DISCRETE
    assert data.event.levels == 2
    assert data.x.tolist() == x.astype(int).tolist()


@pytest.mark.parametrize("labels_name", ["y", "labels"])
def test_npz_round_trip_with_default_keys(tmp_path: Path, labels_name: str) -> None:
    x = np.arange(24, dtype=np.float64).reshape(4, 6)
    y = np.array([0, 2, 2, 1], dtype=np.uint8)
    arrays: dict[str, Any] = {"x": x, labels_name: y}
    data = load_array(_npz(tmp_path, **arrays))
    assert data.x.tolist() == x.tolist()
    assert data.y is not None
    assert data.y.dtype == torch.int64
    assert data.y.tolist() == [0, 2, 2, 1]
    assert data.num_classes == 3


def test_npz_round_trip_with_named_keys(tmp_path: Path) -> None:
    images = np.arange(8, dtype=np.int16).reshape(2, 2, 2)
    path = _npz(tmp_path, images=images, classes=np.array([1, 0]), y=np.array([5, 5]))
    data = load_array(path, key="images", labels_key="classes")
    assert data.x.tolist() == images.tolist()
    assert data.y is not None
    assert data.y.tolist() == [1, 0]
    assert data.event == EventSpace.discrete((2, 2), 8)


def test_npz_without_labels_is_unlabelled(tmp_path: Path) -> None:
    data = load_array(_npz(tmp_path, x=np.ones((3, 1))))
    assert data.y is None


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "DATA.NPY"
    with path.open("wb") as handle:  # np.save(path) would append ".npy"
        np.save(handle, np.ones((2, 2)))
    assert len(load_array(path)) == 2


# --- errors: each names the bad value ---------------------------------------------------


def _refused(path: Path | str, *phrases: str, error: type[Exception] = DataError, **kw: Any) -> str:
    with pytest.raises(error) as info:
        load_array(path, **kw)
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"
    assert isinstance(info.value, GenprotoError)
    assert isinstance(info.value, ValueError)
    return message


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.npz"
    _refused(missing, str(missing), ".npy or .npz", error=DataFileNotFoundError)
    with pytest.raises(FileNotFoundError):
        load_array(missing)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    _refused(folder, str(folder), "not a file")


@pytest.mark.parametrize("name", ["data.csv", "data.pt", "data"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("1,2\n")
    _refused(path, repr(path.suffix), "'.npy' or '.npz'", "np.save")


def test_missing_x_key_lists_available_keys(tmp_path: Path) -> None:
    path = _npz(tmp_path, data=np.ones((2, 2)), targets=np.zeros(2, np.int64))
    _refused(path, "'x'", "'data'", "'targets'", "key=")
    _refused(path, "'image'", "'data'", "'targets'", key="image")


def test_missing_labels_key_lists_available_keys(tmp_path: Path) -> None:
    path = _npz(tmp_path, x=np.ones((2, 2)))
    _refused(path, "'classes'", "'x'", labels_key="classes")


def test_ambiguous_labels(tmp_path: Path) -> None:
    path = _npz(tmp_path, x=np.ones((2, 2)), y=np.zeros(2, int), labels=np.zeros(2, int))
    _refused(path, "'y'", "'labels'", "labels_key=")


@pytest.mark.parametrize("arg", ["key", "labels_key"])
def test_keys_are_refused_for_npy(tmp_path: Path, arg: str) -> None:
    path = _npy(tmp_path, np.ones((2, 2)))
    message = _refused(path, "'x'", arg, error=InvalidArgumentError, **{arg: "x"})
    assert "np.savez" in message


@pytest.mark.parametrize(
    ("x", "phrase"),
    [
        (np.ones(5), "(5,)"),
        (np.array(3.0), "()"),
        (np.ones((0, 3)), "(0, 3)"),
        (np.ones((4, 0)), "(4, 0)"),
    ],
)
def test_too_few_dims_or_empty(tmp_path: Path, x: Any, phrase: str) -> None:
    _refused(_npy(tmp_path, x), phrase, "at least 2 dimensions")


@pytest.mark.parametrize(
    ("bad", "phrase"), [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"), (1e39, "1e+39")]
)
def test_non_finite_values(tmp_path: Path, bad: float, phrase: str) -> None:
    x = np.zeros((3, 2))
    x[1, 1] = bad
    _refused(_npy(tmp_path, x), phrase, "finite" if math.isinf(bad) or bad != bad else "float32")


def test_negative_integer_values(tmp_path: Path) -> None:
    _refused(_npy(tmp_path, np.array([[0, -3], [1, 2]])), "-3", ">= 0", "x - x.min()")


@pytest.mark.parametrize(
    ("x", "phrase"),
    [
        (np.array([["a", "b"], ["c", "d"]]), "<U1"),
        (np.ones((2, 2), dtype=np.complex64), "complex64"),
        (np.array([["2020-01-01"]], dtype="datetime64[D]"), "datetime64[D]"),
    ],
)
def test_non_numeric_dtype(tmp_path: Path, x: Any, phrase: str) -> None:
    _refused(_npy(tmp_path, x), phrase, "integer, boolean or floating")
    _refused(_npz(tmp_path, x=x), phrase, "integer, boolean or floating")


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    x = np.array([[1, "a"], [2, "b"]], dtype=object)
    for path in (_npy(tmp_path, x), _npz(tmp_path, x=x)):
        _refused(path, "'object'", "never unpickled")


def test_object_labels_are_never_unpickled(tmp_path: Path) -> None:
    path = _npz(tmp_path, x=np.ones((2, 2)), y=np.array([0, "a"], dtype=object))
    _refused(path, "'object'")


@pytest.mark.parametrize(
    ("content", "name"), [(b"not numpy at all", "junk.npy"), (b"PK not a zip", "junk.npz")]
)
def test_corrupt_file(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    _refused(path, str(path), "np.save")


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_truncated_file(tmp_path: Path, suffix: str) -> None:
    path = _npy(tmp_path, np.ones((50, 50))) if suffix == ".npy" else _npz(tmp_path, x=np.ones(9))
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    _refused(path, str(path))


def test_uint64_beyond_int64(tmp_path: Path) -> None:
    _refused(_npy(tmp_path, np.array([[2**63]], dtype=np.uint64)), str(2**63), "int64")


def test_npz_content_under_npy_name(tmp_path: Path) -> None:
    path = tmp_path / "data.npy"
    with path.open("wb") as handle:
        np.savez(handle, x=np.ones((2, 2)))
    _refused(path, str(path), ".npy")


@pytest.mark.parametrize(
    ("y", "phrase"),
    [
        (np.array([0, 1, 2]), "(3,)"),
        (np.array([[0], [1]]), "(2, 1)"),
        (np.array([0.0, 1.0]), "float64"),
        (np.array([True, False]), "bool"),
        (np.array([0, -1]), "-1"),
    ],
)
def test_bad_labels(tmp_path: Path, y: Any, phrase: str) -> None:
    _refused(_npz(tmp_path, x=np.ones((2, 4)), y=y), phrase, "label")


# --- Dataset checks its own declaration -------------------------------------------------

DIGIT = EventSpace.discrete((2,), 3)
PLANE = EventSpace.continuous((2,))


def test_dataset_len_and_repr() -> None:
    data = Dataset(torch.zeros(4, 2, dtype=torch.int64), torch.tensor([0, 1, 1, 0]), "d", DIGIT, 2)
    assert len(data) == 4
    assert repr(data) == "Dataset(name='d', n=4, event='2 discrete, levels 0..2', num_classes=2)"


@pytest.mark.parametrize(
    ("kwargs", "phrase"),
    [
        ({"x": [[0, 1]]}, "torch.Tensor"),
        ({"x": torch.zeros(4, 3, dtype=torch.int64)}, "(4, 3)"),
        ({"x": torch.zeros(0, 2, dtype=torch.int64)}, "(0, 2)"),
        ({"x": torch.zeros(4, 2)}, "torch.float32"),
        ({"x": torch.full((4, 2), 3)}, "(3, 3)"),
        ({"x": torch.full((4, 2), -1)}, "(-1, -1)"),
        ({"y": torch.tensor([0, 1, 1])}, "(3,)"),
        ({"y": torch.tensor([0.0, 1.0, 1.0, 0.0])}, "torch.float32"),
        ({"y": torch.tensor([0, 1, 2, 0])}, "(0, 2)"),
        ({"num_classes": None}, "num_classes"),
        ({"num_classes": 0}, "got 0"),
        ({"y": None}, "num_classes"),
    ],
)
def test_dataset_refuses_a_false_declaration(kwargs: dict[str, Any], phrase: str) -> None:
    fields: dict[str, Any] = {
        "x": torch.zeros(4, 2, dtype=torch.int64),
        "y": torch.tensor([0, 1, 1, 0]),
        "name": "d",
        "event": DIGIT,
        "num_classes": 2,
    }
    fields.update(kwargs)
    with pytest.raises(DataError) as info:
        Dataset(**fields)
    assert phrase in str(info.value)


def test_dataset_refuses_non_finite_continuous_values() -> None:
    with pytest.raises(DataError, match="NaN or infinite"):
        Dataset(torch.tensor([[0.0, math.nan]]), None, "d", PLANE)
