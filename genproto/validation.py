"""Checks of user input at genproto's public entry points.

Each function either returns the value in canonical form or raises the typed
error from :mod:`genproto.errors` that names the argument, the bad value, the
allowed values and the fix. Models never see unchecked input, so a bad call
fails here and not as a traceback from inside torch, a hang or a silent NaN.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import torch

from genproto.conditions import check_condition  # the condition kinds' checks, re-exported
from genproto.errors import (
    ArgumentTypeError,
    DeviceError,
    InputError,
    InputTypeError,
    InvalidArgumentError,
)
from genproto.protocol import EventKind, EventSpace
from genproto.streams import MAX_SEED, check_seed  # the seed's one definition, re-exported

__all__ = [
    "MAX_SEED",
    "check_batch_size",
    "check_condition",
    "check_device",
    "check_n",
    "check_seed",
    "check_x",
    "first_misplaced",
    "memory_limit_bytes",
    "range_fault",
    "range_text",
    "sequence_rule",
]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def memory_limit_bytes() -> int:
    """Half of this machine's physical memory: the most an in-memory result may take."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 2**30
    return int(total) // 2


def check_n(n: Any, *, event: EventSpace | None = None, in_memory: bool = True) -> int:
    """``n`` must be an int >= 0 whose result fits in memory when held at once."""
    if not _is_int(n):
        raise ArgumentTypeError(
            "argument 'n' (number of samples)",
            value=n,
            allowed="an int >= 0",
            fix="Pass a whole number, e.g. n=64",
        )
    count = int(n)
    if count < 0:
        raise InvalidArgumentError(
            "argument 'n' (number of samples)", value=count, allowed="an int >= 0"
        )
    if in_memory and event is not None:
        size = count * event.dimension * event.dtype.itemsize
        limit = memory_limit_bytes()
        if size > limit:
            raise InvalidArgumentError(
                "argument 'n' (number of samples) is too large to hold in memory",
                value=count,
                allowed=f"at most {limit // (size // max(count, 1))} samples in memory "
                f"({size / 2**30:.1f} GiB asked, {limit / 2**30:.1f} GiB allowed)",
                fix="Stream them instead: model.sample_iter(n) or "
                "`genproto sample NAME -n N -o samples.npy`",
            )
    return count


def check_batch_size(batch_size: Any) -> int | None:
    """``None`` (automatic) or an int >= 1."""
    if batch_size is None:
        return None
    if not _is_int(batch_size):
        raise ArgumentTypeError(
            "argument 'batch_size'", value=batch_size, allowed="an int >= 1 or None (automatic)"
        )
    if int(batch_size) < 1:
        raise InvalidArgumentError(
            "argument 'batch_size'", value=batch_size, allowed="an int >= 1 or None (automatic)"
        )
    return int(batch_size)


