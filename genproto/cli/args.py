"""Argument types and the parser class of the ``genproto`` command line.

Every number the CLI takes is checked here, where argparse reads it, so a bad value
is one line and exit status 2 (``genproto sample: error: argument -n: ...``), never
an allocation of 100 GB, a silent success or a traceback from deep inside a model.

A condition (``--condition``, ``--condition-file``) is read once the model is known, as
the kind it declares (:class:`~genproto.protocol.ConditionSpec`): a class index (or, where
the spec declares labels, a label such as ``female``), text as is, comma-separated token
ids or numbers; its values are then checked by
:func:`genproto.conditions.check_condition` like any other condition.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import attrs
import torch

from genproto.conditions import label_index
from genproto.errors import ConditionError, InvalidArgumentError
from genproto.protocol import Condition, ConditionKind, ConditionSpec
from genproto.streams import MAX_SEED

__all__ = [
    "MAX_INTERPOLATE",
    "MAX_SAMPLES",
    "ConditionArgument",
    "OneLineParser",
    "bounded_int",
    "parse_condition",
    "positive_float",
    "read_condition_file",
    "seed",
]

#: The most samples one command may ask for (a .npy streams them, so memory stays flat).
MAX_SAMPLES = 2**40
#: The most images one interpolation strip may have.
MAX_INTERPOLATE = 256


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: what is wrong and where to look."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an int in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside [{low}, {high}]")
        return value

    parse.__name__ = f"int in [{low}, {high}]"
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite float > 0 (a learning rate, a scale)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a finite number > 0")
    return value


seed = bounded_int(0, MAX_SEED)


# ---------------------------------------------------------------------------
# --condition VALUE and --condition-file FILE, read as the model's declared kind
# ---------------------------------------------------------------------------


@attrs.frozen
class ConditionArgument:
    """A condition from the command line: what the sampler gets, and each sample's prompt.

    Attributes:
        value: the condition for :func:`genproto.sampling.run` (an int label, a str, int64
            ids ``(L,)`` or ``(n, L)``, float32 ``shape`` or ``(n, *shape)``, a list of n
            str, int64 labels ``(n,)``, or ``None``).
        prompts: the JSON form of each sample's condition (a ``.jsonl`` line's ``prompt``):
            one value for all samples, or a tuple of one a sample (from a file).
        per_sample: whether ``prompts`` holds one value a sample.
    """

    value: Condition
    prompts: Any = None
    per_sample: bool = False

    def prompt(self, index: int) -> Any:
        """Sample ``index``'s condition as JSON (text, ids, label, numbers, or None)."""
        return self.prompts[index] if self.per_sample else self.prompts


def _kind_example(spec: ConditionSpec) -> str:
    """What one condition looks like on the command line, for error messages."""
    kind = spec.kind
    if kind is ConditionKind.CLASS:
        text = f"a whole-number label 0..{(spec.num_classes or 1) - 1} ({spec.description})"
        if spec.labels is not None:
            text += f" or one of the labels {', '.join(spec.labels)}"
        return text
    if kind is ConditionKind.TOKENS:
        ids = "" if spec.vocab_size is None else f" in 0..{spec.vocab_size - 1}"
        return (f"1 to {spec.max_length} comma-separated token ids{ids} ({spec.description}), "
                "e.g. 5,17,3")
    if kind is ConditionKind.VECTOR:
        shape = tuple(spec.shape or ())
        return (f"{math.prod(shape)} comma-separated finite numbers ({spec.description}, "
                f"shape {shape}), e.g. {','.join(['0.5'] * min(3, math.prod(shape)))}")
    limit = "" if spec.max_length is None else f" of at most {spec.max_length} characters"
    return f"any text{limit} ({spec.description})"


