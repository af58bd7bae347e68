"""Opt-in fused integer kernels for :mod:`genproto.streams` on the CPU (torch.compile / inductor).

The eager draw of a float32 normal spends about half its time in 20 integer passes over memory
(the mixer, then the bit extraction and int -> float conversions) and half in the transcendental
functions. Inductor fuses the integer part into one vectorised C++ loop (measured 60 us against
~500 us for 4,096 x 32 words on one thread). Only integer operations, exact int -> float32
conversions and exact or float32 products are compiled: inductor's float32 ``log``/``sin``/``cos``
use SLEEF while eager torch uses MKL's vector maths, and the two differ in the last bit for a few
per cent of inputs (measured: 10,196 of 131,072 logs), so those stay eager and no number changes.

Off by default: the first compiled draw of a process costs 3-6 s (import of dynamo and inductor,
tracing, a C++ compile or an on-disk cache hit), which pays back only after ~10^9 words. Set
``GENPROTO_STREAMS_COMPILE=1`` for long sampling jobs. The first compiled block of each kind is
checked against the eager computation; a mismatch or a compile error switches the kernels off
for the process (with a warning) and the eager path carries on.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import torch

ENV = "GENPROTO_STREAMS_COMPILE"
MIN_WORDS = 1 << 15
"""Smallest block (rows x words) sent to a compiled kernel: below it the per-call guard and launch
cost (~25 us) outweighs the fused loop's savings."""

_Kernel = Callable[..., tuple[torch.Tensor, ...]]
_kernels: dict[str, _Kernel] = {}
_checked: set[str] = set()
_failed = False


def enabled() -> bool:
    """Whether the compiled kernels are asked for (``GENPROTO_STREAMS_COMPILE=1``) and usable."""
    return not _failed and os.environ.get(ENV, "0") == "1"


def disable(reason: str) -> None:
    """Switch the compiled kernels off for this process, saying why."""
    global _failed
    if not _failed:
        warnings.warn(
            f"genproto.streams: compiled kernels off ({reason}); the eager path gives the same "
            f"numbers",
            RuntimeWarning,
            stacklevel=3,
        )
    _failed = True


def _srl(x: torch.Tensor, shift: int) -> torch.Tensor:
    return (x >> shift) & ((1 << (64 - shift)) - 1)


def _words(
    keys: torch.Tensor, gammas: torch.Tensor, j: torch.Tensor, mix1: int, mix2: int
) -> torch.Tensor:
    z = gammas[:, None] * j + keys[:, None]
    z = (z ^ _srl(z, 30)) * mix1
    z = (z ^ _srl(z, 27)) * mix2
    return z ^ _srl(z, 31)


def _normal_bits(
    keys: torch.Tensor,
    gammas: torch.Tensor,
    j: torch.Tensor,
    mix1: int,
    mix2: int,
    angle_scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(angle, radius uniform) of float32 Box-Muller, as ``streams._normal_converter``."""
    z = _words(keys, gammas, j, mix1, mix2)
    angle = (z & 0xFFFFFFFF).to(torch.float32) * angle_scale
    radius_u = (_srl(z, 31) | 1).to(torch.float32) * (2.0**-33)
    return angle, radius_u


def _uniform_halves(
    keys: torch.Tensor,
    gammas: torch.Tensor,
    j: torch.Tensor,
    mix1: int,
    mix2: int,
    high: float,
) -> tuple[torch.Tensor]:
    """float32 uniforms (2k + 1) 2^-33 of both halves, clamped, as ``streams._unit_f32_halves``."""
    z = _words(keys, gammas, j, mix1, mix2)
    hi = (_srl(z, 31) | 1).to(torch.float32)
    lo = (((z << 1) & ((1 << 33) - 2)) | 1).to(torch.float32)
    pairs = torch.stack((hi, lo), dim=-1).reshape(z.shape[0], -1) * (2.0**-33)
    return (pairs.clamp(max=high),)


_SOURCES: dict[str, Callable[..., tuple[torch.Tensor, ...]]] = {
    "normal": _normal_bits,
    "uniform": _uniform_halves,
}


def kernel(kind: str) -> _Kernel | None:
    """The compiled kernel ``kind`` ('normal' or 'uniform'), compiling it on first use; None
    when switched off or when compiling fails."""
    if not enabled():
        return None
    if kind not in _kernels:
        try:
            _kernels[kind] = torch.compile(_SOURCES[kind], dynamic=True, fullgraph=True)
        except Exception as error:  # any failure: use the eager path
            disable(f"torch.compile failed: {error!r}")
            return None
    return _kernels[kind]


def run(
    kind: str, eager: Callable[[], tuple[torch.Tensor, ...]], *args: object
) -> tuple[torch.Tensor, ...] | None:
    """Call kernel ``kind`` on ``args``; the first call of each kind is compared with ``eager()``
    bit for bit. None when the kernels are off or fail (the caller then computes eagerly)."""
    fn = kernel(kind)
    if fn is None:
        return None
    try:
        got = fn(*args)
    except Exception as error:  # any failure: use the eager path
        disable(f"compiled {kind} kernel failed: {error!r}")
        return None
    if kind not in _checked:
        want = eager()
        same = len(got) == len(want) and all(
            a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
            for a, b in zip(got, want, strict=True)
        )
        if not same:
            disable(f"compiled {kind} kernel does not reproduce the eager bits")
            return None
        _checked.add(kind)
    return got
