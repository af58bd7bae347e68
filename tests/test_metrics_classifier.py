"""The reference digits classifier: accuracy, features, determinism, weights, input checks."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from importlib import resources

import pytest
import torch

from genproto.data import load_digits
from genproto.errors import DeviceError, GenprotoError, InputError, InputTypeError
from genproto.metrics import (
    FEATURE_DIM,
    DigitsClassifier,
    accuracy,
    classifier_features,
    classify,
    reference_classifier,
)
from genproto.metrics import classifier as classifier_module


@pytest.fixture(scope="module")
def test_split() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits("test")
    assert data.y is not None
    return data.x, data.y


def test_shipped_weights_reach_97_percent_on_the_test_split(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    assert accuracy(x, y) >= 0.97


def test_accuracy_counts_matches(test_split: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, _ = test_split
    predicted = classify(x)
    assert accuracy(x, predicted) == 1.0
    assert accuracy(x, (predicted + 1) % 10) == 0.0


def test_classify_returns_one_int64_label_per_image(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, _ = test_split
    labels = classify(x[:7])
    assert labels.dtype == torch.int64
    assert labels.shape == (7,)
    assert int(labels.min()) >= 0
    assert int(labels.max()) <= 9


def test_features_are_the_penultimate_layer(test_split: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, _ = test_split
    features = classifier_features(x[:5])
    assert features.shape == (5, FEATURE_DIM)
    assert features.dtype == torch.float32
    assert 64 <= FEATURE_DIM <= 128
    model = reference_classifier()
    with torch.no_grad():
        # The head applied to the features gives the logits.
        torch.testing.assert_close(model.head(features), model(x[:5]))


def test_outputs_are_deterministic(test_split: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, _ = test_split
    assert torch.equal(classifier_features(x), classifier_features(x))
    assert torch.equal(classify(x), classify(x))


def test_outputs_do_not_depend_on_batching(test_split: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, _ = test_split
    whole = classifier_features(x)
    parts = torch.cat([classifier_features(part) for part in torch.split(x, 50)])
    torch.testing.assert_close(whole, parts, rtol=1e-5, atol=1e-5)


def test_reference_is_cached_frozen_and_in_eval_mode() -> None:
    model = reference_classifier()
    assert reference_classifier("cpu") is model
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())


def test_loading_and_building_never_touch_the_global_rng() -> None:
    classifier_module._load.cache_clear()
    before = torch.random.get_rng_state()
    reference_classifier()
    DigitsClassifier(seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_initialisation_follows_the_seed() -> None:
    first = DigitsClassifier(seed=1).state_dict()
    again = DigitsClassifier(seed=1).state_dict()
    other = DigitsClassifier(seed=2).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["conv1.weight"], other["conv1.weight"])


def test_random_shift_moves_each_image_by_at_most_one_pixel() -> None:
    x = load_digits("train").x[:64]
    shifted = classifier_module._random_shift(x, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # (N, 10, 10)
    seen = set()
    for i in range(len(x)):
        matches = [
            (dy, dx)
            for dy in range(3)
            for dx in range(3)
            if torch.equal(shifted[i], padded[i, dy : dy + 8, dx : dx + 8])
        ]
        assert matches, f"image {i} is not a one-pixel shift of its input"
        seen.update(matches)
    assert len(seen) == 9  # all nine shifts occur in 64 draws
    again = classifier_module._random_shift(x, torch.Generator().manual_seed(0))
    assert torch.equal(shifted, again)


def test_shipped_weights_are_small_and_match_the_recorded_hash() -> None:
    data = (
        resources.files("genproto.metrics")
        .joinpath(classifier_module.WEIGHTS_FILE)
        .read_bytes()
    )
    assert len(data) < 1_000_000
    digest = hashlib.sha256(data).hexdigest()
    assert digest == classifier_module.WEIGHTS_SHA256, (
        "the reference classifier's weights changed, so every metric number changes; if you "
        "retrained it on purpose, set WEIGHTS_SHA256 in genproto/metrics/classifier.py to "
        f"{digest}"
    )


def test_training_command_prints_help_without_train() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "genproto.metrics.classifier"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--train" in result.stdout
    assert "RuntimeWarning" not in result.stderr


# --- bad inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ([[0] * 8] * 8, InputTypeError, "classify() argument 'x': got [[0"),
        (torch.zeros(3, 8, 8), InputTypeError, "got 'torch.float32'"),
        (torch.zeros(3, 8, 8, dtype=torch.bool), InputTypeError, "got 'torch.bool'"),
        (torch.zeros(8, 8, dtype=torch.int64), InputError, "shape of classify() argument 'x'"),
        (torch.zeros(3, 64, dtype=torch.int64), InputError, "got (3, 64)"),
        (torch.zeros(0, 8, 8, dtype=torch.int64), InputError, "with N >= 1"),
        (torch.full((2, 8, 8), 17), InputError, "got 17 (int); allowed: levels 0..16"),
        (torch.full((2, 8, 8), -1), InputError, "got -1 (int); allowed: levels 0..16"),
    ],
)
def test_classify_rejects_bad_images(bad: object, error: type[GenprotoError], message: str) -> None:
    with pytest.raises(error) as info:
        classify(bad)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "(N, 8, 8)" in str(info.value) or "levels 0..16" in str(info.value)


def test_forward_checks_its_input_too() -> None:
    with pytest.raises(InputTypeError, match="dtype of digit images x"):
        reference_classifier()(torch.rand(2, 8, 8))


def test_accuracy_rejects_labels_of_the_wrong_length(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    with pytest.raises(InputError, match=r"shape of accuracy\(\) argument 'y': got \(358,\)"):
        accuracy(x, y[:-1])


def test_bad_device_is_a_device_error() -> None:
    with pytest.raises(DeviceError, match="argument 'device': got 'gpu7'"):
        reference_classifier("gpu7")
