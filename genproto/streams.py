"""Per-sample keyed random streams: every random number of sample ``i`` depends only on (seed, i).

genproto's sampler promises that sample ``i`` of a run with seed ``s`` is the same whatever the
batch size, however the run is split across processes, and on CPU and GPU alike. PyTorch's
generators cannot give that: one generator per batch couples the samples, and the CPU normal
sampler changes algorithm at 16 elements, so ``randn(8)`` twice is not ``randn(16)``. Here every
draw of sample ``i`` comes from a *counter-based* stream keyed by (seed, i), computed with
vectorised int64 torch ops (no Python loop over samples), so the same integers come out on any
device.

The generator (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators",
OOPSLA; ``mix64`` is Stafford's 2011 "variant 13" of the murmur3 finaliser), all mod 2^64::

    F            = mix64(seed + G)                   # family key: SplitMix64(seed)'s 1st output
    F_fork(name) = mix64(F ^ blake2b64(name))        # an independent family per fork name
    key_i        = mix64(F + (2i + 1) * G)           # SplitMix64 outputs 2i+1 and 2i+2 from F:
    gamma_i      = mix_gamma(F + (2i + 2) * G)       #   SplittableRandom.split() for sample i
    word(i, j)   = mix64(key_i + (j + 1) * gamma_i)  # word j = 0, 1, 2, ... of sample i

with ``G = 0x9e3779b97f4a7c15`` (the golden gamma). Each sample has its own odd gamma
(``mix_gamma`` flips gammas with fewer than 24 bit transitions, as in the paper), so two samples'
streams never run in step: with one shared gamma, samples whose keys happen to differ by a
multiple of it would see the same words shifted; with distinct gammas two streams meet only at
isolated words, as often as a random function's outputs would (~W^2 / 2^64 for W words each).

Conversions, with the words each uses per sample for ``n`` values:

* ``uniform`` float32: one 32-bit half ``k`` per value, ``u = (2k + 1) 2^-33`` rounded to float32
  and kept inside (0, 1) (the top 2^-25 of mass lands on ``1 - 2^-24``, the float nearest to it);
  smallest value 2^-33; ceil(n/2) words. float64: 53 bits, ``(2k + 1) 2^-53`` exactly, n words.
* ``normal``: Box-Muller (Box & Muller 1958), both outputs ``r cos t, r sin t`` of each pair used.
  float32: the high half of a word gives the radius ``r = sqrt(-2 log u)``, the low half the angle,
  so |z| <= sqrt(66 ln 2) = 6.76 (P(|Z| > 6.76) ~ 1.4e-11); ceil(n/2) words. float64: two words a
  pair, |z| <= sqrt(106 ln 2) = 8.57; 2 ceil(n/2) words.
* ``gumbel``: ``-log(-log1p(-u))``, fine in the upper tail (g <= 22.9, P(G > 22.9) ~ 1e-10); in
  float32 the lower tail is cut at -2.81 (P(G < -2.81) ~ 6e-8); as ``uniform``.
* ``categorical``: Gumbel-max over the last dim of the logits; as ``gumbel`` of the logits' shape.
* ``randint``: a 63-bit word mod ``high <= 2^32``, bias at most high / 2^63 <= 2^-31; n words.
* ``truncated_normal``: inverse CDF (``ndtri``) of a float64 uniform, each half of the interval
  mapped from its own tail so both tails keep full precision; n words.
* ``rademacher``: one bit per value; ceil(n/64) words.

The draw rule. A :class:`KeyedStreams` keeps a *position*: the number of words each sample has
used so far. Every draw takes the next words of every sample's stream and advances the position by
the words used *per sample*, so the k-th draw a model makes reads the same words for sample ``i``
whatever else is in the batch. Hence **a model must make the same sequence of draws, with the same
per-sample shapes and dtypes, for every sample** -- never a draw whose size depends on the batch
size or on another sample's values. Use :meth:`KeyedStreams.fork` for an independent family (e.g.
``'likelihood'`` vs ``'sample'``) so that adding a draw in one family does not shift another, and
:meth:`KeyedStreams.select` to draw for part of the batch (it shares, and advances, the position).

How the numbers are computed (none of it changes a number; tests/test_streams_bits.py restates
the conversions plainly and compares bit for bit). On the CPU, draws of up to 32,768 words and all
key derivations do their integer work with numpy's uint64 (logical shifts, a third of torch's
per-call cost); larger draws run in blocks of 2^17 words through two per-thread buffers and write
each block's values straight into the result. Every float operation (log, sqrt, sin, cos,
log1p) is torch's eager one, whose results are what version 1 means. ``GENPROTO_STREAMS_COMPILE=1``
fuses the integer work of float32 normal and uniform blocks with torch.compile
(:mod:`genproto._streams_compiled`: opt-in because the first compile costs seconds; checked
against the eager bits on first use). benchmarks/bench_streams.py measures all of it against
``torch.randn``/``torch.rand`` and a torch Gumbel-max.

The streams need int64 addition and multiplication to wrap mod 2^64. torch does so on CPU and
CUDA, but C++ does not promise it, so each device is checked once, before its first use, against a
pure-Python reference (:func:`selftest`, a few milliseconds). Nothing here reads or changes
torch's, numpy's or :mod:`random`'s global RNG; :func:`fresh_seed` asks the operating system.
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
import secrets
import threading
from typing import Any, Literal, Protocol, SupportsIndex

import numpy as np
import torch

from genproto import _streams_compiled as _compiled
from genproto.errors import ArgumentTypeError, DeviceError, InvalidArgumentError

__all__ = [
    "MAX_RANDINT",
    "MAX_SEED",
    "STREAMS_VERSION",
    "KeyedStreams",
    "check_seed",
    "fresh_seed",
    "selftest",
]

STREAMS_VERSION = 1
"""The definition of the streams and conversions; recorded in provenance, bumped on any change
that alters a drawn number (tests/test_streams.py freezes known answers for it)."""

MAX_SEED = 2**63 - 1
"""The largest seed; seeds are ints in ``[0, MAX_SEED]``."""

MAX_RANDINT = 2**32
"""The largest ``high`` accepted by :meth:`KeyedStreams.randint` (modulo bias <= high / 2^63)."""

_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # the golden gamma, odd, ~2^64 / phi
_MIX1 = 0xBF58476D1CE4E5B9  # Stafford's variant 13 multipliers
_MIX2 = 0x94D049BB133111EB
_GAMMA_FLIP = 0xAAAAAAAAAAAAAAAA  # mix_gamma's fix for gammas with few bit transitions
_MIN_GAMMA_TRANSITIONS = 24

_CPU_BLOCK_WORDS = 1 << 17  # words per CPU block: 2^15..2^18 within 5% by measurement, 2^14 1.3x
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_SEED_ALLOWED = f"int in [0, 2**63 - 1] (= [0, {MAX_SEED}]); numpy integers accepted"
_SEED_FIX = "Pass a Python int, e.g. seed=1234, or draw one with genproto.streams.fresh_seed()"


_WORKSPACE = threading.local()


def _cpu_workspace(words: int) -> torch.Tensor:
    """A flat int64 CPU buffer of at least ``words`` words, kept per thread between draws.

    Fresh buffers of a MiB or more come from ``mmap`` and fault every page in on each draw,
    which cost as much as the draw itself at 4,096 x 64 normals. Only buffers of at most
    2 x ``_CPU_BLOCK_WORDS`` words (2 MiB) are kept; longer rows get a fresh one.
    """
    if words > 2 * _CPU_BLOCK_WORDS:  # rows longer than a block: not kept
        return torch.empty(words, dtype=torch.int64)
    buffer: torch.Tensor | None = getattr(_WORKSPACE, "buffer", None)
    if buffer is None or buffer.numel() < words:
        with torch.inference_mode(False):  # a normal tensor: writable in and out of the mode
            buffer = torch.empty(max(words, 1), dtype=torch.int64)
        _WORKSPACE.buffer = buffer
    return buffer[:words]


def _float_scratch(size: int, device: torch.device) -> torch.Tensor:
    """A float32 buffer of ``size`` values for use inside one converter call (cached on the CPU)."""
    if device.type != "cpu" or size > 2 * _CPU_BLOCK_WORDS:
        return torch.empty(size, dtype=torch.float32, device=device)
    buffer: torch.Tensor | None = getattr(_WORKSPACE, "floats", None)
    if buffer is None or buffer.numel() < size:
        with torch.inference_mode(False):  # as in _cpu_workspace
            buffer = torch.empty(max(size, 1), dtype=torch.float32)
        _WORKSPACE.floats = buffer
    return buffer[:size]


def _signed(value: int) -> int:
    """The int64 (two's complement) reading of the 64-bit pattern of ``value``."""
    value &= _MASK64
    return value - (1 << 64) if value >> 63 else value


_S_GOLDEN = _signed(_GOLDEN)
_S_MIX1 = _signed(_MIX1)
_S_MIX2 = _signed(_MIX2)
_S_GAMMA_FLIP = _signed(_GAMMA_FLIP)


# ---------------------------------------------------------------------------------------------
# The mixers, on Python ints (family keys, self-test) and on int64 tensors (everything per sample)
# ---------------------------------------------------------------------------------------------


def _mix64_int(z: int) -> int:
    """Stafford's variant 13 finaliser on a Python int (mod 2^64): SplitMix64's output function."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


def _srl(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic: mask the fill)."""
    return (x >> shift) & ((1 << (64 - shift)) - 1)


def _mix64_(z: torch.Tensor, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`_mix64_int` on an int64 tensor, in place; multiplications wrap mod 2^64.

    ``scratch`` (same shape as ``z``) holds the shifted copies, so that big draws allocate one
    buffer instead of one per step (fresh allocations, i.e. page faults, dominate on CPU).
    """
    tmp = torch.empty_like(z) if scratch is None else scratch
    for shift, multiplier in ((30, _S_MIX1), (27, _S_MIX2), (31, None)):
        torch.bitwise_right_shift(z, shift, out=tmp)
        tmp &= (1 << (64 - shift)) - 1  # logical shift: clear the sign fill
        z ^= tmp
        if multiplier is not None:
            z *= multiplier
    return z


def _popcount64(x: torch.Tensor) -> torch.Tensor:
    """Number of set bits of each int64 bit pattern (SWAR; torch has no popcount)."""
    x = x - (_srl(x, 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + (_srl(x, 2) & 0x3333333333333333)
    x = (x + _srl(x, 4)) & 0x0F0F0F0F0F0F0F0F
    return _srl(x * 0x0101010101010101, 56)


def _mix_gamma_(z: torch.Tensor) -> torch.Tensor:
    """An odd gamma from a counter: mix64, force odd, flip bits if it has < 24 bit transitions."""
    z = _mix64_(z) | 1
    transitions = _popcount64(z ^ _srl(z, 1))
    return torch.where(transitions < _MIN_GAMMA_TRANSITIONS, z ^ _S_GAMMA_FLIP, z)


@functools.lru_cache(maxsize=1024)
def _family_key(seed: int, path: tuple[str, ...]) -> int:
    """The 64-bit key of the stream family ``path`` (fork names, outermost first) under ``seed``."""
    key = _mix64_int(seed + _GOLDEN)
    for name in path:
        digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8, person=b"genproto.fork")
        key = _mix64_int(key ^ int.from_bytes(digest.digest(), "little"))
    return key


def _sample_keys(family: int, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (key, gamma), each (B,) int64: SplitMix64 outputs 2i+1, 2i+2 from ``family``."""
    odd = indices * 2 + 1  # (B,)  2i + 1, mod 2^64
    keys = _mix64_(odd * _S_GOLDEN + _signed(family))
    gammas = _mix_gamma_((odd + 1) * _S_GOLDEN + _signed(family))
    return keys, gammas


# Small CPU batches: the same integers with numpy's uint64 (logical shifts, wrapping products),
# whose per-call cost is about a third of torch's at a few hundred words. Only integer work moves
# here; every float operation stays in torch, so no conversion can differ.

_NUMPY_MAX_WORDS = 1 << 15  # CPU draws of at most this many words (B x count) use numpy:
# faster than torch below it with 1 and 2 threads (1,024 x 64 normals 315 -> 268 us, 1 thread),
# slower above it with 2 (2,048 x 64: 341 -> 384 us)
_U_GOLDEN, _U_MIX1, _U_MIX2 = np.uint64(_GOLDEN), np.uint64(_MIX1), np.uint64(_MIX2)
_U_SHIFTS = (np.uint64(30), np.uint64(27), np.uint64(31))


def _mix64_np_(z: np.ndarray) -> np.ndarray:
    """:func:`_mix64_` on a uint64 array, in place."""
    z ^= z >> _U_SHIFTS[0]
    z *= _U_MIX1
    z ^= z >> _U_SHIFTS[1]
    z *= _U_MIX2
    z ^= z >> _U_SHIFTS[2]
    return z


def _popcount64_np(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (``np.bitwise_count`` from numpy 2.0, else SWAR)."""
    count = getattr(np, "bitwise_count", None)
    if count is not None:
        return np.asarray(count(x))
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.asarray((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


def _sample_keys_np(family: int, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_sample_keys` for indices given as a uint64 array; int64 CPU tensors out."""
    odd = indices * np.uint64(2) + np.uint64(1)
    keys = odd * _U_GOLDEN
    keys += np.uint64(family)
    gammas = keys + _U_GOLDEN  # (2i + 2) G + F
    _mix64_np_(keys)
    _mix64_np_(gammas)
    gammas |= np.uint64(1)
    few = _popcount64_np(gammas ^ (gammas >> np.uint64(1))) < _MIN_GAMMA_TRANSITIONS
    gammas[few] ^= np.uint64(_GAMMA_FLIP)
    return torch.from_numpy(keys.view(np.int64)), torch.from_numpy(gammas.view(np.int64))


def _words_np(keys: torch.Tensor, gammas: torch.Tensor, start: int, count: int) -> torch.Tensor:
    """:func:`_words_at` for CPU tensors, computed with numpy: (B, count) int64, a new tensor."""
    j = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    x = gammas.numpy().view(np.uint64)[:, None] * j
    x += keys.numpy().view(np.uint64)[:, None]
    return torch.from_numpy(_mix64_np_(x).view(np.int64))


def _keys_of(family: int, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (key, gamma) of ``indices``: numpy on the CPU (3.5x faster than torch at
    65,536 indices, 4x at 1,024: a third of the passes, no masking), torch elsewhere."""
    if indices.device.type == "cpu":
        return _sample_keys_np(family, indices.numpy().view(np.uint64))
    return _sample_keys(family, indices)


def _words_at(
    keys: torch.Tensor,
    gammas: torch.Tensor,
    start: int,
    count: int,
    scratch: torch.Tensor,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Words ``start .. start+count-1`` of every sample's stream, (B, count) int64.

    ``scratch`` is an int64 buffer of the same shape, free again on return; ``out`` (same shape,
    int64, not overlapping ``scratch``) receives the words if given.
    """
    j = torch.arange(start + 1, start + count + 1, dtype=torch.int64, device=keys.device)
    x = torch.mul(gammas[:, None], j, out=out) if out is not None else gammas[:, None] * j
    x += keys[:, None]  # (B, count)  key_i + (j + 1) * gamma_i
    return _mix64_(x, scratch)


# ---------------------------------------------------------------------------------------------
# Bits -> numbers. A converter maps a block of words (R, m) and a free int64 buffer of the same
# shape to the block's values (R, n); it sees whole rows only, so blocks change no result. It may
# overwrite both buffers. Given ``out`` (the block's rows of the result, (R, n) of the draw's
# dtype), it may write the values there and return ``out``, saving a copy and an allocation.
# ---------------------------------------------------------------------------------------------


class _Converter(Protocol):
    def __call__(
        self, words: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor: ...


def _open_unit_f64(words: torch.Tensor) -> torch.Tensor:
    """(2k + 1) 2^-53 for the top 52 bits k of each word: exact float64 in [2^-53, 1 - 2^-53]."""
    return (_srl(words, 11) | 1).to(torch.float64).mul_(2.0**-53)


def _high_odd_(words: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """k = 2h + 1 for the high 32-bit half h of each word (33 bits: the top 33 bits, bit 0 set)."""
    torch.bitwise_right_shift(words, 31, out=k)
    k &= (1 << 33) - 1  # logical shift: clear the sign fill
    k |= 1
    return k


def _unit_f32_halves(
    words: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """(2k + 1) 2^-33 in float32 for each 32-bit half k (high half first): (R, 2m) in [2^-33, 1].

    One rounding (int -> float32, exact below 2^24), then an exact scaling by a power of two.
    ``out``: a contiguous float32 (R, 2m) tensor to fill (the draw's result), else a new one.
    """
    rows, m = words.shape
    if out is None and _small_cpu(words):  # the integer work in numpy, same roundings
        x = words.numpy().view(np.uint64)
        halves = np.empty((rows, m, 2), dtype=np.float32)
        halves[..., 0] = (x >> np.uint64(31)) | np.uint64(1)
        halves[..., 1] = ((x << np.uint64(1)) & np.uint64((1 << 33) - 2)) | np.uint64(1)
        halves *= np.float32(2.0**-33)
        return torch.from_numpy(halves.reshape(rows, 2 * m))
    if out is None:
        out = torch.empty(rows, 2 * m, dtype=torch.float32, device=words.device)
    pairs = out.view(rows, m, 2)
    pairs[..., 0] = _high_odd_(words, k)
    torch.bitwise_left_shift(words, 1, out=k)  # low half, doubled ...
    k &= (1 << 33) - 2
    k |= 1  # ... plus one
    pairs[..., 1] = k
    return out.mul_(2.0**-33)


@functools.cache
def _open_bounds(dtype: torch.dtype) -> tuple[float, float]:
    """The floats of ``dtype`` nearest to 0 and to 1 strictly inside (0, 1)."""
    zero, one = torch.zeros((), dtype=dtype), torch.ones((), dtype=dtype)
    return torch.nextafter(zero, one).item(), torch.nextafter(one, zero).item()


def _fits(out: torch.Tensor | None, rows: int, n: int) -> bool:
    """Whether ``out`` is a float32 (rows, n) contiguous tensor that a converter can fill."""
    return (
        out is not None
        and out.dtype == torch.float32
        and out.shape == (rows, n)
        and out.is_contiguous()
    )


def _uniform_converter(n: int, dtype: torch.dtype) -> _Converter:
    low, high = _open_bounds(dtype)

    def convert(
        words: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        if dtype == torch.float64:
            return _open_unit_f64(words)
        rows, m = words.shape
        if dtype == torch.float32 and n == 2 * m:  # no tail to cut: fill the result in place
            target = out if _fits(out, rows, n) else None
            return _unit_f32_halves(words, k, target).clamp_(low, high)
        return _unit_f32_halves(words, k)[:, :n].to(dtype).clamp_(low, high)

    return convert


def _log_exp_converter(n: int, dtype: torch.dtype) -> _Converter:
    """log E for E = -log1p(-u) ~ Exp(1): minus a standard Gumbel number."""
    uniform = _uniform_converter(n, dtype)

    def convert(
        words: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        return uniform(words, k, out).neg_().log1p_().neg_().log_()

    return convert


def _gumbel_converter(n: int, dtype: torch.dtype) -> _Converter:
    log_exp = _log_exp_converter(n, dtype)

    def convert(
        words: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        return log_exp(words, k, out).neg_()  # -log(E), E = -log1p(-u) ~ Exp(1)

    return convert


_ANGLE_SCALE = 2 * math.pi * 2.0**-32


def _cos_sin_radius(
    words: torch.Tensor, k: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """cos t, sin t and r of float32 Box-Muller, one word a pair (torch ops, buffers reused)."""
    rows, pairs = words.shape
    size = rows * pairs
    # 1. angle 2 pi k' 2^-32 from the low half k' (to float32, then one float32 product)
    floats = _float_scratch(2 * size, words.device)
    angle, r = floats[:size].view(rows, pairs), floats[size:].view(rows, pairs)
    torch.bitwise_and(words, _MASK32, out=k)
    angle.copy_(k).mul_(_ANGLE_SCALE)  # (R, pairs)
    # 2. radius uniform (2k + 1) 2^-33 from the high half, in [2^-33, 1] (r = 0 at 1)
    r.copy_(_high_odd_(words, k))
    # 3. r = sqrt(-2 log u)
    r.mul_(2.0**-33).log_().mul_(-2.0).sqrt_()
    # 4. cos t, sin t into k's memory (free now)
    spare = k.view(-1).view(torch.float32)
    cos, sin = spare[:size].view(rows, pairs), spare[size:].view(rows, pairs)
    torch.cos(angle, out=cos)
    torch.sin(angle, out=sin)
    return cos, sin, r


def _small_cpu(words: torch.Tensor) -> bool:
    """Whether a block of words is small enough, and on the CPU, for numpy's lower call cost."""
    return words.device.type == "cpu" and words.numel() <= _NUMPY_MAX_WORDS


def _normal_converter(n: int, dtype: torch.dtype) -> _Converter:
    def convert(
        words: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        rows = words.shape[0]
        if dtype == torch.float64:
            pairs = words.shape[1] // 2
            w = words.reshape(rows, pairs, 2)
            r = _open_unit_f64(w[..., 0]).log_().mul_(-2.0).sqrt_()  # (R, pairs)
            angle = _open_unit_f64(w[..., 1]).mul_(2 * math.pi)
            cos, sin = torch.cos(angle), torch.sin(angle)
        else:
            pairs = words.shape[1]
            if _small_cpu(words):  # the integer work in numpy, same roundings
                x = words.numpy().view(np.uint64)
                a = (x & np.uint64(_MASK32)).astype(np.float32)
                a *= np.float32(_ANGLE_SCALE)
                u = ((x >> np.uint64(31)) | np.uint64(1)).astype(np.float32)
                u *= np.float32(2.0**-33)
                angle, r = torch.from_numpy(a), torch.from_numpy(u)
                r.log_().mul_(-2.0).sqrt_()
                cos, sin = torch.cos(angle), torch.sin(angle)
            else:
                cos, sin, r = _cos_sin_radius(words, k)
        # 5. the pair (r cos t, r sin t) gives values 2m and 2m + 1
        if dtype == torch.float32 and n == 2 * pairs and _fits(out, rows, n):
            assert out is not None
            z = out.view(rows, pairs, 2)
            torch.mul(cos, r, out=z[..., 0])
            torch.mul(sin, r, out=z[..., 1])
            return out
        z = torch.empty(rows, pairs, 2, dtype=r.dtype, device=r.device)  # (R, pairs, 2)
        torch.mul(cos, r, out=z[..., 0])
        torch.mul(sin, r, out=z[..., 1])
        return z.reshape(rows, 2 * pairs)[:, :n].to(dtype)

    return convert


def _randint_converter(high: int) -> _Converter:
    def convert(
        words: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        return _srl(words, 1).remainder_(high)  # 63 bits mod high

    return convert


def _truncated_normal_converter(bound: float, dtype: torch.dtype) -> _Converter:
    a = 0.5 * math.erfc(bound / math.sqrt(2.0))  # Phi(-bound)
    m = 1.0 - 2.0 * a

    def convert(
        words: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        u = _open_unit_f64(words)  # (R, n) float64
        lower = u < 0.5
        p = torch.where(lower, u, 1.0 - u).mul_(m).add_(a)  # in (a, 1/2]: the lower tail
        x = torch.special.ndtri(p)  # <= 0
        x = torch.where(lower, x, x.neg()).clamp_(-bound, bound)
        return x.to(dtype).clamp_(-bound, bound)

    return convert


def _rademacher_converter(n: int, dtype: torch.dtype) -> _Converter:
    def convert(
        words: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        shifts = torch.arange(64, dtype=torch.int64, device=words.device)
        bits = ((words[..., None] >> shifts) & 1).reshape(words.shape[0], -1)[:, :n]  # {0, 1}
        return (1 - 2 * bits).to(dtype)

    return convert


def _identity(
    words: torch.Tensor, k: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    return words


def _fused_block(
    kind: str,
    keys: torch.Tensor,
    gammas: torch.Tensor,
    start: int,
    count: int,
    words: torch.Tensor,
    k: torch.Tensor,
    out: torch.Tensor,
) -> bool:
    """Fill ``out`` (R, 2 count) float32 with a block of ``kind`` draws through the compiled
    integer kernel; False (``out`` untouched) when the kernel is off or fails. ``words`` and
    ``k`` are free int64 (R, count) buffers for the eager check of the first call."""
    j = torch.arange(start + 1, start + count + 1, dtype=torch.int64)
    rows = keys.shape[0]

    def eager_words() -> torch.Tensor:
        return _words_at(keys, gammas, start, count, k, words)

    if kind == "normal":

        def eager_normal() -> tuple[torch.Tensor, ...]:
            w = eager_words()
            angle = (w & _MASK32).to(torch.float32).mul_(_ANGLE_SCALE)
            return angle, _high_odd_(w, k).to(torch.float32).mul_(2.0**-33)

        got = _compiled.run("normal", eager_normal, keys, gammas, j, _S_MIX1, _S_MIX2, _ANGLE_SCALE)
        if got is None:
            return False
        angle, r = got
        r.log_().mul_(-2.0).sqrt_()
        z = out.view(rows, count, 2)
        torch.mul(torch.cos(angle), r, out=z[..., 0])
        torch.mul(torch.sin(angle), r, out=z[..., 1])
        return True
    _, high = _open_bounds(torch.float32)

    def eager_uniform() -> tuple[torch.Tensor, ...]:
        return (_unit_f32_halves(eager_words(), k).clamp_(max=high),)

    got = _compiled.run("uniform", eager_uniform, keys, gammas, j, _S_MIX1, _S_MIX2, high)
    if got is None:
        return False
    out.copy_(got[0])
    return True


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def check_seed(seed: Any) -> int:
    """The one seed check of genproto: an int (numpy integers too) in ``[0, MAX_SEED]``.

    ``ArgumentTypeError`` for a non-integer (bools and tensors included),
    ``InvalidArgumentError`` for one out of range; both name the value and the range.
    """
    if isinstance(seed, bool) or not _is_integer(seed):
        raise ArgumentTypeError(
            "argument 'seed' must be an integer", value=seed, allowed=_SEED_ALLOWED,
            fix=_SEED_FIX,
        )
    value = operator.index(seed)
    if not 0 <= value <= MAX_SEED:
        raise InvalidArgumentError(
            "argument 'seed' out of range", value=seed, allowed=_SEED_ALLOWED, fix=_SEED_FIX
        )
    return value


def _is_integer(value: Any) -> bool:
    """An int, a numpy integer, or anything with ``__index__`` except bools and tensors."""
    if isinstance(value, bool | torch.Tensor):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _check_int(value: Any, what: str, *, low: int, high: int | None, fix: str) -> int:
    allowed = f"int >= {low}" if high is None else f"int in [{low}, {high}]"
    if isinstance(value, bool) or not _is_integer(value):
        raise ArgumentTypeError(f"{what} must be an integer", value=value, allowed=allowed, fix=fix)
    number = operator.index(value)
    if number < low or (high is not None and number > high):
        raise InvalidArgumentError(f"{what} out of range", value=value, allowed=allowed, fix=fix)
    return number


def _numel(shape: tuple[Any, ...], where: str) -> int:
    """Validate a per-sample shape given as ints and return its number of elements."""
    total = 1
    for dim in shape:
        total *= _check_int(
            dim,
            f"{where}() shape entry",
            low=0,
            high=None,
            fix=f"Give the per-sample shape as separate ints, e.g. streams.{where}(3, 32, 32)",
        )
    return total


def _check_dtype(dtype: Any, where: str, allowed: tuple[torch.dtype, ...]) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or dtype not in allowed:
        raise ArgumentTypeError(
            f"{where}() dtype",
            value=dtype,
            allowed=", ".join(str(d) for d in allowed),
            fix=f"Draw {where}(..., dtype=torch.float32) and convert the result with .to()",
        )
    return dtype


# ---------------------------------------------------------------------------------------------
# The public class
# ---------------------------------------------------------------------------------------------


class _Cursor:
    """The position (words used per sample) shared by a stream family and its selections."""

    __slots__ = ("position",)

    def __init__(self, position: int = 0) -> None:
        self.position = position


class KeyedStreams:
    """The random streams of a batch of samples: row ``b`` uses the stream of (seed, indices[b]).

    Every draw returns a tensor of shape ``(B, *shape)`` whose row ``b`` depends only on the
    seed, the fork names, ``indices[b]``, the position and the draw's per-sample shape and dtype --
    never on the other rows or the device. See the module docstring for the rule a model must follow
    (the same sequence of draws, with the same per-sample shapes, for every sample).

    Args:
        seed: an int in ``[0, 2**63 - 1]`` (numpy integers accepted).
        indices: 1-D integer tensor of the global sample indices (>= 0) of the batch's rows.
        device: where to compute; defaults to ``indices.device``.
    """

    def __init__(
        self,
        seed: SupportsIndex,
        indices: torch.Tensor,
        *,
        device: torch.device | str | None = None,
    ) -> None:
        self._seed = check_seed(seed)
        fix = "Pass a 1-D int64 tensor of sample indices, or use KeyedStreams.for_range(seed, a, b)"
        if not isinstance(indices, torch.Tensor):
            raise ArgumentTypeError(
                "indices must be a torch.Tensor", value=indices, allowed="1-D int64 tensor", fix=fix
            )
        if indices.dtype == torch.bool or indices.is_floating_point() or indices.is_complex():
            raise ArgumentTypeError(
                f"indices must have an integer dtype, not {indices.dtype}",
                allowed="1-D int64 tensor",
                fix=fix,
            )
        if indices.dim() != 1:
            raise InvalidArgumentError(
                f"indices must be 1-D, got shape {tuple(indices.shape)}",
                allowed="1-D int64 tensor",
                fix="Flatten the indices: indices.reshape(-1)",
            )
        self._device = torch.device(device) if device is not None else indices.device
        self._indices = indices.to(device=self._device, dtype=torch.int64, copy=True)
        if self._indices.numel() and int(self._indices.min()) < 0:
            bad = int(self._indices.min())
            raise InvalidArgumentError(
                "sample indices must be >= 0",
                value=bad,
                allowed="int64 indices in [0, 2**63 - 1]",
                fix="Use global sample numbers 0, 1, 2, ... of the run",
            )
        _ensure_device_ok(self._device)
        self._path: tuple[str, ...] = ()
        self._cursor = _Cursor()
        self._keys, self._gammas = _keys_of(_family_key(self._seed, ()), self._indices)

    @classmethod
    def for_range(
        cls,
        seed: SupportsIndex,
        start: SupportsIndex,
        stop: SupportsIndex,
        *,
        device: torch.device | str | None = None,
    ) -> KeyedStreams:
        """The streams of samples ``start, start + 1, ..., stop - 1``."""
        first = _check_int(start, "for_range() start", low=0, high=MAX_SEED, fix="Use start >= 0")
        last = _check_int(
            stop, "for_range() stop", low=first, high=MAX_SEED, fix="Use stop >= start"
        )
        if device is not None and torch.device(device).type != "cpu":
            return cls(seed, torch.arange(first, last, dtype=torch.int64, device=device))
        # on the CPU the checks of __init__ hold by construction: numpy all the way (batch 16:
        # 22 -> 12 us)
        new = object.__new__(cls)
        new._seed = check_seed(seed)
        new._device = torch.device("cpu")
        indices = np.arange(first, last, dtype=np.int64)
        new._indices = torch.from_numpy(indices)
        _ensure_device_ok(new._device)
        new._path = ()
        new._cursor = _Cursor()
        family = _family_key(new._seed, ())
        new._keys, new._gammas = _sample_keys_np(family, indices.view(np.uint64))
        return new

    def _derive(self, path: tuple[str, ...], rows: torch.Tensor | None) -> KeyedStreams:
        """A copy for family ``path`` (new position) or for ``rows`` (shared position)."""
        new = object.__new__(KeyedStreams)
        new._seed = self._seed
        new._device = self._device
        new._path = path
        if rows is None:
            new._indices = self._indices
            new._cursor = _Cursor()
            new._keys, new._gammas = _keys_of(_family_key(self._seed, path), self._indices)
        else:
            new._indices = self._indices[rows]
            new._cursor = self._cursor
            new._keys, new._gammas = self._keys[rows], self._gammas[rows]
        return new

    # -- facts --------------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        """The run's seed."""
        return self._seed

    @property
    def indices(self) -> torch.Tensor:
        """(B,) int64 global sample indices of the rows."""
        return self._indices

    @property
    def device(self) -> torch.device:
        """Where draws are computed and returned."""
        return self._device

    @property
    def family(self) -> tuple[str, ...]:
        """The fork names leading to this family, outermost first (``()`` for the root)."""
        return self._path

    @property
    def position(self) -> int:
        """Words used per sample so far by this family (shared with its selections)."""
        return self._cursor.position

    def __len__(self) -> int:
        return int(self._indices.shape[0])

    def __repr__(self) -> str:
        return (
            f"KeyedStreams(seed={self._seed}, batch={len(self)}, family={self._path!r}, "
            f"position={self.position}, device={str(self._device)!r})"
        )

    # -- families and subsets -----------------------------------------------------------------

    def fork(self, name: str) -> KeyedStreams:
        """An independent stream family for the same samples, keyed by a hash of ``name``.

        The fork starts at position 0 and has its own position: draws in it do not move this
        family and vice versa. ``fork(name)`` depends only on this family and ``name`` (not on the
        position), so forking the same name twice gives the same streams: inside a loop, draw
        successively from one fork, or give each its own name (``fork(f"step-{k}")``).
        """
        if not isinstance(name, str) or not name:
            raise ArgumentTypeError(
                "fork() name must be a non-empty str",
                value=name,
                allowed="a non-empty str such as 'likelihood'",
                fix="Name the purpose of the draws, e.g. streams.fork('likelihood')",
            )
        return self._derive((*self._path, name), None)

    def select(self, rows: torch.Tensor) -> KeyedStreams:
        """The streams of a subset of the rows, sharing (and advancing) this family's position.

        ``rows`` is a 1-D integer tensor of row numbers in ``[0, B)`` or a (B,) bool mask. A draw
        on the selection advances the shared position exactly as the same draw on the whole batch
        would, so draw once per step for the rows that need it.
        """
        fix = "Pass row numbers in [0, B) as a 1-D int64 tensor, or a (B,) bool mask"
        if not isinstance(rows, torch.Tensor):
            raise ArgumentTypeError(
                "select() rows must be a torch.Tensor", value=rows, allowed="1-D tensor", fix=fix
            )
        rows = rows.to(self._device)
        if rows.dtype == torch.bool:
            if rows.shape != (len(self),):
                raise InvalidArgumentError(
                    f"select() mask shape {tuple(rows.shape)} does not match the batch",
                    allowed=f"a bool mask of shape ({len(self)},)",
                    fix=fix,
                )
            rows = rows.nonzero().reshape(-1)
        elif rows.is_floating_point() or rows.is_complex():
            raise ArgumentTypeError(
                f"select() rows must be integers, not {rows.dtype}", allowed="int64", fix=fix
            )
        elif rows.dim() != 1:
            raise InvalidArgumentError(
                f"select() rows must be 1-D, got shape {tuple(rows.shape)}",
                allowed="1-D",
                fix=fix,
            )
        elif rows.numel() and not (int(rows.min()) >= 0 and int(rows.max()) < len(self)):
            raise InvalidArgumentError(
                "select() row out of range",
                value=(int(rows.min()), int(rows.max())),
                allowed=f"rows in [0, {len(self)})",
                fix=fix,
            )
        return self._derive(self._path, rows.to(torch.int64))

    # -- draws --------------------------------------------------------------------------------

    def _draw(
        self,
        count: int,
        convert: _Converter,
        shape: tuple[int, ...],
        dtype: torch.dtype,
        fused: str | None = None,
    ) -> torch.Tensor:
        """Take the next ``count`` words of every row and convert them to values of ``shape``.

        Advances the shared position by ``count``. On the CPU the rows are done in blocks of
        about ``_CPU_BLOCK_WORDS`` words, so that the dozen passes of mixing and conversion run in
        cache and reuse two buffers; each block's values go straight into the result (``dtype``).
        The blocks hold whole rows, so they change no result. ``fused`` names the opt-in compiled
        kernel of :mod:`genproto._streams_compiled` that may do a block's integer work instead.
        """
        start = self._cursor.position
        if start + count > MAX_SEED:
            raise InvalidArgumentError(
                "stream position would pass 2**63 - 1 words per sample",
                value=start + count,
                allowed="positions below 2**63 - 1",
                fix="Fork a new family for further draws",
            )
        self._cursor.position = start + count
        batch = len(self)
        if self._device.type != "cpu":  # one block; the device's caching allocator reuses memory
            words = torch.empty(batch, count, dtype=torch.int64, device=self._device)
            scratch = torch.empty(batch, count, dtype=torch.int64, device=self._device)
            _words_at(self._keys, self._gammas, start, count, scratch, words)
            return convert(words, scratch).reshape(batch, *shape)
        compiled = (
            fused is not None and batch * count >= _compiled.MIN_WORDS and _compiled.enabled()
        )
        if batch * count <= _NUMPY_MAX_WORDS and not compiled:
            words = _words_np(self._keys, self._gammas, start, count)
            return convert(words, torch.empty_like(words)).reshape(batch, *shape)
        block = min(batch, max(1, _CPU_BLOCK_WORDS // max(count, 1)))
        buffer = _cpu_workspace(2 * block * count).view(2, block, count)
        if block == batch and not (fused is not None and _compiled.enabled()):
            words, scratch = buffer[0], buffer[1]
            _words_at(self._keys, self._gammas, start, count, scratch, words)
            values = convert(words, scratch)
            if values.untyped_storage().data_ptr() == buffer.untyped_storage().data_ptr():
                values = values.clone()  # the raw words: the buffer is reused by the next draw
            return values.reshape(batch, *shape)
        out = torch.empty(batch, math.prod(shape), dtype=dtype, device=self._device)
        use_fused = fused is not None and block * count >= _compiled.MIN_WORDS
        for first in range(0, batch, block):
            last = min(first + block, batch)
            w, k = buffer[0, : last - first], buffer[1, : last - first]
            rows = out[first:last]
            keys, gammas = self._keys[first:last], self._gammas[first:last]
            if (
                use_fused
                and fused is not None
                and _compiled.enabled()
                and _fused_block(fused, keys, gammas, start, count, w, k, rows)
            ):
                continue
            _words_at(keys, gammas, start, count, k, w)
            values = convert(w, k, rows)
            if values is not rows:
                rows.copy_(values)
        return out.reshape(batch, *shape)

    def words(self, count: int) -> torch.Tensor:
        """The next ``count`` raw 64-bit words of every sample, (B, count) int64 (bit patterns)."""
        count = _check_int(count, "words() count", low=0, high=None, fix="Use count >= 0")
        return self._draw(count, _identity, (count,), torch.int64)

    def uniform(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform numbers in the open interval (0, 1), (B, *shape).

        float32 (and float16/bfloat16, rounded from it): 32 random bits per value, smallest value
        2^-33, two values a word; float64: 53 bits, exact, in [2^-53, 1 - 2^-53], one a word.
        """
        dtype = _check_dtype(dtype, "uniform", _FLOAT_DTYPES)
        n = _numel(shape, "uniform")
        count = n if dtype == torch.float64 else -(-n // 2)
        fused = "uniform" if dtype == torch.float32 and n == 2 * count else None
        return self._draw(count, _uniform_converter(n, dtype), shape, dtype, fused)

    def normal(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard normal numbers, (B, *shape), by Box-Muller (both outputs of each pair used).

        float32 (float16/bfloat16 rounded from it): one word per pair, |z| <= 6.76. float64: two
        words per pair (53-bit radius and angle uniforms), |z| <= 8.57.
        """
        dtype = _check_dtype(dtype, "normal", _FLOAT_DTYPES)
        n = _numel(shape, "normal")
        pairs = -(-n // 2)
        count = 2 * pairs if dtype == torch.float64 else pairs
        fused = "normal" if dtype == torch.float32 and n == 2 * count else None
        return self._draw(count, _normal_converter(n, dtype), shape, dtype, fused)

    def gumbel(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard Gumbel numbers -log(-log u), (B, *shape); the words ``uniform`` would use."""
        dtype = _check_dtype(dtype, "gumbel", (torch.float32, torch.float64))
        n = _numel(shape, "gumbel")
        count = n if dtype == torch.float64 else -(-n // 2)
        return self._draw(count, _gumbel_converter(n, dtype), shape, dtype)

    def categorical(
        self, logits: torch.Tensor, *, method: Literal["gumbel", "inverse"] = "gumbel"
    ) -> torch.Tensor:
        """Draw a category from each row of unnormalised log-probabilities.

        Args:
            logits: (B, ..., C) floating tensor; ``-inf`` marks an impossible category.
            method: ``"gumbel"`` (the default): Gumbel-max, ``argmax(logits + g)``, using the
                words of ``gumbel(*logits.shape[1:])`` (float32 noise whatever the logits'
                dtype): ceil(prod(...) * C / 2) words per sample. ``"inverse"``: inversion
                of the cumulative distribution (Devroye 1986, "Non-Uniform Random Variate
                Generation", section II.2.1): one float64 uniform per draw, ``prod(...)``
                words per sample whatever C -- the choice for large vocabularies. The
                softmax and its running sum are taken in float64 row by row, so a row's
                draw does not depend on the others; a category of probability 0 is never
                drawn. The two methods draw the same distribution with different words.

        Returns:
            (B, ...) int64 category numbers.
        """
        if method not in ("gumbel", "inverse"):
            raise InvalidArgumentError(
                "categorical() method", value=method, allowed="'gumbel' or 'inverse'",
                fix="Use method='inverse' for one word per draw (large C), else the default",
            )
        fix = "Pass logits of shape (B, ..., C) with B = len(streams)"
        if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
            raise ArgumentTypeError(
                "categorical() logits must be a floating tensor",
                value=logits if not isinstance(logits, torch.Tensor) else logits.dtype,
                allowed="a float tensor of shape (B, ..., C)",
                fix=fix,
            )
        if logits.dim() < 2 or logits.shape[0] != len(self) or logits.shape[-1] < 1:
            raise InvalidArgumentError(
                f"categorical() logits shape {tuple(logits.shape)} does not fit the batch",
                allowed=f"(B, ..., C) with B = {len(self)} and C >= 1",
                fix=fix,
            )
        if method == "inverse":
            return self._inverse_categorical(logits)
        # the words and values of gumbel(*logits.shape[1:]) (float32): logits + g computed as
        # logits - log E, the same number (IEEE subtraction adds the negation), one pass less
        n = math.prod(logits.shape[1:])
        convert = _log_exp_converter(n, torch.float32)
        log_exp = self._draw(-(-n // 2), convert, logits.shape[1:], torch.float32)
        work = torch.promote_types(logits.dtype, torch.float32)
        return torch.sub(logits.to(work), log_exp.to(logits.device)).argmax(dim=-1)

    def _inverse_categorical(self, logits: torch.Tensor) -> torch.Tensor:
        """``categorical(logits, method="inverse")``: the first category whose running
        probability sum exceeds ``u * total`` (``u`` in (0, 1), float64)."""
        u = self.uniform(*logits.shape[1:-1], dtype=torch.float64).to(logits.device)
        probs = torch.softmax(logits.to(torch.float64), dim=-1)  # a row of -inf: NaN
        cdf = probs.cumsum(dim=-1)
        target = (u * cdf[..., -1]).unsqueeze(-1)
        # right=True: the first index with cdf > target, so a zero-probability category
        # (cdf equal to its predecessor's) is never chosen; the last positive category
        # bounds the answer where rounding puts target at the total
        index = torch.searchsorted(cdf.contiguous(), target, right=True)
        index = index.clamp_(max=logits.shape[-1] - 1)
        # rounding can leave target at the total: then index may land on a trailing zero;
        # such rows (rare) take their last positive category instead
        wrong = probs.gather(-1, index) == 0
        if bool(wrong.any()):
            positive = (probs > 0).to(torch.int64).cumsum(dim=-1).argmax(dim=-1, keepdim=True)
            index = torch.where(wrong, positive, index)
        return index.squeeze(-1)

    def randint(self, high: int, *shape: int) -> torch.Tensor:
        """Integers uniform in ``[0, high)``, (B, *shape) int64; ``1 <= high <= 2**32``.

        One word per value, reduced mod ``high`` from 63 bits: bias at most high / 2^63 <= 2^-31.
        """
        high = _check_int(
            high,
            "randint() high",
            low=1,
            high=MAX_RANDINT,
            fix="Use 1 <= high <= 2**32, or combine several draws for a wider range",
        )
        n = _numel(shape, "randint")
        return self._draw(n, _randint_converter(high), shape, torch.int64)

    def truncated_normal(
        self, bound: float, *shape: int, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """Standard normal numbers conditioned on ``[-bound, bound]``, (B, *shape).

        Inverse CDF in float64: with a = Phi(-bound), m = 1 - 2a and u uniform, the lower half
        ``u < 1/2`` gives ``ndtri(a + u m)`` and the upper half ``-ndtri(a + (1 - u) m)``, so both
        tails are computed from small probabilities without cancellation. One word per value.
        """
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            raise ArgumentTypeError(
                "truncated_normal() bound must be a number",
                value=bound,
                allowed="a finite float > 0",
                fix="Pass the bound as a float, e.g. truncated_normal(2.0, 16)",
            )
        b = float(bound)
        if not (math.isfinite(b) and b > 0):
            raise InvalidArgumentError(
                "truncated_normal() bound",
                value=bound,
                allowed="a finite float > 0",
                fix="Use normal() for an untruncated normal; the bound must be positive",
            )
        dtype = _check_dtype(dtype, "truncated_normal", _FLOAT_DTYPES)
        n = _numel(shape, "truncated_normal")
        return self._draw(n, _truncated_normal_converter(b, dtype), shape, dtype)

    def rademacher(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Independent +1 / -1 signs with probability 1/2 each, (B, *shape); one bit per value."""
        dtype = _check_dtype(dtype, "rademacher", (*_FLOAT_DTYPES, torch.int64, torch.int8))
        n = _numel(shape, "rademacher")
        return self._draw(-(-n // 64), _rademacher_converter(n, dtype), shape, dtype)


# ---------------------------------------------------------------------------------------------
# Seeds and the device self-test
# ---------------------------------------------------------------------------------------------


def fresh_seed() -> int:
    """A new seed in ``[0, 2**63 - 1]`` from the OS (via ``secrets``), never from a global RNG."""
    return secrets.randbits(63)


def _reference_word(seed: int, path: tuple[str, ...], index: int, j: int) -> int:
    """Word ``j`` of sample ``index`` on Python ints (the definition in the module docstring)."""
    family = _family_key(seed, path)
    key = _mix64_int(family + (2 * index + 1) * _GOLDEN)
    gamma = _mix64_int(family + (2 * index + 2) * _GOLDEN) | 1
    if bin(gamma ^ (gamma >> 1)).count("1") < _MIN_GAMMA_TRANSITIONS:
        gamma ^= _GAMMA_FLIP
    return _signed(_mix64_int(key + (j + 1) * gamma))


# (seed, index): spread over small, large and extreme values; 67 words each (vector tail included).
_SELFTEST_CASES = ((0, 0), (1, 1), (42, 7), (2**63 - 1, 2**63 - 1), (123456789, 2**40 + 3))
_SELFTEST_WORDS = 67


def selftest(device: torch.device | str | None = None) -> None:
    """Check that int64 tensor arithmetic on ``device`` reproduces the streams bit for bit.

    Computes words of a few (seed, index) pairs with tensors on ``device`` and compares them with
    the same words computed on Python ints (mod 2^64). The keyed streams rely on int64
    multiplication and addition wrapping mod 2^64, which torch does on CPU and CUDA in practice but
    C++ does not promise. Raises :class:`~genproto.errors.DeviceError` on a mismatch.
    """
    where = torch.device(device) if device is not None else torch.device("cpu")
    for seed, index in _SELFTEST_CASES:
        keys, gammas = _sample_keys(
            _family_key(seed, ()), torch.tensor([index], dtype=torch.int64, device=where)
        )
        scratch = torch.empty(1, _SELFTEST_WORDS, dtype=torch.int64, device=where)
        got = _words_at(keys, gammas, 0, _SELFTEST_WORDS, scratch)[0].cpu().tolist()
        want = [_reference_word(seed, (), index, j) for j in range(_SELFTEST_WORDS)]
        if got != want:
            first = next(j for j in range(_SELFTEST_WORDS) if got[j] != want[j])
            raise DeviceError(
                f"int64 arithmetic on device {str(where)!r} does not reproduce the keyed "
                f"streams (seed {seed}, index {index}, word {first}: got {got[first]}, "
                f"expected {want[first]})",
                allowed="a device whose int64 add and multiply wrap mod 2**64",
                fix="Sample on the CPU (device='cpu') and report this device to genproto",
            )


@functools.cache
def _device_checked(device: str) -> bool:
    selftest(device)
    return True


def _ensure_device_ok(device: torch.device) -> None:
    """Run :func:`selftest` once per device (cheap: 5 x 67 words) before its first use."""
    _device_checked(str(device))
