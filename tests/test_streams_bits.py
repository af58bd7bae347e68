"""The fast draw path of genproto.streams gives the same bits as the plain definition.

``KeyedStreams`` fills its results block by block from reused per-thread buffers, writes pairs
straight into the result and skips copies (issue 22: keyed randomness nearly free). None of that
may change a number (STREAMS_VERSION 1). Here every conversion is restated the plain way -- whole
batch at once, fresh tensors, the ops of STREAMS_VERSION 1 in their original order -- on words
from the pure-Python reference, and the fast path must match it bit for bit, for batch sizes and
block sizes that exercise one block, many blocks and a short last block.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from genproto import streams
from genproto.streams import KeyedStreams

pytestmark = pytest.mark.usefixtures("one_thread")

M32 = (1 << 32) - 1


def srl(x: torch.Tensor, shift: int) -> torch.Tensor:
    return (x >> shift) & ((1 << (64 - shift)) - 1)


def plain_words(seed: int, start: int, stop: int, position: int, count: int) -> torch.Tensor:
    """Words ``position ..`` of samples ``start .. stop - 1``, from the Python-int reference."""
    rows = [
        [streams._reference_word(seed, (), i, j) for j in range(position, position + count)]
        for i in range(start, stop)
    ]
    return torch.tensor(rows, dtype=torch.int64).reshape(stop - start, count)


def plain_f32_halves(words: torch.Tensor) -> torch.Tensor:
    rows, m = words.shape
    out = torch.empty(rows, m, 2, dtype=torch.float32)
    out[..., 0] = srl(words, 31) | 1
    out[..., 1] = ((words & M32) << 1) | 1
    return out.mul_(2.0**-33).reshape(rows, 2 * m)


def plain_uniform(words: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    zero, one = torch.zeros((), dtype=dtype), torch.ones((), dtype=dtype)
    low, high = torch.nextafter(zero, one).item(), torch.nextafter(one, zero).item()
    if dtype == torch.float64:
        return (srl(words, 11) | 1).to(torch.float64).mul_(2.0**-53)
    return plain_f32_halves(words)[:, :n].to(dtype).clamp_(low, high)


def plain_normal(words: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    rows = words.shape[0]
    if dtype == torch.float64:
        w = words.reshape(rows, -1, 2)
        radius_u = (srl(w[..., 0], 11) | 1).to(torch.float64).mul_(2.0**-53)
        angle = (srl(w[..., 1], 11) | 1).to(torch.float64).mul_(2.0**-53).mul_(2 * math.pi)
    else:
        radius_u = (srl(words, 31) | 1).to(torch.float32).mul_(2.0**-33)
        angle = (words & M32).to(torch.float32).mul_(2 * math.pi * 2.0**-32)
    r = radius_u.log_().mul_(-2.0).sqrt_()
    z = torch.empty(*r.shape, 2, dtype=r.dtype)
    torch.cos(angle, out=z[..., 0])
    torch.sin(angle, out=z[..., 1])
    z *= r[..., None]
    return z.reshape(rows, -1)[:, :n].to(dtype)


def plain_gumbel(words: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    return plain_uniform(words, n, dtype).neg_().log1p_().neg_().log_().neg_()


PLAIN = {"uniform": plain_uniform, "normal": plain_normal, "gumbel": plain_gumbel}


def words_per_row(kind: str, n: int, dtype: torch.dtype) -> int:
    if dtype == torch.float64:
        return 2 * -(-n // 2) if kind == "normal" else n
    return -(-n // 2)


@pytest.mark.parametrize("numpy_max", [streams._NUMPY_MAX_WORDS, 0])
@pytest.mark.parametrize("block", [streams._CPU_BLOCK_WORDS, 40, 7])
@pytest.mark.parametrize("batch", [1, 5, 13])
def test_fast_path_matches_the_plain_definition(
    monkeypatch: pytest.MonkeyPatch, block: int, batch: int, numpy_max: int
) -> None:
    """Every float kind, dtype and odd/even size, one after another on one family; small draws
    through numpy (the default) and through torch's blocks (``numpy_max=0``)."""
    monkeypatch.setattr(streams, "_CPU_BLOCK_WORDS", block)
    monkeypatch.setattr(streams, "_NUMPY_MAX_WORDS", numpy_max)
    seed, start = 2024, 3
    s = KeyedStreams.for_range(seed, start, start + batch)
    position = 0
    for kind in ("normal", "uniform", "gumbel"):
        dtypes = [torch.float32, torch.float64]
        if kind != "gumbel":
            dtypes += [torch.float16, torch.bfloat16]
        for dtype in dtypes:
            for n in (1, 2, 9, 16, 33):
                count = words_per_row(kind, n, dtype)
                words = plain_words(seed, start, start + batch, position, count)
                want = PLAIN[kind](words, n, dtype)
                got = getattr(s, kind)(n, dtype=dtype)
                position += count
                assert s.position == position
                assert got.dtype == want.dtype, (kind, dtype, n)
                assert got.shape == want.shape, (kind, dtype, n)
                assert torch.equal(got.view(torch.uint8), want.view(torch.uint8)), (kind, dtype, n)


