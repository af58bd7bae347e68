"""Tests of the ``ar`` plugin: the chain rule, the KV cache, options, seeding and quality.

Quality and invariance use the shipped weights and fixed seeds; the chain-rule checks hold for
any weights and also run on a small untrained configuration.
"""

from __future__ import annotations

import importlib.metadata
import math
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import torch

import genproto
from genproto import registry
from genproto.data import load_digits
from genproto.errors import OptionError, OptionTypeError
from genproto.metrics import conditional_accuracy
from genproto.sampling import run
from genproto.testing.training import check_training
from genproto_ar.model import LEVELS, PIXELS, PixelAR


@pytest.fixture(scope="module")
def model() -> PixelAR:
    m = registry.get("ar")
    assert isinstance(m, PixelAR)
    return m


@pytest.fixture(scope="module")
def small() -> PixelAR:
    return PixelAR(layers=1, width=16, heads=2)


@pytest.fixture(scope="module")
def test_digits() -> genproto.data.Dataset:
    return load_digits("test")


# -- discovery ---------------------------------------------------------------------------------


def test_entry_point_is_installed() -> None:
    eps = importlib.metadata.entry_points(group="genproto")
    assert any(ep.name == "ar" and ep.value == "genproto_ar.plugin" for ep in eps)


def test_registry_finds_ar_in_a_fresh_interpreter() -> None:
    code = (
        "from genproto.registry import Registry; r = Registry(); e = r.entry('ar'); "
        "print(e.distribution, e.capabilities.likelihood.value, e.capabilities.cost.evaluations)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["genproto-ar", "exact", "64"]


# -- the likelihood is exact: every conditional normalises, rows add up ------------------------


@pytest.mark.parametrize("condition", [None, 3])
@pytest.mark.parametrize("options", [{}, {"temperature": 0.7, "top_k": 4}])
def test_every_conditional_sums_to_one_over_the_17_levels(
    model: PixelAR, test_digits: genproto.data.Dataset, condition: int | None,
    options: dict[str, object],
) -> None:
    # Under top-k a test image's prefix may have probability 0 (then p(. | x_<t) is undefined),
    # so the warped distribution is checked on its own samples.
    x = model.sample(2, condition=condition, seed=8, **options) if options else test_digits.x[:2]
    for t in (0, 1, 20, 37, 63):
        # 17 copies of each image with pixel t set to each level (the prefix x_<t is unchanged).
        variants = x.reshape(2, 1, PIXELS).repeat(1, LEVELS, 1)  # (2, 17, 64)
        variants[:, :, t] = torch.arange(LEVELS)
        warped = {"distribution": "sampling", **options} if options else {}
        per_position = model.log_likelihood_per_position(
            variants.reshape(-1, 8, 8), condition, **warped
        ).reshape(2, LEVELS, PIXELS)
        total = torch.logsumexp(per_position[:, :, t].double(), dim=1)  # log sum_v p(v | x_<t)
        torch.testing.assert_close(total, torch.zeros(2, dtype=torch.float64), atol=2e-5, rtol=0)


def test_log_likelihood_is_the_sum_of_the_per_position_terms(
    model: PixelAR, test_digits: genproto.data.Dataset
) -> None:
    x, y = test_digits.x[:50], test_digits.y[:50]
    for condition in (y, None):
        total = model.log_likelihood(x, condition)
        rows = model.log_likelihood_per_position(x, condition).sum(dim=1)
        torch.testing.assert_close(total, rows, atol=1e-3, rtol=1e-5)


def test_marginal_is_the_class_average(model: PixelAR, test_digits: genproto.data.Dataset) -> None:
    x = test_digits.x[:20]
    per_class = torch.stack([model.log_likelihood(x, c) for c in range(10)], dim=1)
    expected = torch.logsumexp(per_class, dim=1) - math.log(10)
    torch.testing.assert_close(model.log_likelihood(x), expected, atol=1e-4, rtol=1e-6)


def test_greedy_samples_have_probability_one_under_the_greedy_distribution(
    model: PixelAR,
) -> None:
    # KV-cache decoding and the one-pass likelihood agree on every argmax.
    x = model.sample(20, condition=torch.arange(20) % 10, seed=3, temperature=0.0)
    warped = model.log_likelihood(x, torch.arange(20) % 10, distribution="sampling",
                                  temperature=0.0)
    assert torch.equal(warped, torch.zeros(20))
    assert bool((model.log_likelihood(x, torch.arange(20) % 10) < 0).all())


def test_top_k_samples_stay_in_the_top_k(model: PixelAR) -> None:
    x = model.sample(50, condition=5, seed=4, top_k=2)
    warped = model.log_likelihood(x, 5, distribution="sampling", top_k=2)
    assert bool(torch.isfinite(warped).all())
    assert bool((warped >= model.log_likelihood(x, 5)).all())  # renormalised over fewer levels


def test_test_bits_per_dim_of_the_shipped_weights(
    model: PixelAR, test_digits: genproto.data.Dataset
) -> None:
    bits = genproto.metrics.bits_per_dim(model.log_likelihood(test_digits.x), PIXELS)
    assert bits < 1.8  # measured 1.766 (class marginal); uniform over 17 levels: 4.09


# -- cost, cache and seeding ------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"kv_cache": False}, {"temperature": 0.0},
                                     {"temperature": 0.5, "top_k": 3}])
def test_counted_evaluations_match_the_declared_cost(
    small: PixelAR, options: dict[str, object]
) -> None:
    result = run(small, 7, seed=0, batch_size=4, **options)
    assert result.evaluations_per_sample == small.cost(**options).evaluations == 64


