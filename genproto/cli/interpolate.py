"""``genproto sample MODEL --interpolate A B [--steps N]``: a model's decoded latent path.

A model that implements :class:`genproto.protocol.Interpolates` (protocol 2.2) decodes the
path from ``A``'s latent code to ``B``'s in ``N`` events, both ends included (Bowman et al.
2016, "Generating Sentences from a Continuous Space", section 5, for sentences; the VAE of
Kingma and Welling 2014 for the latent space). ``A`` and ``B`` are texts for a text model
(:class:`~genproto.protocol.TextCodec`, read with ``from_text``), otherwise ``.npy`` files
holding one event each. The path goes where ``genproto sample`` puts samples: a text
model's texts one a line on standard output (or ``-o`` ``.txt`` / ``.jsonl``), else a
picture (``.png``, the default ``samples.png``) or the raw events (``.npy``).

The one-argument form ``--interpolate STEPS`` is protocol 2.1's: rows of ``STEPS`` digits
between test digits, from a model with ``interpolation_strip`` (the digits VAE).

The command line holds the model to the protocol: ``interpolate`` must take the arguments
:class:`~genproto.protocol.Interpolates` names and return ``(N, *event.shape)`` events of
``event.dtype`` in the event space, else a :class:`~genproto.errors.PluginError`.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from genproto._atomic import atomic_open, atomic_write_bytes
from genproto.cli.args import MAX_INTERPOLATE, ConditionArgument
from genproto.conditions import check_condition
from genproto.errors import InvalidArgumentError, PluginError
from genproto.protocol import EventSpace, Interpolates, TextCodec
from genproto.validation import check_x

__all__ = ["DEFAULT_STEPS", "LatentPath", "interpolate_between", "strip", "write_path"]

#: Events on the path when ``--steps`` is not given.
DEFAULT_STEPS = 8

#: What implements :class:`~genproto.protocol.Interpolates` among the shipped models, for the
#: refusal's message.
IMPLEMENTED_BY = ("latent-variable models decode a latent code, e.g. `vae -M dataset=names` "
                  "(genproto.protocol.Interpolates, protocol 2.2); autoregressive, adversarial "
                  "and diffusion models have no encoder to find a start's code")


@attrs.frozen
class LatentPath:
    """A decoded path: its events ``(steps, *event.shape)``, and what asked for it."""

    events: torch.Tensor
    start: str
    end: str
    seed: int
    condition: ConditionArgument


def _steps(args: argparse.Namespace) -> int:
    steps = DEFAULT_STEPS if args.steps is None else args.steps
    if not 2 <= steps <= MAX_INTERPOLATE:
        raise InvalidArgumentError(
            "--steps of --interpolate A B", value=steps,
            allowed=f"events on the path, ends included: 2..{MAX_INTERPOLATE}",
            fix=f"Pass --steps N with 2 <= N <= {MAX_INTERPOLATE} (default {DEFAULT_STEPS})",
        )
    return steps


def _ends(model: Any, start: str, end: str) -> torch.Tensor:
    """(2, *event.shape) of ``event.dtype``: ``from_text`` for a text model, else two .npy."""
    event: EventSpace = model.capabilities.event
    if isinstance(model, TextCodec):
        ends = model.from_text([start, end])  # an InputError names a text that does not fit
    else:
        ends = torch.stack([_read_event(path, event) for path in (start, end)])
    device = getattr(model, "device", torch.device("cpu"))
    checked = check_x(ends, event, model=model.name, device=device)
    return checked.to(event.dtype)


def _read_event(path: str, event: EventSpace) -> torch.Tensor:
    """One event from a .npy file: shape ``event.shape`` (or ``(1, *event.shape)``)."""
    allowed = f"a .npy file holding one event of shape {event.shape} ({event.describe()})"
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"--interpolate cannot read {path!r} ({exc})", value=path,
                                   allowed=allowed,
                                   fix="Save one event with numpy.save, e.g. from genproto "
                                   "sample -n 1 -o a.npy") from None
    if array.shape == (1, *event.shape):
        array = array[0]
    if array.shape != event.shape:
        raise InvalidArgumentError(f"--interpolate file {path!r} holds shape {array.shape}",
                                   value=array.shape, allowed=allowed,
                                   fix="Save a single event (index one row of a batch)")
    if array.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"--interpolate file {path!r} holds {array.dtype}",
                                   value=str(array.dtype), allowed=allowed)
    return torch.from_numpy(np.ascontiguousarray(array))


def _call(model: Any, ends: torch.Tensor, steps: int, condition: Any, seed: int) -> torch.Tensor:
    """``model.interpolate(...)``, its signature and its result held to the protocol."""
    method = model.interpolate
    try:
        inspect.signature(method).bind(ends[0], ends[1], steps, condition=condition, seed=seed)
    except (TypeError, ValueError):
        raise PluginError(
            f"interpolate() of model {model.name!r} does not take protocol 2.2's arguments",
            value=str(inspect.signature(method)),
            allowed="interpolate(start, end, steps, *, condition=None, seed=0)",
            fix="The plugin's interpolate predates genproto.protocol.Interpolates; report it "
            "to its authors",
        ) from None
    events = method(ends[0], ends[1], steps, condition=condition, seed=seed)
    event: EventSpace = model.capabilities.event
    if not isinstance(events, torch.Tensor) or tuple(events.shape) != (steps, *event.shape) \
            or events.dtype != event.dtype:
        shown = (f"{tuple(events.shape)} {events.dtype}" if isinstance(events, torch.Tensor)
                 else type(events).__name__)
        raise PluginError(
            f"interpolate() of model {model.name!r} returned {shown}", value=shown,
            allowed=f"a tensor {(steps, *event.shape)} of {event.dtype}",
            fix="This is a bug in the plugin; report it to its authors",
        )
    outside = (~event.contains(events.cpu())).nonzero()
    if outside.numel():
        raise PluginError(
            f"interpolate() of model {model.name!r}: event {int(outside[0, 0])} of the path "
            "is outside the event space", value=event.describe(),
            allowed="events the model could sample", fix="This is a bug in the plugin",
        )
    return events.cpu()


def _interpolates(model: Any) -> bool:
    """Whether ``model`` implements :class:`~genproto.protocol.Interpolates` (by name)."""
    return isinstance(model, Interpolates)


def interpolate_between(args: argparse.Namespace, model: Any,
                        condition: ConditionArgument) -> LatentPath:
    """Decode ``args.interpolate``'s path (``[A, B]``) with ``args.steps`` events.

    Raises:
        InvalidArgumentError: the model does not implement Interpolates, a bad ``--steps``,
            an unreadable or misshapen ``.npy``, or a per-sample ``--condition-file``.
        ConditionError: a condition the model's spec does not take.
        PluginError: the model's ``interpolate`` breaks the protocol.
    """
    start, end = args.interpolate
    if not _interpolates(model):
        raise InvalidArgumentError(
            f"--interpolate: model {model.name!r} has no latent path to decode",
            value=model.name, allowed=IMPLEMENTED_BY,
            fix="Pick a model that implements interpolate(start, end, steps, *, condition, "
            "seed)",
        )
    if condition.per_sample:
        raise InvalidArgumentError(
            "--condition-file with --interpolate", value=args.condition_file,
            allowed="one --condition for the whole path",
            fix="Pass --condition VALUE",
        )
    steps = _steps(args)
    spec = model.capabilities.condition
    # checked here for a typed error; the model gets the value as given (a label stays a str)
    check_condition(condition.value, steps, spec, model=model.name)
    seed = 0 if args.seed is None else args.seed
    events = _call(model, _ends(model, start, end), steps, condition.value, seed)
    return LatentPath(events, start, end, seed, condition)


def write_path(model: Any, path: LatentPath, output: Path | None, texts: list[str] | None) -> None:
    """Print the texts (``output=None``), or write ``.txt``, ``.jsonl``, ``.npy`` or ``.png``."""
    if output is None:
        for text in texts or ():
            print(text)
        return
    if output.suffix == ".txt":
        atomic_write_bytes(output, "".join(t + "\n" for t in texts or ()).encode("utf-8"))
    elif output.suffix == ".jsonl":
        _write_jsonl(model, path, output, texts or [])
    elif output.suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, path.events.numpy(), allow_pickle=False)
        atomic_write_bytes(output, buffer.getvalue())
    else:
        from genproto.pictures import save_png, to_picture

        picture = to_picture(path.events, model.capabilities.event)
        save_png(picture, output, {"genproto:seed": str(path.seed),
                                   "genproto:interpolate": [path.start, path.end],
                                   "genproto:steps": str(path.events.shape[0])})
    print(f"wrote {path.events.shape[0]} events of {model.name!r} from {path.start} to "
          f"{path.end} to {output} (seed {path.seed})")


def _write_jsonl(model: Any, path: LatentPath, output: Path, texts: list[str]) -> None:
    """One JSON object an event: index, t in [0, 1], the condition, text and tokens."""
    event: EventSpace = model.capabilities.event
    rows = path.events.reshape(path.events.shape[0], -1)
    lengths = event.lengths(path.events).tolist() if event.is_sequence \
        else [rows.shape[1]] * rows.shape[0]
    last = max(1, len(texts) - 1)
    with atomic_open(output) as fh:
        for i, text in enumerate(texts):
            line = {"index": i, "t": i / last, "seed": path.seed,
                    "prompt": path.condition.prompt(i), "text": text,
                    "tokens": rows[i, : lengths[i]].tolist()}
            fh.write((json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))


def strip(args: argparse.Namespace, model: Any, output: Path, condition: Any,
          steps_text: str) -> int:
    """``--interpolate STEPS`` (protocol 2.1): rows of images decoded along straight latent
    lines between test digits, from a model with ``interpolation_strip``."""
    strip_of = getattr(model, "interpolation_strip", None)
    try:
        steps = int(steps_text)
    except ValueError:
        steps = 0
    if strip_of is None or output.suffix != ".png" or not 2 <= steps <= MAX_INTERPOLATE:
        raise InvalidArgumentError(
            "--interpolate", value=f"{args.name} {steps_text} -> {output.name}",
            allowed="STEPS (2.." f"{MAX_INTERPOLATE}) with a .png output for a model with "
            "interpolation_strip (e.g. vae), or two ends A B for a model that implements "
            "genproto.protocol.Interpolates",
        )
    from genproto.pictures import image_grid, save_png

    seed = 0 if args.seed is None else args.seed
    images = strip_of(steps, pairs=max(1, args.n // steps), seed=seed, condition=condition)
    picture = image_grid(images, levels=model.capabilities.event.levels, columns=steps)
    save_png(picture, output, {"genproto:seed": str(seed), "genproto:interpolate": str(steps)})
    print(f"wrote an interpolation strip of {args.name!r} to {output} (seed {seed})")
    return 0
