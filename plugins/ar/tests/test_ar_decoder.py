"""The cached step loop of the digits model: the same samples as the plain per-step loop.

``PixelAR.sample_batch`` decodes with :class:`~genproto_ar.model.Decoder` (fused projection,
preallocated cache, matmul attention, passes of :func:`~genproto_ar.model.decode_rows` rows)
and Gumbel numbers drawn for all 64 steps at once (:func:`~genproto_ar.model.pixel_noise`).
These tests hold it to the loop it replaced: the network's general cached forward pass and one
``streams.categorical`` per step.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import genproto_ar.model as ar_model
from genproto import registry
from genproto.streams import KeyedStreams
from genproto_ar.model import (
    DECODE_ROWS,
    LEVELS,
    PIXELS,
    WIDE_DECODE_ROWS,
    Decoder,
    PixelAR,
    decode_rows,
    last_level_cache_bytes,
    pixel_noise,
    warp_logits,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: tiny tensors, and a machine shared with other test runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model() -> PixelAR:
    m = registry.get("ar")
    assert isinstance(m, PixelAR)
    return m


def per_step_loop(model: PixelAR, streams: KeyedStreams, labels: torch.Tensor,
                  temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """The sampler before the decoder: the general cached forward pass, one keyed categorical
    per step."""
    B = len(streams)
    draws = streams.fork("pixels")
    tokens = torch.empty(B, PIXELS + 1, dtype=torch.int64)
    tokens[:, 0] = labels + LEVELS
    cache = model.net.new_cache(B, torch.device("cpu"))  # no decoder: the general path
    with torch.inference_mode():
        model.net.eval()
        for t in range(PIXELS):
            logits = model.net(tokens[:, t:t + 1], cache)[:, -1]  # (B, 17)
            tokens[:, t + 1] = draws.categorical(warp_logits(logits, temperature, top_k))
    return tokens[:, 1:].reshape(B, 8, 8)


def test_one_noise_draw_holds_the_numbers_of_64_categorical_draws() -> None:
    streams = KeyedStreams.for_range(3, 0, 5)
    noise = pixel_noise(streams.fork("pixels"))  # (5, 64, 17)
    steps = KeyedStreams.for_range(3, 0, 5).fork("pixels")
    assert noise.shape == (5, PIXELS, LEVELS)
    for t in range(PIXELS):
        assert torch.equal(noise[:, t], steps.gumbel(LEVELS))


@pytest.fixture
def passes_of_64(monkeypatch: pytest.MonkeyPatch) -> None:
    """A last-level cache large enough for passes of ``DECODE_ROWS`` rows, whatever this
    machine's: the tests below then cross pass boundaries."""
    monkeypatch.setattr(ar_model, "last_level_cache_bytes", lambda: 1 << 40)


@pytest.mark.usefixtures("passes_of_64")
@pytest.mark.parametrize("options", [{}, {"temperature": 0.7, "top_k": 5}])
def test_samples_equal_the_per_step_categorical_loop_bit_for_bit(
    model: PixelAR, options: dict[str, float]
) -> None:
    n = DECODE_ROWS + 9  # two passes of the decoder
    labels = torch.arange(n) % 10
    new = model.sample(n, condition=labels, seed=21, batch_size=n, **options)
    old = per_step_loop(model, KeyedStreams.for_range(21, 0, n), labels, **options)
    assert torch.equal(new, old)


@pytest.mark.usefixtures("passes_of_64")
def test_samples_are_bitwise_batch_invariant(model: PixelAR) -> None:
    n = 2 * DECODE_ROWS + 3
    labels = torch.arange(n) % 10
    whole = model.sample(n, condition=labels, seed=4, batch_size=n)
    assert torch.equal(whole, model.sample(n, condition=labels, seed=4, batch_size=29))
    assert torch.equal(whole[:6], model.sample(6, condition=labels[:6], seed=4, batch_size=1))


def test_decoder_step_matches_the_general_forward_pass_on_a_small_network() -> None:
    # width 16, 2 heads: D = 8, so the folded scale 1/sqrt(8) rounds: equal to a few ulps.
    small = PixelAR(layers=2, width=16, heads=2)
    net = small.net.eval()
    torch.manual_seed(0)
    tokens = torch.randint(0, LEVELS, (5, PIXELS))
    tokens[:, 0] = 20
    with torch.inference_mode():
        plain = net.new_cache(5, torch.device("cpu"))
        fast = net.new_cache(5, torch.device("cpu"), decoder=Decoder(net))
        for t in range(PIXELS):
            a = net(tokens[:, t:t + 1], plain)
            b = net(tokens[:, t:t + 1], fast)
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
        assert fast.length == plain.length == PIXELS
        torch.testing.assert_close(fast.kv, plain.kv, rtol=1e-5, atol=1e-5)


# -- the size of a decoder pass ---------------------------------------------------------------


def _cache_dir(root: Path, levels: dict[int, str]) -> Path:
    for i, (level, size) in enumerate(levels.items()):
        index = root / f"index{i}"
        index.mkdir(parents=True)
        (index / "level").write_text(f"{level}\n")
        (index / "size").write_text(f"{size}\n")
    return root


@pytest.mark.parametrize(("levels", "expected"), [
    ({1: "48K", 2: "1024K", 3: "32768K"}, 32 * 2**20),
    ({1: "64K", 2: "512K", 3: "8M"}, 8 * 2**20),
    ({1: "32K", 2: "2048K"}, 2 * 2**20),  # no L3: the last level is the L2
])
def test_the_last_level_cache_is_read_from_sysfs(
    tmp_path: Path, levels: dict[int, str], expected: int
) -> None:
    assert last_level_cache_bytes.__wrapped__(_cache_dir(tmp_path, levels)) == expected


def test_an_unreadable_cache_size_is_unknown(tmp_path: Path) -> None:
    assert last_level_cache_bytes.__wrapped__(tmp_path / "missing") is None
    bad = _cache_dir(tmp_path / "bad", {3: "lots"})
    assert last_level_cache_bytes.__wrapped__(bad) is None


@pytest.mark.parametrize(("cache", "batch", "rows"), [
    (32 * 2**20, 1000, DECODE_ROWS),  # four 8 MiB passes fit: cache-sized passes
    (None, 1000, DECODE_ROWS),  # unknown: as before
    (8 * 2**20, 1000, 1000),  # too small for any useful pass: the whole batch ...
    (8 * 2**20, 5000, WIDE_DECODE_ROWS),  # ... up to the cap
])
def test_the_pass_size_follows_the_last_level_cache(
    model: PixelAR, monkeypatch: pytest.MonkeyPatch, cache: int | None, batch: int, rows: int
) -> None:
    monkeypatch.setattr(ar_model, "last_level_cache_bytes", lambda: cache)
    assert decode_rows(model.net, batch, torch.device("cpu")) == rows
    assert decode_rows(model.net, batch, torch.device("meta")) == batch  # an accelerator: all


def test_samples_do_not_depend_on_the_pass_size(
    model: PixelAR, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = DECODE_ROWS + 9
    labels = torch.arange(n) % 10
    monkeypatch.setattr(ar_model, "last_level_cache_bytes", lambda: 1 << 40)  # passes of 64
    passes = model.sample(n, condition=labels, seed=8, batch_size=n)
    monkeypatch.setattr(ar_model, "last_level_cache_bytes", lambda: 1 << 20)  # one pass
    assert torch.equal(passes, model.sample(n, condition=labels, seed=8, batch_size=n))