def test_kv_cache_and_full_prefix_give_the_same_samples(model: PixelAR) -> None:
    a = model.sample(64, seed=11, batch_size=64)
    b = model.sample(64, seed=11, batch_size=64, kv_cache=False)
    differ = (a != b).flatten(1).any(1).float().mean().item()
    assert differ <= 0.02


def test_same_seed_same_samples_other_seed_other_samples(model: PixelAR) -> None:
    a = model.sample(32, condition=1, seed=5)
    assert torch.equal(a, model.sample(32, condition=1, seed=5))
    assert not torch.equal(a, model.sample(32, condition=1, seed=6))


def test_samples_barely_depend_on_the_batch_size(model: PixelAR) -> None:
    # Float matmuls may round differently at different batch sizes, so a categorical draw can
    # flip on a near-tie. 1,000 samples at batch sizes 1000 and 97, the first 50 at batch size 1.
    n = 1000
    labels = torch.arange(n) % 10
    whole = model.sample(n, condition=labels, seed=7, batch_size=n)
    prime = model.sample(n, condition=labels, seed=7, batch_size=97)
    ones = model.sample(50, condition=labels[:50], seed=7, batch_size=1)
    differ_prime = (whole != prime).flatten(1).any(1).float().mean().item()
    differ_ones = (whole[:50] != ones).flatten(1).any(1).float().mean().item()
    assert differ_prime <= 0.01
    assert differ_ones <= 0.01


def test_sample_i_depends_only_on_seed_and_index(model: PixelAR) -> None:
    whole = model.sample(12, condition=4, seed=9)
    tail = run(model, 4, condition=4, seed=9, start=8).samples
    assert torch.equal(whole[8:], tail)


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "error"), [
    ({"temprature": 1.0}, OptionError),
    ({"temperature": -0.1}, OptionError),
    ({"temperature": "hot"}, OptionTypeError),
    ({"top_k": 0}, OptionError),
    ({"top_k": 18}, OptionError),
    ({"top_k": 2.5}, OptionTypeError),
    ({"kv_cache": 1}, OptionTypeError),
])
def test_bad_sample_options_raise_typed_errors(
    small: PixelAR, options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        small.sample(2, seed=0, **options)
    assert isinstance(info.value, OptionError)
    assert info.value.option == next(iter(options))


@pytest.mark.parametrize("options", [
    {"temperature": 0.5},  # a warped value without distribution='sampling'
    {"top_k": 3},
    {"distribution": "warped"},
])
def test_bad_likelihood_options_raise(small: PixelAR, options: dict[str, object]) -> None:
    with pytest.raises(OptionError):
        small.log_likelihood(torch.zeros(1, 8, 8, dtype=torch.int64), 0, **options)


@pytest.mark.parametrize(("options", "name"), [
    ({"layers": 2}, "pretrained"),
    ({"width": 100, "heads": 3, "pretrained": False}, "width"),
    ({"dataset": "toy2d"}, "dataset"),
    ({"layers": 0}, "layers"),
])
def test_bad_model_options_raise(options: dict[str, object], name: str) -> None:
    with pytest.raises(OptionError) as info:
        registry.get("ar", **options)
    assert info.value.option == name


# -- persistence and training ----------------------------------------------------------------


def test_checkpoint_round_trip(small: PixelAR, tmp_path: Path) -> None:
    m = registry.get("ar", layers=1, width=16, heads=2, pretrained=False)
    m.save(tmp_path / "ck")
    back = genproto.load(tmp_path / "ck")
    assert back.weights_sha256() == m.weights_sha256()


def test_training_is_seeded_and_lowers_the_loss(tmp_path: Path) -> None:
    from genproto.training import TrainSettings, fit

    settings = TrainSettings(steps=6, batch_size=16, lr=3e-3, seed=1, report_every=100)
    hashes, losses = [], []
    for run_dir in ("a", "b"):
        m = PixelAR(layers=1, width=16, heads=2)
        result = fit(m, tmp_path / run_dir, settings=settings, progress=False, log=lambda s: None)
        hashes.append(m.weights_sha256())
        losses.append(result.last_losses["nll_bits_per_dim"])
    assert hashes[0] == hashes[1]
    assert losses[0] < math.log2(LEVELS)
    # A run interrupted after step 2 (its last save) and resumed ends with the same weights:
    # batches, dropout masks and the learning rate depend only on the seed and the step.
    def interrupt(text: str) -> None:
        raise KeyboardInterrupt

    m = PixelAR(layers=1, width=16, heads=2)
    with pytest.raises(KeyboardInterrupt):
        fit(m, tmp_path / "c", settings=attrs.evolve(settings, save_every=1, report_every=3),
            progress=False, log=interrupt)
    m = PixelAR(layers=1, width=16, heads=2)
    fit(m, tmp_path / "c", settings=settings, resume=True, progress=False, log=lambda s: None)
    assert m.weights_sha256() == hashes[0]


# -- quality on the shipped weights ------------------------------------------------------------


def test_conditional_accuracy_of_1000_samples_at_temperature_1(model: PixelAR) -> None:
    labels = torch.arange(1000) % 10  # 100 per class
    samples = model.sample(1000, condition=labels, seed=2024)
    assert conditional_accuracy(samples, labels) >= 0.90


def test_registry_get_returns_sevens(model: PixelAR) -> None:
    sevens = registry.get("ar").sample(16, condition=7, seed=0)
    assert conditional_accuracy(sevens, 7) >= 0.8


def test_training_contract() -> None:
    """train_step before setup is a typed error; steps are keyed and leave the global RNG alone."""
    check_training(lambda: PixelAR(layers=1, width=16, heads=2))