def check_device(device: Any, *, what: str = "argument 'device'") -> torch.device:
    """A device that exists on this machine; ``what`` names the argument in errors."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(
            what,
            value=device,
            allowed="'cpu', 'cuda', 'cuda:N' or a torch.device",
            fix=f"({exc})",
        ) from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = 0 if dev.index is None else dev.index
        if index >= count:
            raise DeviceError(
                what,
                value=str(device),
                allowed="'cpu'" + "".join(f", 'cuda:{i}'" for i in range(count)),
                fix="This machine has no such CUDA device; use device='cpu'",
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(what, value=str(device), allowed="'cpu'",
                              fix="MPS is not available on this machine; use device='cpu'")
    elif dev.type != "cpu":
        raise DeviceError(what, value=str(device), allowed="'cpu' or 'cuda[:N]'")
    return dev


def check_x(x: Any, event: EventSpace, *, model: str, device: torch.device) -> torch.Tensor:
    """Data for ``log_likelihood``: a tensor of shape ``(N, *event.shape)`` in the support.

    Returns a tensor on ``device`` (a copy when moved or cast: the caller's
    tensor is never modified).
    """
    shape = "(N, " + ", ".join(str(d) for d in event.shape) + ")"
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(
            f"x for model {model!r}", value=x, allowed=f"a torch.Tensor of shape {shape}",
            fix="Convert with torch.as_tensor(x)",
        )
    if x.layout != torch.strided or x.device.type == "meta":
        raise InputTypeError(
            f"x for model {model!r} is a {x.layout} tensor on {x.device.type}",
            value=f"{x.layout} on {x.device}",
            allowed=f"a dense (strided) tensor with data, shape {shape}",
            fix="Convert with x.to_dense() (sparse) or give real data (not a meta tensor)",
        )
    if tuple(x.shape[1:]) != event.shape or x.ndim != len(event.shape) + 1:
        raise InputError(
            f"shape of x for model {model!r}",
            value=tuple(x.shape),
            allowed=shape,
            fix="Add a leading batch dimension for a single event: x[None]",
        )
    if event.kind is EventKind.DISCRETE:
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise InputTypeError(
                f"dtype of x for model {model!r}",
                value=str(x.dtype),
                allowed=f"an integer dtype holding levels 0..{event.levels}-1",
                fix="Convert with x.long() (after rounding, if the values are levels)",
            )
        levels = event.levels or 0
        if x.numel():
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= levels:
                raise InputError(
                    f"values of x for model {model!r}",
                    value=low if low < 0 else high,
                    allowed=f"levels 0..{levels - 1}",
                )
        if event.is_sequence and x.numel():
            fault = first_misplaced(x, event)
            if fault is not None:
                row, position, token, why = fault
                raise InputError(
                    f"x for model {model!r}, row {row}, position {position}: {why}",
                    value=token, allowed=sequence_rule(event),
                    fix=f"End each row at its first stop token and fill the rest with {event.pad}",
                )
        return x.to(device=device, dtype=torch.int64)  # index dtype, whatever the storage
    if not x.is_floating_point():
        if x.dtype == torch.bool or x.is_complex():
            raise InputTypeError(
                f"dtype of x for model {model!r}", value=str(x.dtype), allowed="a real dtype"
            )
        x = x.to(torch.float32)
    data: torch.Tensor = x
    if data.numel() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).flatten(1).any(1).nonzero()[0, 0])
        raise InputError(
            f"x for model {model!r} holds NaN or inf (first in row {bad})",
            allowed="finite values",
            fix="Drop or repair the non-finite rows",
        )
    outside = range_fault(data, event)
    if outside is not None:
        raise InputError(
            f"values of x for model {model!r} (first in row {outside[0]})", value=outside[1],
            allowed=range_text(event),
            fix="Rescale x into the model's range (data outside it is not a log-likelihood "
            "of -inf but almost always data in other units)",
        )
    data = data.to(device=device, dtype=torch.float32)
    if event.low is not None or event.high is not None:
        data = data.clamp(event.low, event.high)  # what is within the slack, into the range
    return data


def range_text(event: EventSpace) -> str:
    """The declared range of a continuous event, for messages."""
    low = "-inf" if event.low is None else f"{event.low:g}"
    high = "inf" if event.high is None else f"{event.high:g}"
    return f"values in [{low}, {high}], the declared range (give or take {event.range_slack:g})"


def range_fault(x: torch.Tensor, event: EventSpace) -> tuple[int, float] | None:
    """The first row of ``x`` with a value outside the event's declared range by more than
    :attr:`~genproto.protocol.EventSpace.range_slack`, and that value; ``None`` if none."""
    if not x.numel() or (event.low is None and event.high is None):
        return None
    flat = x.reshape(x.shape[0], -1)
    slack = event.range_slack
    low = -math.inf if event.low is None else event.low - slack
    high = math.inf if event.high is None else event.high + slack
    smallest, largest = (float(v) for v in torch.aminmax(flat))  # one reduction when all is well
    if low <= smallest and largest <= high:
        return None
    outside = (flat < low) | (flat > high)
    row, column = (int(v) for v in outside.nonzero()[0])
    return row, float(flat[row, column])


def sequence_rule(event: EventSpace) -> str:
    """The stop/pad rule of a variable-length sequence event, for messages."""
    return (f"each row's tokens up to and including its first stop token ({event.stop}), then "
            f"only padding ({event.pad}) to length {event.shape[0]}; no padding before the "
            "stop (a row without a stop fills every position)")


def first_misplaced(x: torch.Tensor, event: EventSpace) -> tuple[int, int, int, str] | None:
    """The first position of a sequence batch ``x`` that breaks the stop/pad rule, as
    ``(row, position, token, why)``; ``None`` when every row keeps it."""
    bad = event.misplaced(x)
    if not bool(bad.any()):
        return None
    row, position = (int(v) for v in bad.nonzero()[0])
    token = int(x[row, position])
    length = int(event.lengths(x[row : row + 1])[0])
    if position >= length:
        why = (f"a stop token ({token}) in the middle of padding" if token == event.stop
               else f"token {token} after the stop token at position {length - 1}")
    elif length < event.shape[0] or int(x[row, -1]) == event.stop:  # the row has a stop
        why = f"padding ({event.pad}) before the stop token at position {length - 1}"
    else:
        why = f"padding ({event.pad}) in a row without a stop token"
    return row, position, token, why
