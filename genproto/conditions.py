"""Conditions of the four declared kinds: the checks, the canonical form, batch rows, provenance.

A model declares what it is conditioned on with a :class:`~genproto.protocol.ConditionSpec`
of a :class:`~genproto.protocol.ConditionKind`; a caller gives one value for all ``n``
samples or ``n`` per-sample values. :func:`check_condition` turns what the caller gave
into the canonical per-sample form the engine slices per batch, or raises the
:class:`~genproto.errors.ConditionError` that names the bad value, what is allowed and
the fix:

=========  ====================================  ==========================================
kind       the caller gives                      canonical (row i is sample i's condition)
=========  ====================================  ==========================================
class      an int, or n labels; where the spec   int64 ``(n,)`` in ``0 .. num_classes-1``
           declares ``labels``, also one label
           str or a list of n (protocol 2.2)
tokens     int ids ``(L,)`` or ``(n, L)``        int64 ``(n, L)``, ``1 <= L <= max_length``
text       a str, or a list of n str             a sequence of n str (one str: no copies)
vector     floats ``shape`` or ``(n, *shape)``   finite float32 ``(n, *shape)``
=========  ====================================  ==========================================

``None`` stays ``None`` (what it means is the spec's ``none_means``; the engine acts on
it). One value for all samples is an expanded view or a repeated string, never ``n``
copies, so streaming a large ``n`` keeps memory flat. :func:`batch_rows` gives a batch
its rows (a contiguous tensor, or a ``list`` of str for ``sample_batch``), and
:func:`describe_condition` the provenance text: the value itself where it is short, else
its kind, shape and a short SHA-256 of the values.
"""

from __future__ import annotations

import difflib
import hashlib
import numbers
from collections.abc import Iterator, Sequence
from typing import Any, TypeAlias, overload

import torch

from genproto.errors import ConditionError
from genproto.protocol import Condition, ConditionKind, ConditionSpec, NoneMeans

__all__ = [
    "ConditionValues",
    "RepeatedText",
    "batch_rows",
    "check_condition",
    "describe_condition",
    "label_index",
]

#: Hex digits of the SHA-256 a provenance record keeps of a large condition.
HASH_DIGITS = 16
#: The most characters (text) or numbers (tokens, vector) written into provenance as is.
SHORT_TEXT = 64
SHORT_NUMBERS = 16


class RepeatedText(Sequence[str]):
    """``n`` times the same string, without ``n`` references: one prompt for every sample."""

    __slots__ = ("_length", "text")

    def __init__(self, text: str, length: int) -> None:
        self.text = text
        self._length = length

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> RepeatedText: ...

    def __getitem__(self, index: int | slice) -> str | RepeatedText:
        if isinstance(index, slice):
            return RepeatedText(self.text, len(range(*index.indices(self._length))))
        if not -self._length <= index < self._length:
            raise IndexError(index)
        return self.text

    def __iter__(self) -> Iterator[str]:
        return (self.text for _ in range(self._length))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RepeatedText):
            return (self.text, self._length) == (other.text, other._length)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RepeatedText({self.text!r}, {self._length})"


#: The canonical per-sample condition of a run: a tensor whose first dimension is the
#: sample, or ``n`` strings.
ConditionValues: TypeAlias = torch.Tensor | Sequence[str]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_condition(
    condition: Condition,
    n: int,
    spec: ConditionSpec | None,
    *,
    model: str,
    device: torch.device | None = None,
) -> ConditionValues | None:
    """The canonical per-sample condition for ``n`` samples, or ``None``.

    ``None`` is returned for ``condition=None`` when the spec allows it (the engine
    then draws classes from the prior or hands the model its null condition); a
    typed :class:`ConditionError` is raised for anything the spec does not take.
    """
    if spec is None:
        if condition is not None:
            raise ConditionError(
                f"model {model!r} is unconditional but got a condition",
                value=condition,
                allowed="condition=None",
                fix="Drop the condition, or pick a conditional model "
                "(genproto.registry.find(conditional=True))",
            )
        return None
    allowed = _allowed(spec, n)
    if condition is None:
        if spec.required:
            raise ConditionError(
                f"model {model!r} needs a condition", value=None, allowed=allowed
            )
        return None
    kind = spec.kind
    if kind is ConditionKind.TEXT:
        return _texts(condition, n, spec, allowed)
    if kind is ConditionKind.CLASS and spec.labels is not None:
        condition = _named_labels(condition, spec, model, allowed)
    if isinstance(condition, str):
        raise ConditionError(
            f"condition for model {model!r} is a string, but the model takes a {kind.value} "
            "condition", value=condition, allowed=allowed,
        )
    if kind is ConditionKind.CLASS:
        values = _labels(condition, n, spec, allowed)
    elif kind is ConditionKind.TOKENS:
        values = _tokens(condition, n, spec, allowed, device)
    else:
        values = _vectors(condition, n, spec, allowed, device)
    return values.to(device) if device is not None else values