@pytest.mark.parametrize("numpy_max", [streams._NUMPY_MAX_WORDS, 0])
@pytest.mark.parametrize("block", [streams._CPU_BLOCK_WORDS, 64])
def test_big_draws_match_the_plain_definition_on_the_same_words(
    monkeypatch: pytest.MonkeyPatch, block: int, numpy_max: int
) -> None:
    """A batch of 300 x 64 (many blocks at block=64): the fast path against the plain ops run
    on the words the streams themselves return (checked against the reference elsewhere)."""
    monkeypatch.setattr(streams, "_CPU_BLOCK_WORDS", block)
    monkeypatch.setattr(streams, "_NUMPY_MAX_WORDS", numpy_max)
    for kind in ("normal", "uniform", "gumbel"):
        words = KeyedStreams.for_range(9, 0, 300).words(32)
        got = getattr(KeyedStreams.for_range(9, 0, 300), kind)(64)
        assert torch.equal(got, PLAIN[kind](words, 64, torch.float32)), kind


def test_returned_words_survive_later_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-thread buffers are reused: results must never alias them."""
    for block, numpy_max in ((streams._CPU_BLOCK_WORDS, streams._NUMPY_MAX_WORDS), (6, 0)):
        monkeypatch.setattr(streams, "_CPU_BLOCK_WORDS", block)
        monkeypatch.setattr(streams, "_NUMPY_MAX_WORDS", numpy_max)
        s = KeyedStreams.for_range(1, 0, 4)
        w = s.words(5)
        kept = w.clone()
        u = s.uniform(10)
        kept_u = u.clone()
        s.normal(40)
        s.words(7)
        s.randint(9, 12)
        assert torch.equal(w, kept)
        assert torch.equal(u, kept_u)


def test_buffers_made_in_inference_mode_still_serve_draws_outside_it() -> None:
    """A thread whose first draws run under ``torch.inference_mode`` (as every sampling run's do)
    must still draw outside it afterwards: its kept buffers must be normal tensors, since an
    inference tensor cannot be written outside the mode (the bug CI caught: a training step
    after a sampling run raised RuntimeError). 4,096 x 64 takes the torch path (over 2^15 words)."""
    want = {kind: KeyedStreams.for_range(4, 0, 4096).__getattribute__(kind)(64)
            for kind in ("normal", "uniform", "words")}
    got: dict[str, torch.Tensor] = {}
    failures: list[BaseException] = []

    def fresh_thread() -> None:  # new thread-local buffers, first made inside the mode
        try:
            with torch.inference_mode():
                for kind in want:
                    KeyedStreams.for_range(4, 0, 4096).__getattribute__(kind)(64)
            for kind in want:
                got[kind] = KeyedStreams.for_range(4, 0, 4096).__getattribute__(kind)(64)
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=fresh_thread)
    worker.start()
    worker.join()
    assert not failures, failures
    for kind, value in want.items():
        assert torch.equal(got[kind], value), kind
        assert not got[kind].is_inference()


def test_converters_leave_the_words_alone() -> None:
    """A converter may use the scratch buffer but must not change the words it is given."""
    words = KeyedStreams.for_range(4, 0, 3).words(8)
    kept = words.clone()
    for make in (streams._uniform_converter, streams._normal_converter, streams._gumbel_converter):
        for dtype in (torch.float32, torch.float64):
            make(16, dtype)(words, torch.empty_like(words))
            assert torch.equal(words, kept)


def test_numpy_and_torch_paths_give_the_same_keys_and_draws(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small CPU draws and key derivations run on numpy's uint64; large ones on torch's int64."""
    indices = torch.tensor([0, 1, 7, 2**31, 2**40 + 3, 2**62, 2**63 - 1])

    def everything() -> list[torch.Tensor]:
        s = KeyedStreams(123, indices).fork("a")
        logits = torch.linspace(-2, 2, 7 * 5).reshape(7, 5)
        draws = [s.words(9), s.uniform(16), s.normal(16), s.gumbel(9), s.categorical(logits)]
        return [s._keys, s._gammas, *draws]

    small = everything()
    monkeypatch.setattr(streams, "_NUMPY_MAX_WORDS", 0)
    large = everything()
    for a, b in zip(small, large, strict=True):
        assert torch.equal(a, b)
    family = streams._family_key(123, ("a",))
    by_numpy = streams._sample_keys_np(family, indices.numpy().view(np.uint64))
    by_torch = streams._sample_keys(family, indices)
    assert torch.equal(by_numpy[0], by_torch[0])
    assert torch.equal(by_numpy[1], by_torch[1])


def test_categorical_is_argmax_of_logits_plus_gumbel() -> None:
    """categorical() computes logits - log E; the definition is argmax(logits + gumbel())."""
    for dtype in (torch.float32, torch.float64):
        logits = torch.sin(torch.arange(6 * 2 * 17, dtype=dtype)).reshape(6, 2, 17) * 3
        got = KeyedStreams.for_range(8, 0, 6).categorical(logits)
        noise = KeyedStreams.for_range(8, 0, 6).gumbel(2, 17)
        assert torch.equal(got, (logits + noise).argmax(dim=-1))


def test_opt_in_compiled_kernels_give_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """GENPROTO_STREAMS_COMPILE=1 fuses the integer work with torch.compile; same numbers.

    Blocks of 2^15 words and more take the compiled kernel (one short last block included), the
    rest stay eager; both float32 normal and uniform, twice each (after the first-call check).
    """
    from genproto import _streams_compiled as compiled

    monkeypatch.setattr(streams, "_CPU_BLOCK_WORDS", 1 << 15)
    monkeypatch.setattr(compiled, "_failed", False)
    monkeypatch.setattr(compiled, "_checked", set())

    def draws() -> list[torch.Tensor]:
        s = KeyedStreams.for_range(5, 2, 2 + 2500)
        s.words(1)
        return [s.normal(64), s.uniform(64), s.normal(64), s.uniform(64), s.normal(7)]

    monkeypatch.setenv(compiled.ENV, "0")
    eager = draws()
    monkeypatch.setenv(compiled.ENV, "1")
    fused = draws()
    if compiled._failed:
        pytest.skip("torch.compile is not usable here (the eager path was used)")
    assert compiled._checked == {"normal", "uniform"}
    for a, b in zip(eager, fused, strict=True):
        assert torch.equal(a, b)


def test_compiled_kernels_switch_off_on_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel whose first call differs from the eager bits is dropped, with a warning, and the
    draw still gives the eager numbers."""
    from genproto import _streams_compiled as compiled

    monkeypatch.setattr(streams, "_CPU_BLOCK_WORDS", 1 << 15)
    monkeypatch.setattr(compiled, "_failed", False)
    monkeypatch.setattr(compiled, "_checked", set())

    def wrong(*args: object) -> tuple[torch.Tensor, ...]:
        angle, radius_u = compiled._normal_bits(*args)  # type: ignore[arg-type]
        return angle, radius_u * 0.5

    monkeypatch.setattr(compiled, "_kernels", {"normal": wrong})
    monkeypatch.setenv(compiled.ENV, "1")
    with pytest.warns(RuntimeWarning, match="does not reproduce the eager bits"):
        got = KeyedStreams.for_range(5, 0, 1024).normal(64)
    assert compiled._failed
    monkeypatch.setenv(compiled.ENV, "0")
    assert torch.equal(got, KeyedStreams.for_range(5, 0, 1024).normal(64))


def test_rows_longer_than_a_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """A row of more words than a block: one row a block, buffers not kept; same numbers."""
    monkeypatch.setattr(streams, "_CPU_BLOCK_WORDS", 16)
    monkeypatch.setattr(streams, "_NUMPY_MAX_WORDS", 0)
    kept = torch.empty(8, dtype=torch.int64)
    monkeypatch.setattr(streams._WORKSPACE, "buffer", kept, raising=False)
    s = KeyedStreams.for_range(3, 0, 40)
    words = KeyedStreams.for_range(3, 0, 40).words(50)
    assert torch.equal(s.normal(100), plain_normal(words, 100, torch.float32))
    assert streams._WORKSPACE.buffer is kept  # not replaced by a 100-word one