def _parse_row(text: str, spec: ConditionSpec, where: str, model: str) -> tuple[Any, Any]:
    """One condition written as text -> (the value for the sampler, its JSON prompt)."""
    kind = spec.kind
    if kind is ConditionKind.TEXT:
        return text, text
    allowed = _kind_example(spec)
    if kind is ConditionKind.CLASS:
        try:
            label = int(text)
        except ValueError:
            if spec.labels is None:
                raise ConditionError(f"{where} is not a class label", value=text,
                                     allowed=allowed,
                                     fix="Pass a whole number, e.g. --condition 3") from None
            label_index(text, spec, model=model, where=where)  # an unknown label: here, named
            return text, text  # the label itself: the sampler maps it, provenance shows it
        return label, label
    parts = [part.strip() for part in text.split(",")]
    if kind is ConditionKind.TOKENS:
        try:
            ids = [int(part) for part in parts]
        except ValueError:
            raise ConditionError(f"{where} is not a list of token ids", value=text,
                                 allowed=allowed, fix="Separate whole numbers by commas") from None
        return torch.tensor(ids, dtype=torch.int64), ids
    shape = tuple(spec.shape or ())
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise ConditionError(f"{where} is not a list of numbers", value=text, allowed=allowed,
                             fix="Separate numbers by commas") from None
    if len(numbers) != math.prod(shape):
        raise ConditionError(
            f"{where} has {len(numbers)} numbers for a vector of shape {shape}", value=text,
            allowed=allowed, fix=f"Give exactly {math.prod(shape)} numbers",
        )
    if not all(math.isfinite(v) for v in numbers):
        raise ConditionError(f"{where} holds NaN or inf", value=text, allowed=allowed,
                             fix="Give finite numbers")
    vector = torch.tensor(numbers, dtype=torch.float32).reshape(shape)
    return vector, vector.tolist()


def _unconditional(model: str, value: str) -> ConditionError:
    """The error of a condition for a model that takes none (the library's, for the CLI)."""
    return ConditionError(
        f"model {model!r} is unconditional but got a condition", value=value,
        allowed="no --condition or --condition-file",
        fix="Drop the condition, or pick a conditional model (see `genproto list`)",
    )


def parse_condition(text: str, spec: ConditionSpec | None, *, model: str) -> ConditionArgument:
    """``--condition TEXT`` for every sample, read as ``spec``'s kind: a class index (int) or,
    where the spec declares labels, a label (passed on as the str), the text as is,
    comma-separated token ids, or comma-separated numbers (reshaped)."""
    if spec is None:
        raise _unconditional(model, text)
    value, prompt = _parse_row(text, spec, "--condition", model)
    return ConditionArgument(value, prompt)


def _file_lines(path: str) -> list[str]:
    """The lines of a UTF-8 text file (``\\n`` or ``\\r\\n``; a final newline ends the last)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            content = fh.read()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidArgumentError(
            f"--condition-file cannot be read ({reason})", value=path,
            allowed="a UTF-8 text file with one condition a line",
            fix="Check the path and that the file is UTF-8 text",
        ) from None
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line opens no new one
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_condition_file(
    path: str, spec: ConditionSpec | None, n: int, *, model: str
) -> ConditionArgument:
    """``--condition-file FILE``: one condition a line for each of the ``n`` samples (text as
    is; a label, or comma-separated ids or numbers as for ``--condition``). Token rows of
    different lengths are padded with the spec's ``pad_id`` to the longest."""
    lines = _file_lines(path)
    if spec is None:
        raise _unconditional(model, path)
    if len(lines) != n:
        raise InvalidArgumentError(
            f"--condition-file has {len(lines)} lines for -n {n} samples", value=path,
            allowed=f"exactly {n} lines, one condition a sample",
            fix=f"Give one line per sample, or pass -n {len(lines)}",
        )
    rows: list[Any] = []
    prompts: list[Any] = []
    for number, line in enumerate(lines, 1):
        where = f"line {number} of --condition-file {path}"
        if spec.kind is not ConditionKind.TEXT and not line.strip():
            raise ConditionError(f"{where} is empty", value=line, allowed=_kind_example(spec),
                                 fix="Give one condition on every line")
        row, prompt = _parse_row(line, spec, where, model)
        rows.append(row)
        prompts.append(prompt)
    value: Condition
    if spec.kind is ConditionKind.TEXT:
        value = rows
    elif spec.kind is ConditionKind.CLASS:  # labels (checked by _parse_row) as their index
        labels = spec.labels or ()
        value = torch.tensor([labels.index(r) if isinstance(r, str) else r for r in rows],
                             dtype=torch.int64)
    elif spec.kind is ConditionKind.TOKENS:
        width = max((len(r) for r in rows), default=1)
        value = torch.full((n, width), spec.pad_id or 0, dtype=torch.int64)
        for i, ids in enumerate(rows):
            value[i, : len(ids)] = ids
    else:
        value = torch.stack(rows) if rows else torch.empty((0, *(spec.shape or ())))
    return ConditionArgument(value, tuple(prompts), per_sample=True)