def label_index(label: str, spec: ConditionSpec, *, model: str,
                where: str = "condition label") -> int:
    """The class ``label`` names under ``spec``'s :attr:`~ConditionSpec.labels` (protocol 2.2).

    Raises:
        ConditionError: ``spec`` declares no labels, or ``label`` is none of them (the error
            names the labels and, where one is close, suggests it: ``'femal'`` -> ``'female'``).
    """
    labels = spec.labels
    if labels is None:
        raise ConditionError(
            f"{where} of model {model!r} is a string, but its classes have no labels",
            value=label, allowed=f"a class index 0..{(spec.classes or 1) - 1}",
            fix="Pass the class as an int",
        )
    if label in labels:
        return labels.index(label)
    close = difflib.get_close_matches(label, labels, n=1)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    raise ConditionError(
        f"{where} {label!r} is not a class of model {model!r}", value=label,
        allowed=f"one of {_named(spec)} or its index",
        fix=f"{hint}Pass a label exactly as declared (case counts) or the class index",
    )


def _named(spec: ConditionSpec) -> str:
    """``'female' (0), 'male' (1), 'surname' (2)``."""
    return ", ".join(f"{name!r} ({i})" for i, name in enumerate(spec.labels or ()))


def _named_labels(condition: Any, spec: ConditionSpec, model: str, allowed: str) -> Any:
    """A label str, or a list/tuple of them, as class indices; anything else as it is.

    A sequence that holds str must hold nothing else: mixing labels and indices is refused
    rather than guessed at.
    """
    if isinstance(condition, str):
        return label_index(condition, spec, model=model)
    if not isinstance(condition, list | tuple) or not any(isinstance(c, str) for c in condition):
        return condition
    for i, item in enumerate(condition):
        if not isinstance(item, str):
            raise ConditionError(
                f"condition item {i} of a list of class labels is not a str", value=item,
                allowed=allowed, fix="Give every sample's class as a label str, or every "
                "one as an int index",
            )
    return [label_index(item, spec, model=model, where=f"condition label (item {i})")
            for i, item in enumerate(condition)]


def _allowed(spec: ConditionSpec, n: int) -> str:
    """What a condition of ``spec`` may be, for error messages."""
    kind = spec.kind
    if kind is ConditionKind.CLASS:
        text = (f"an int in 0..{spec.num_classes - 1} ({spec.description}), a 1-D integer "
                f"tensor of n={n} such labels")
        if spec.labels is not None:
            text += f", a label ({_named(spec)}) or a list of n={n} labels"
    elif kind is ConditionKind.TOKENS:
        ids = "ids >= 0" if spec.vocab_size is None else f"ids 0..{spec.vocab_size - 1}"
        text = (f"an integer tensor of token ids ({spec.description}), shape (L,) for all "
                f"samples or (n={n}, L), 1 <= L <= {spec.max_length}, {ids}, padded with "
                f"{spec.pad_id}")
    elif kind is ConditionKind.TEXT:
        limit = "" if spec.max_length is None else f" of at most {spec.max_length} characters"
        text = f"a str ({spec.description}) for all samples or a list of n={n} str{limit}"
    else:
        shape = tuple(spec.shape or ())
        text = (f"a finite float tensor ({spec.description}) of shape {shape} for all samples "
                f"or {(n, *shape)}")
    if spec.required:
        return text
    if spec.none_means is NoneMeans.NULL:
        return text + ", or None for the null (unconditional) condition"
    return text + ", or None for the class marginal"


def _as_tensor(condition: Any, allowed: str) -> torch.Tensor:
    if isinstance(condition, torch.Tensor):
        return condition
    if not isinstance(condition, list | tuple):
        raise ConditionError("condition", value=condition, allowed=allowed)
    try:
        return torch.as_tensor(condition)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise ConditionError("condition", value=condition, allowed=allowed) from None


def _integers(tensor: torch.Tensor, allowed: str, what: str) -> None:
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise ConditionError(
            "condition dtype", value=str(tensor.dtype), allowed=allowed,
            fix=f"Convert {what} with .long()",
        )


