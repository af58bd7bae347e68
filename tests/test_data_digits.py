"""The shipped 8x8 digits: counts, a fixed stratified split, exact data, fresh tensors."""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from genproto.data import DIGITS_EVENT, Dataset, DigitsSplit, load_digits
from genproto.data import _build_digits as build_digits
from genproto.data.digits import _arrays
from genproto.errors import GenprotoError, InvalidArgumentError


def _source_csv() -> Path | None:
    """scikit-learn's shipped digits.csv.gz, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    return path if path.is_file() else None


CSV = _source_csv()
needs_csv = pytest.mark.skipif(
    CSV is None,
    reason="scikit-learn (the source of the shipped digits) is not installed: "
    "pip install -e '.[test]' (or pip install scikit-learn) to compare against its CSV",
)

SPLITS: tuple[DigitsSplit, ...] = ("train", "test", "all")
SIZES = {"train": 1438, "test": 359, "all": 1797}
CLASS_COUNTS = {
    "train": [142, 146, 142, 146, 145, 146, 145, 143, 139, 144],
    "test": [36, 36, 35, 37, 36, 36, 36, 36, 35, 36],
    "all": [178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
}
# SHA-256 of the shipped arrays' bytes: the data and the split must never change.
SHA256 = {
    "images": "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3",
    "labels": "8ba4f891220f5e4c9c819638d1602d74b83618f167043c6da52a2a247841ddf0",
    "train_index": "08630fb964a552c458257c0d3c1a2b6a06d52307f077e5c445e7e2ab296fe868",
    "test_index": "e731936c8184fbb4ad76d6849dea1faac0d24a44e536ebade3f162f7d1c4b17f",
}


def _labels(data: Dataset) -> torch.Tensor:
    assert data.y is not None
    return data.y


@pytest.mark.parametrize("split", SPLITS)
def test_split_has_documented_size_shape_dtype_and_range(split: DigitsSplit) -> None:
    data = load_digits(split)
    n = SIZES[split]
    assert isinstance(data, Dataset)
    assert len(data) == n
    assert data.name == f"digits/{split}"
    assert data.event == DIGITS_EVENT
    assert data.num_classes == 10
    assert data.x.shape == (n, 8, 8)
    assert data.x.dtype == torch.int64
    assert _labels(data).shape == (n,)
    assert _labels(data).dtype == torch.int64
    assert int(data.x.min()) == 0
    assert int(data.x.max()) == 16
    assert torch.bincount(_labels(data), minlength=10).tolist() == CLASS_COUNTS[split]


def test_default_split_is_train() -> None:
    assert load_digits().name == "digits/train"


def test_train_and_test_partition_all() -> None:
    arrays = _arrays()
    train, test = arrays["train_index"].astype(int), arrays["test_index"].astype(int)
    assert set(train).isdisjoint(test)
    assert sorted([*train, *test]) == list(range(1797))
    every = load_digits("all")
    for part, rows in ((load_digits("train"), train), (load_digits("test"), test)):
        assert torch.equal(part.x, every.x[rows])
        assert torch.equal(_labels(part), _labels(every)[rows])


def test_split_is_stratified_about_80_20() -> None:
    # round(0.2 * n_c) of each class c goes to test, so both splits hold every class.
    for c, total in enumerate(CLASS_COUNTS["all"]):
        assert CLASS_COUNTS["test"][c] == round(0.2 * total)
        assert CLASS_COUNTS["train"][c] + CLASS_COUNTS["test"][c] == total


def test_shipped_file_is_pinned() -> None:
    arrays = _arrays()
    assert sorted(arrays) == sorted(SHA256)
    assert arrays["images"].dtype == np.uint8
    assert arrays["images"].shape == (1797, 8, 8)
    assert arrays["labels"].dtype == np.uint8
    assert arrays["labels"].shape == (1797,)
    for key, digest in SHA256.items():
        assert hashlib.sha256(arrays[key].tobytes()).hexdigest() == digest, key


@pytest.mark.parametrize("split", SPLITS)
def test_mutating_returned_tensors_does_not_change_the_next_load(split: DigitsSplit) -> None:
    first = load_digits(split)
    expected_x, expected_y = first.x.clone(), _labels(first).clone()
    first.x.fill_(99)
    _labels(first).fill_(-1)
    second = load_digits(split)
    assert torch.equal(second.x, expected_x)
    assert torch.equal(_labels(second), expected_y)
    assert second.x.data_ptr() != first.x.data_ptr()


def test_cached_arrays_are_read_only() -> None:
    for array in _arrays().values():
        assert not array.flags.writeable


@pytest.mark.parametrize("split", ["tets", "validation", "", "TRAIN", None, 0])
def test_bad_split_names_value_and_allowed(split: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        load_digits(split)
    message = str(info.value)
    assert repr(split) in message
    assert all(repr(s) in message for s in ("train", "test", "all"))
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, GenprotoError)


def test_bad_split_suggests_close_match() -> None:
    with pytest.raises(InvalidArgumentError, match="Did you mean 'test'"):
        load_digits("tets")  # type: ignore[arg-type]  # the typo is the point


def test_runtime_does_not_need_scikit_learn() -> None:
    load_digits()
    assert not any(name == "sklearn" or name.startswith("sklearn.") for name in sys.modules)


def test_license_ships_with_the_data() -> None:
    text = resources.files("genproto.data").joinpath("DIGITS_LICENSE.txt").read_text()
    for phrase in ("Alpaydin", "Kaynak", "UCI", "CC BY 4.0", "scikit-learn", "BSD 3-Clause"):
        assert phrase in text, phrase
    assert "format only" in text.lower()


@needs_csv
def test_shipped_file_matches_source_csv_exactly() -> None:
    assert CSV is not None
    table = np.loadtxt(CSV, delimiter=",", dtype=np.int64)  # (1797, 65)
    every = load_digits("all")
    assert np.array_equal(every.x.reshape(1797, 64).numpy(), table[:, :64])
    assert np.array_equal(_labels(every).numpy(), table[:, 64])


@needs_csv
def test_build_script_reproduces_data_and_a_valid_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert CSV is not None
    out = tmp_path / "digits.npz"
    assert build_digits.main([str(CSV), "--out", str(out)]) == 0
    assert "1797 images, 1438 train / 359 test" in capsys.readouterr().out
    shipped = _arrays()
    with np.load(out, allow_pickle=False) as built:
        assert sorted(built.files) == sorted(shipped)
        for key in ("images", "labels"):
            assert built[key].dtype == shipped[key].dtype
            assert np.array_equal(built[key], shipped[key]), key
        # The split comes from numpy's Generator stream, which numpy may change
        # between versions; the shipped indices are pinned above. Here: same sizes
        # and per-class counts, disjoint, covering.
        train, test = built["train_index"], built["test_index"]
        assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(1797))
        assert np.bincount(built["labels"][test], minlength=10).tolist() == CLASS_COUNTS["test"]


def _global_numpy_rng_state() -> bytes:
    return pickle.dumps(np.random.get_state(legacy=False))


def test_stratified_split_is_deterministic_and_uses_no_global_rng() -> None:
    labels = np.repeat(np.arange(3), [10, 20, 5])
    before = _global_numpy_rng_state()
    first = build_digits.stratified_split(labels, seed=7)
    assert _global_numpy_rng_state() == before
    second = build_digits.stratified_split(labels, seed=7)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)
    train, test = first
    assert np.bincount(labels[test]).tolist() == [2, 4, 1]
    assert sorted([*train, *test]) == list(range(35))


def test_build_script_rejects_a_foreign_csv(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(GenprotoError, match=r"\(2, 3\).*\(1797, 65\)"):
        build_digits.read_csv(bad)