def _labels(condition: Any, n: int, spec: ConditionSpec, allowed: str) -> torch.Tensor:
    classes = spec.num_classes
    if _is_int(condition):
        if not 0 <= int(condition) < classes:  # before it meets int64 (2**63 overflows)
            raise ConditionError("condition label", value=int(condition), allowed=allowed)
        return torch.full((n,), int(condition), dtype=torch.int64)
    if isinstance(condition, list | tuple) and not condition:  # no labels: torch reads float
        condition = torch.zeros(0, dtype=torch.int64)
    tensor = _as_tensor(condition, allowed)
    _integers(tensor, allowed, "labels")
    if tensor.ndim == 0:
        tensor = tensor.expand(n)
    if tensor.shape != (n,):
        raise ConditionError(
            "condition shape", value=tuple(tensor.shape), allowed=allowed,
            fix=f"Pass one label per sample: shape ({n},)",
        )
    labels = tensor.to(torch.int64)
    if labels.numel():
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= classes:
            raise ConditionError("condition label", value=low if low < 0 else high,
                                 allowed=allowed)
    return labels


def _tokens(
    condition: Any, n: int, spec: ConditionSpec, allowed: str, device: torch.device | None
) -> torch.Tensor:
    tensor = _as_tensor(condition, allowed)
    _integers(tensor, allowed, "token ids")
    if tensor.ndim not in (1, 2) or (tensor.ndim == 2 and tensor.shape[0] != n):
        raise ConditionError(
            "condition shape (token ids)", value=tuple(tensor.shape), allowed=allowed,
            fix=f"Pass one sequence (L,) for every sample or one per sample ({n}, L)",
        )
    length = tensor.shape[-1]
    limit = spec.max_length or 0
    if not 1 <= length <= limit:
        raise ConditionError(
            f"condition length (token ids): {length} ids", value=length, allowed=allowed,
            fix=f"Shorten the prompt to at most {limit} ids" if length else
            "Give at least one id, or condition=None for the null condition",
        )
    if tensor.numel():
        low, high = int(tensor.min()), int(tensor.max())
        top = spec.vocab_size
        if low < 0 or (top is not None and high >= top):
            raise ConditionError("condition token id", value=low if low < 0 else high,
                                 allowed=allowed)
    ids = tensor.to(torch.int64)
    if ids.ndim == 1:  # one sequence for every sample: a view, never n copies
        ids = (ids.to(device) if device is not None else ids).expand(n, length)
    return ids


def _vectors(
    condition: Any, n: int, spec: ConditionSpec, allowed: str, device: torch.device | None
) -> torch.Tensor:
    shape = tuple(spec.shape or ())
    tensor = _as_tensor(condition, allowed)
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise ConditionError("condition dtype", value=str(tensor.dtype), allowed=allowed)
    shared = tuple(tensor.shape) == shape
    if not shared and tuple(tensor.shape) != (n, *shape):
        raise ConditionError(
            "condition shape (embedding)", value=tuple(tensor.shape), allowed=allowed,
            fix=f"Pass one embedding {shape} for every sample or one per sample {(n, *shape)}",
        )
    values = tensor.to(torch.float32)  # float64 embeddings are computed in, float32 stored
    if values.numel() and not bool(torch.isfinite(values).all()):
        rows = values.reshape(1 if shared else n, -1)
        bad = int((~torch.isfinite(rows)).any(1).nonzero()[0, 0])
        where = "" if shared else f" (first in row {bad})"
        raise ConditionError(
            f"condition (embedding) holds NaN or inf{where}",
            value="nan" if bool(rows[bad].isnan().any()) else "inf",
            allowed=allowed, fix="Repair or drop the non-finite embeddings (or float32 overflow)",
        )
    if shared:
        values = (values.to(device) if device is not None else values).expand(n, *shape)
    return values


def _texts(condition: Any, n: int, spec: ConditionSpec, allowed: str) -> Sequence[str]:
    if isinstance(condition, str):
        _text_length(condition, spec, allowed, None)
        return RepeatedText(condition, n)
    if not isinstance(condition, list | tuple):
        raise ConditionError(
            "condition (text)", value=condition, allowed=allowed,
            fix="Pass a str, or a list of one str per sample",
        )
    if len(condition) != n:
        raise ConditionError(
            f"condition (text) is a list of {len(condition)} strings for n={n} samples",
            value=len(condition), allowed=allowed,
            fix=f"Pass one str for every sample, or a list of exactly {n}",
        )
    for i, text in enumerate(condition):
        if not isinstance(text, str):
            raise ConditionError(f"condition (text), item {i}", value=text, allowed=allowed)
        _text_length(text, spec, allowed, i)
    return tuple(condition)


def _text_length(text: str, spec: ConditionSpec, allowed: str, item: int | None) -> None:
    if spec.max_length is not None and len(text) > spec.max_length:
        where = "" if item is None else f", item {item}"
        raise ConditionError(
            f"condition (text){where} is {len(text)} characters long", value=text,
            allowed=allowed, fix=f"Shorten the prompt to at most {spec.max_length} characters",
        )


def batch_rows(values: ConditionValues, start: int, stop: int) -> torch.Tensor | list[str]:
    """Rows ``[start, stop)`` of a canonical condition, as ``sample_batch`` receives them:
    a contiguous tensor (a one-for-all view becomes a real batch), or a ``list`` of str."""
    if isinstance(values, torch.Tensor):
        return values[start:stop].contiguous()
    return list(values[start:stop])


def _digest(tensor_or_texts: torch.Tensor | Sequence[str]) -> str:
    digest = hashlib.sha256()
    if isinstance(tensor_or_texts, torch.Tensor):
        t = tensor_or_texts.detach().to("cpu").contiguous()
        digest.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
    else:
        for text in tensor_or_texts:
            data = text.encode("utf-8", "surrogatepass")
            digest.update(f"{len(data)}:".encode())
            digest.update(data)
    return digest.hexdigest()[:HASH_DIGITS]


def describe_condition(
    condition: Condition, values: ConditionValues | None, spec: ConditionSpec | None
) -> str:
    """The provenance text of a validated condition: what replays it.

    ``values`` is :func:`check_condition`'s result for ``condition``. Short values are
    written as they are (``"3"``, ``"text 'a cat'"``, ``"tokens [3, 1, 4]"``); long or
    per-sample ones as their kind, shape and the SHA-256 of the canonical values (first 16
    hex digits, last in the text: ``"per-sample texts (1000,), sha256 9f2c..."``), which the
    caller's own copy can be checked against.
    """
    if spec is None:
        return "none"
    if values is None:
        if spec.none_means is NoneMeans.NULL:
            return "null condition (unconditional)"
        if spec.uniform_prior:
            return "marginal (uniform classes)"
        prior = "/".join(f"{p:g}" for p in spec.class_prior)
        return f"marginal (class prior {prior})"
    kind = spec.kind
    if kind is ConditionKind.TEXT:
        if isinstance(values, RepeatedText):
            text = values.text
            if len(text) <= SHORT_TEXT:
                return f"text {text!r}"
            return f"text ({len(text)} characters), sha256 {_digest([text])}"
        return f"per-sample texts ({len(values)},), sha256 {_digest(values)}"
    assert isinstance(values, torch.Tensor)
    if kind is ConditionKind.CLASS:
        if _is_int(condition):
            return str(condition)
        if isinstance(condition, str):  # a label (protocol 2.2): its name and its class
            return f"label {condition!r} (class {(spec.labels or ()).index(condition)})"
        if isinstance(condition, list | tuple) and condition \
                and all(isinstance(c, str) for c in condition):
            if len(condition) <= SHORT_NUMBERS:
                return f"per-sample labels {list(condition)!r}"
            return f"per-sample labels ({len(values)},) by name, sha256 {_digest(values)}"
        return f"per-sample labels ({len(values)},), sha256 {_digest(values)}"
    shared = _shared_row(condition, values, spec)
    name = "tokens" if kind is ConditionKind.TOKENS else "vector"
    if shared is not None:
        if shared.numel() <= SHORT_NUMBERS:
            return f"{name} {shared.tolist()}"
        return f"{name} {tuple(shared.shape)}, sha256 {_digest(shared)}"
    return f"per-sample {name} {tuple(values.shape)}, sha256 {_digest(values)}"


def _shared_row(
    condition: Condition, values: torch.Tensor, spec: ConditionSpec
) -> torch.Tensor | None:
    """The one value given for every sample (tokens ``(L,)``, vector ``shape``), else None."""
    ndim = condition.ndim if isinstance(condition, torch.Tensor) else \
        torch.as_tensor(condition).ndim
    one = 1 if spec.kind is ConditionKind.TOKENS else len(spec.shape or ())
    if ndim != one:
        return None
    if values.shape[0]:
        return values[0]
    return torch.as_tensor(condition).to(values.dtype)
