"""Hypothesis strategies for genproto's arguments, good and bad, and the suite's settings profiles.

Good arguments: :func:`counts` (numbers of samples ``n``, with 0, 1 and primes always in reach),
:func:`seeds`, :func:`seed_pairs`, :func:`batch_sizes` and :func:`conditions`. Bad ones come as
:class:`Bad` values that pair the argument with the typed error genproto documents for it:
:func:`bad_counts`, :func:`bad_seeds`, :func:`bad_batch_sizes`, :func:`bad_conditions` and
:func:`bad_data` (``x`` for ``log_likelihood``).

Two settings profiles are registered on import (but never loaded globally; the suite applies them
per property):

* ``"genproto-ci"`` (short name ``"ci"``) -- few examples, derandomized (the same examples on
  every run, so CI never flakes), no example database, no deadline;
* ``"genproto-thorough"`` (short name ``"thorough"``) -- many more examples, freshly random on
  each run.

:func:`profile` accepts either name; :func:`profile_name` turns a short name into the registered
one.

A plugin's own Hypothesis tests can use the strategies directly::

    from hypothesis import given
    from genproto.testing import strategies as gs

    @given(n=gs.counts(), seed=gs.seeds())
    def test_my_model_shape(n, seed): ...
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import torch
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from genproto.errors import (
    ArgumentTypeError,
    ConditionError,
    GenprotoError,
    InputError,
    InputTypeError,
    InvalidArgumentError,
)
from genproto.protocol import Condition, ConditionKind, ConditionSpec, EventKind, EventSpace
from genproto.validation import MAX_SEED

__all__ = [
    "CI_PROFILE",
    "PRIMES",
    "PROFILES",
    "PROFILE_ALIASES",
    "THOROUGH_PROFILE",
    "Bad",
    "SampleCall",
    "bad_batch_sizes",
    "bad_conditions",
    "bad_counts",
    "bad_data",
    "bad_seeds",
    "batch_sizes",
    "declared_bad_data",
    "conditions",
    "counts",
    "profile",
    "profile_name",
    "sample_calls",
    "seed_pairs",
    "seeds",
    "valid_rows",
]

CI_PROFILE = "genproto-ci"
THOROUGH_PROFILE = "genproto-thorough"
PROFILES = (CI_PROFILE, THOROUGH_PROFILE)
#: The short names the command line and the pytest plugin take, and the profile each stands for.
PROFILE_ALIASES = {"ci": CI_PROFILE, "thorough": THOROUGH_PROFILE}

#: Small primes: batch sizes and counts that split nothing evenly.
PRIMES = (2, 3, 5, 7, 11, 13)

_COMMON: dict[str, Any] = dict(
    database=None,
    deadline=None,
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile(
    CI_PROFILE,
    max_examples=6,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    **_COMMON,
)
settings.register_profile(
    THOROUGH_PROFILE,
    max_examples=60,
    derandomize=False,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    **_COMMON,
)


def profile_name(name: str) -> str:
    """The registered name of a profile given by either name (``"ci"`` -> ``"genproto-ci"``);
    ``InvalidArgumentError`` naming the known ones. Another registered Hypothesis profile is
    accepted under its own name."""
    full = PROFILE_ALIASES.get(name, name)
    try:
        settings.get_profile(full)
    except Exception:
        known = ", ".join(repr(n) for n in (*PROFILE_ALIASES, *PROFILES))
        raise InvalidArgumentError(
            "Hypothesis settings profile", value=name, allowed=known
        ) from None
    return full


def profile(name: str) -> settings:
    """The settings of a profile given by either name; ``InvalidArgumentError`` naming the
    known ones."""
    return settings.get_profile(profile_name(name))


# -- good arguments --------------------------------------------------------------------------


def counts(*, max_n: int = 40) -> st.SearchStrategy[int]:
    """Numbers of samples: 0, 1 and small primes often, anything up to ``max_n`` otherwise."""
    special = [n for n in (0, 1, *PRIMES) if n <= max_n]
    return st.one_of(st.sampled_from(special), st.integers(0, max_n))


def seeds() -> st.SearchStrategy[int]:
    """Seeds in ``[0, 2**63 - 1]``, the edges included."""
    return st.one_of(
        st.sampled_from((0, 1, MAX_SEED)), st.integers(0, 2**32 - 1), st.integers(0, MAX_SEED)
    )


def seed_pairs() -> st.SearchStrategy[tuple[int, int]]:
    """Two different seeds."""
    return st.tuples(seeds(), seeds()).filter(lambda pair: pair[0] != pair[1])


def batch_sizes(n: int) -> st.SearchStrategy[int | None]:
    """``None`` (automatic), 1, a prime, or anything from 1 to ``max(n, 1)``."""
    top = max(n, 1)
    return st.one_of(
        st.none(),
        st.sampled_from([b for b in (1, *PRIMES) if b <= top]),
        st.integers(1, top),
    )


#: Token ids drawn for a token condition whose vocabulary is not declared: ``0 .. 15``.
UNDECLARED_VOCABULARY = 16
#: The most characters of a drawn text condition (also capped by the declared max_length).
TEXT_CHARACTERS = 8
#: Drawn embeddings hold values in ``[-EMBEDDING_SCALE, EMBEDDING_SCALE]``: finite, of the
#: size a trained encoder emits (a model need not survive 1e38).
EMBEDDING_SCALE = 3.0


def _token_ids(spec: ConditionSpec) -> list[int]:
    """The ids a drawn prompt holds before its padding: every id but ``pad_id`` (the pad
    alone when the vocabulary has nothing else)."""
    top = spec.vocab_size if spec.vocab_size is not None else UNDECLARED_VOCABULARY
    ids = [i for i in range(top) if i != spec.pad_id]
    return ids or [int(spec.pad_id or 0)]


@st.composite
def _prompts(draw: st.DrawFn, spec: ConditionSpec, rows: int | None) -> torch.Tensor:
    """Token ids ``(L,)`` (``rows=None``) or ``(rows, L)``: each row a prompt of 1..L ids
    followed by ``pad_id``, ``1 <= L <= max_length``."""
    limit = spec.max_length or 1
    length = draw(st.integers(1, limit))
    ids = _token_ids(spec)
    out = []
    for _ in range(1 if rows is None else rows):
        used = draw(st.integers(1, length))
        row = draw(st.lists(st.sampled_from(ids), min_size=used, max_size=used))
        out.append(row + [int(spec.pad_id or 0)] * (length - used))
    tensor = torch.tensor(out, dtype=torch.int64).reshape(-1, length)
    return tensor[0] if rows is None else tensor


def _texts(spec: ConditionSpec) -> st.SearchStrategy[str]:
    limit = TEXT_CHARACTERS if spec.max_length is None else min(spec.max_length, TEXT_CHARACTERS)
    alphabet = st.characters(min_codepoint=32, max_codepoint=126)  # printable ASCII
    return st.text(alphabet, min_size=0, max_size=limit)


def _embeddings(spec: ConditionSpec, rows: int | None) -> st.SearchStrategy[torch.Tensor]:
    shape = tuple(spec.shape or ())
    full = shape if rows is None else (rows, *shape)
    size = math.prod(full)
    values = st.floats(-EMBEDDING_SCALE, EMBEDDING_SCALE, allow_nan=False, width=32)
    return st.lists(values, min_size=size, max_size=size).map(
        lambda v: torch.tensor(v, dtype=torch.float32).reshape(full)
    )


def conditions(spec: ConditionSpec | None, n: int) -> st.SearchStrategy[Condition]:
    """Valid conditions for ``n`` samples, of the spec's kind: ``None`` where allowed, one
    value for all samples, or ``n`` per-sample values.

    =========  =============================================================================
    class      a class ``0 .. C-1``, or ``n`` labels; where the spec declares ``labels``
               (protocol 2.2) also one label's str, or ``n`` of them
    tokens     ids ``(L,)`` or ``(n, L)``, ``1 <= L <= max_length``: ids other than the pad
               (``0 .. vocab_size-1``, or 0..15 when undeclared), then ``pad_id``
    text       a printable ASCII str of at most ``max_length`` (and 8) characters, or n
    vector     finite float32 values in [-3, 3] of the declared ``shape``, or ``(n, *shape)``
    =========  =============================================================================
    """
    if spec is None:
        return st.none()
    kind = spec.kind
    options: list[st.SearchStrategy[Condition]]
    if kind is ConditionKind.CLASS:
        classes = spec.num_classes
        labels = st.lists(st.integers(0, classes - 1), min_size=n, max_size=n).map(
            lambda values: torch.tensor(values, dtype=torch.int64)
        )
        options = [st.integers(0, classes - 1), labels]
        if spec.labels is not None:
            names = st.sampled_from(spec.labels)
            options += [names, st.lists(names, min_size=n, max_size=n)]
    elif kind is ConditionKind.TOKENS:
        options = [_prompts(spec, None), _prompts(spec, n)]
    elif kind is ConditionKind.TEXT:
        options = [_texts(spec), st.lists(_texts(spec), min_size=n, max_size=n)]
    else:
        options = [_embeddings(spec, None), _embeddings(spec, n)]
    if not spec.required:
        options.insert(0, st.none())
    return st.one_of(*options)


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        if value.numel() <= 8:
            return f"torch.tensor({value.tolist()!r})"
        return f"<tensor shape={tuple(value.shape)} dtype={value.dtype}>"
    return repr(value)


@attrs.frozen(eq=False)
class SampleCall:
    """One call ``model.sample(n, seed=..., batch_size=..., condition=...)``, drawn or written."""

    n: int
    seed: int
    batch_size: int | None = None
    condition: Condition = None

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the call (everything but ``n``)."""
        return {"seed": self.seed, "batch_size": self.batch_size, "condition": self.condition}

    def example(self) -> dict[str, Any]:
        """The counterexample as plain values, for reports."""
        cond = self.condition
        shown = cond.tolist() if isinstance(cond, torch.Tensor) else cond
        return {"n": self.n, "seed": self.seed, "batch_size": self.batch_size, "condition": shown}

    def text(self, method: str = "sample", **extra: Any) -> str:
        """The call as one line of Python, e.g. ``model.sample(1, seed=0, ...)``."""
        args = [str(self.n)] + [f"{k}={_show(v)}" for k, v in {**self.kwargs(), **extra}.items()]
        return f"model.{method}({', '.join(args)})"

    def __repr__(self) -> str:
        return self.text().replace("model.sample", "SampleCall", 1)


@st.composite
def sample_calls(
    draw: st.DrawFn, spec: ConditionSpec | None, *, min_n: int = 0, max_n: int = 24
) -> SampleCall:
    """Whole sampling calls: ``n``, a seed, a batch size for that ``n`` and a valid condition."""
    n = draw(counts(max_n=max_n).filter(lambda v: v >= min_n))
    return SampleCall(n, draw(seeds()), draw(batch_sizes(n)), draw(conditions(spec, n)))


# -- bad arguments ---------------------------------------------------------------------------


@attrs.frozen
class Bad:
    """A bad argument and the typed error genproto documents for it.

    Attributes:
        value: the argument.
        error: the :mod:`genproto.errors` class the call must raise.
        label: what is wrong, for messages ("negative n").
    """

    value: Any = attrs.field(repr=False)
    error: type[GenprotoError]
    label: str

    def __repr__(self) -> str:
        value = self.value
        if isinstance(value, torch.Tensor):
            shown = f"tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
        elif isinstance(value, np.ndarray):
            shown = f"ndarray(shape={value.shape}, dtype={value.dtype})"
        else:
            shown = repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
        return f"Bad({self.label}: {shown} -> {self.error.__name__})"


def _bad(values: st.SearchStrategy[Any], error: type[GenprotoError], label: str) -> Any:
    return values.map(lambda v: Bad(v, error, label))


_FLOATS = st.floats(allow_nan=True, allow_infinity=True)
_TEXT = st.text(max_size=5)


def bad_counts() -> st.SearchStrategy[Bad]:
    """Numbers of samples ``sample`` must refuse: negative, not an int, too large to hold."""
    return st.one_of(
        _bad(st.integers(max_value=-1), InvalidArgumentError, "negative n"),
        _bad(st.integers(2**50, 2**62), InvalidArgumentError, "n too large to hold in memory"),
        _bad(_FLOATS, ArgumentTypeError, "float n"),
        _bad(st.booleans(), ArgumentTypeError, "bool n"),
        _bad(st.one_of(_TEXT, st.none()), ArgumentTypeError, "n not a number"),
    )


def bad_seeds() -> st.SearchStrategy[Bad]:
    """Seeds ``sample`` must refuse: negative, 2**63 or more, not an int."""
    return st.one_of(
        _bad(st.integers(max_value=-1), InvalidArgumentError, "negative seed"),
        _bad(st.integers(min_value=MAX_SEED + 1), InvalidArgumentError, "seed >= 2**63"),
        _bad(_FLOATS, ArgumentTypeError, "float seed"),
        _bad(st.booleans(), ArgumentTypeError, "bool seed"),
        _bad(_TEXT, ArgumentTypeError, "seed not a number"),
    )


def bad_batch_sizes() -> st.SearchStrategy[Bad]:
    """Batch sizes ``sample`` must refuse: 0 or negative, not an int."""
    return st.one_of(
        _bad(st.integers(max_value=0), InvalidArgumentError, "batch_size < 1"),
        _bad(_FLOATS, ArgumentTypeError, "float batch_size"),
        _bad(st.booleans(), ArgumentTypeError, "bool batch_size"),
        _bad(_TEXT, ArgumentTypeError, "batch_size not a number"),
    )


def bad_conditions(spec: ConditionSpec | None, n: int) -> st.SearchStrategy[Bad]:
    """Conditions a model with condition ``spec`` must refuse, for ``n`` samples."""
    if spec is None:
        return st.one_of(
            _bad(st.integers(0, 9), ConditionError, "a class for an unconditional model"),
            _bad(
                st.lists(st.integers(0, 9), min_size=n, max_size=n).map(torch.tensor),
                ConditionError,
                "labels for an unconditional model",
            ),
        )
    if spec.kind is ConditionKind.CLASS:
        options = _bad_labels(spec, n)
    elif spec.kind is ConditionKind.TOKENS:
        options = _bad_prompts(spec, n)
    elif spec.kind is ConditionKind.TEXT:
        options = _bad_texts(spec, n)
    else:
        options = _bad_embeddings(spec, n)
    if spec.required:
        options.append(_bad(st.none(), ConditionError, "missing required condition"))
    return st.one_of(*options)


def _bad_labels(spec: ConditionSpec, n: int) -> list[st.SearchStrategy[Bad]]:
    classes = spec.num_classes
    named = spec.labels is not None
    options = [
        _bad(st.integers(min_value=classes), ConditionError, "class out of range"),
        _bad(st.integers(max_value=-1), ConditionError, "negative class"),
        _bad(_FLOATS, ConditionError, "float condition"),
        _bad(st.booleans(), ConditionError, "bool condition"),
        _bad(_TEXT.filter(lambda t: t not in (spec.labels or ())), ConditionError,
             "an unknown class label" if named else "a string for a class model"),
        _bad(
            st.integers(0, classes - 1).map(lambda c: torch.full((n,), float(c))),
            ConditionError,
            "float labels",
        ),
        _bad(
            st.integers(0, 3)
            .filter(lambda extra: extra != 0)
            .map(lambda extra: torch.zeros(n + extra, dtype=torch.int64)),
            ConditionError,
            "wrong number of labels",
        ),
    ]
    if named:
        options += _bad_named_labels(spec, n)
    return options


def _bad_named_labels(spec: ConditionSpec, n: int) -> list[st.SearchStrategy[Bad]]:
    """Label str a spec with ``labels`` refuses: an unknown one (a near miss of a label, or
    any text), the wrong number, labels mixed with indices."""
    labels = spec.labels or ()
    near = st.sampled_from(labels).flatmap(
        lambda label: st.sampled_from([label.upper(), label + "s", label[:-1] or "_", f" {label}"])
    ).filter(lambda text: text not in labels)
    names = st.sampled_from(labels)
    unknown = _TEXT.filter(lambda text: text not in labels)
    return [
        _bad(near, ConditionError, "a near miss of a class label"),
        _bad(st.tuples(st.integers(0, max(n - 1, 0)), unknown, names)
             .map(lambda d: [d[2]] * d[0] + [d[1]] + [d[2]] * (n - 1 - d[0]) if n else [d[1]]),
             ConditionError, "a list of labels with an unknown one"),
        _bad(st.integers(1, 3).flatmap(
            lambda extra: st.lists(names, min_size=n + extra, max_size=n + extra)),
             ConditionError, "wrong number of label strings"),
        _bad(names.map(lambda name: [name, 0] + [name] * max(0, n - 2)), ConditionError,
             "labels mixed with class indices"),
    ]


def _bad_prompts(spec: ConditionSpec, n: int) -> list[st.SearchStrategy[Bad]]:
    limit = spec.max_length or 1
    pad = int(spec.pad_id or 0)
    options = [
        _bad(st.integers(1, 3).map(lambda extra: torch.full((limit + extra,), pad)),
             ConditionError, "a prompt longer than max_length"),
        _bad(st.just(torch.zeros(0, dtype=torch.int64)), ConditionError, "an empty prompt"),
        _bad(st.integers(max_value=-1).map(lambda i: torch.tensor([max(i, -(2**62))])),
             ConditionError, "a negative token id"),
        _bad(st.just(torch.full((1,), float(pad))), ConditionError, "float token ids"),
        _bad(_TEXT, ConditionError, "a string for a token model"),
        _bad(st.integers(1, 3).map(lambda extra: torch.full((n + extra, 1), pad)),
             ConditionError, "wrong number of prompts"),
    ]
    if spec.vocab_size is not None:
        top = spec.vocab_size
        options.append(_bad(st.integers(top, top + 100).map(lambda i: torch.tensor([i])),
                            ConditionError, "a token id beyond the vocabulary"))
    return options


def _bad_texts(spec: ConditionSpec, n: int) -> list[st.SearchStrategy[Bad]]:
    options = [
        _bad(st.integers(), ConditionError, "an int for a text model"),
        _bad(st.just(torch.zeros(3, dtype=torch.int64)), ConditionError,
             "a tensor for a text model"),
        _bad(st.integers(1, 3).map(lambda extra: ["a"] * (n + extra)), ConditionError,
             "wrong number of strings"),
        _bad(st.integers(0, 9).map(lambda i: [i] * n), ConditionError,
             "a list of non-strings"),
    ]
    if spec.max_length is not None:
        limit = spec.max_length
        options.append(_bad(st.integers(1, 5).map(lambda extra: "x" * (limit + extra)),
                            ConditionError, "a prompt longer than max_length"))
    return options


def _bad_embeddings(spec: ConditionSpec, n: int) -> list[st.SearchStrategy[Bad]]:
    shape = tuple(spec.shape or ())
    return [
        _bad(st.integers(1, 3).map(lambda extra: torch.zeros(*shape[:-1], shape[-1] + extra)),
             ConditionError, "an embedding of the wrong shape"),
        _bad(st.integers(1, 3).map(lambda extra: torch.zeros(n + extra, *shape)),
             ConditionError, "wrong number of embeddings"),
        _bad(st.sampled_from((math.nan, math.inf, -math.inf)).map(
            lambda v: torch.full(shape, v)), ConditionError, "an embedding holding NaN or inf"),
        _bad(st.just(torch.zeros(shape, dtype=torch.bool)), ConditionError,
             "a bool embedding"),
        _bad(_TEXT, ConditionError, "a string for an embedding model"),
    ]


def valid_rows(event: EventSpace, n: int) -> torch.Tensor:
    """``n`` rows of one valid event, as a caller passes them: int64 levels 0 (a sequence:
    the stop token, then padding) or float32 zeros (clamped into a declared range)."""
    if event.kind is EventKind.DISCRETE:
        rows = torch.zeros((n, *event.shape), dtype=torch.int64)
        if event.is_sequence:
            rows[:, 0] = event.stop or 0
            rows[:, 1:] = event.pad or 0
        return rows
    middle = 0.0
    if event.low is not None and event.high is not None:
        middle = (event.low + event.high) / 2
    elif event.low is not None:
        middle = max(0.0, event.low)
    elif event.high is not None:
        middle = min(0.0, event.high)
    return torch.full((n, *event.shape), middle, dtype=torch.float32)


@st.composite
def _bad_shape(draw: st.DrawFn, event: EventSpace, n: int) -> Bad:
    base = valid_rows(event, n)
    kind = draw(st.sampled_from(("no batch dim", "extra dim", "wrong event size", "scalar")))
    if kind == "no batch dim":
        value = base[0]
    elif kind == "extra dim":
        value = base.unsqueeze(-1)
    elif kind == "wrong event size":
        grow = draw(st.integers(1, 3))
        value = torch.cat([base, base[..., :1].expand(*base.shape[:-1], grow)], dim=-1)
    else:
        value = base.reshape(-1)[:1].reshape(())
    return Bad(value, InputError, f"x with a bad shape ({kind})")


@st.composite
def _bad_value(draw: st.DrawFn, event: EventSpace, n: int) -> Bad:
    base = valid_rows(event, n).reshape(n, -1)
    row = draw(st.integers(0, n - 1))
    col = draw(st.integers(0, base.shape[1] - 1))
    if event.kind is EventKind.DISCRETE:
        levels = event.levels or 2
        level = draw(st.one_of(st.integers(-(2**62), -1), st.integers(levels, 2**62)))
        base[row, col] = level
        label = "x with a level out of range"
    else:
        base[row, col] = draw(st.sampled_from((math.nan, math.inf, -math.inf)))
        label = "x holding NaN or inf"
    return Bad(base.reshape(n, *event.shape), InputError, label)


@st.composite
def _out_of_range(draw: st.DrawFn, event: EventSpace, n: int) -> Bad:
    """A continuous ``x`` with one value beyond a declared end (by more than the slack)."""
    base = valid_rows(event, n).reshape(n, -1)
    row = draw(st.integers(0, n - 1))
    col = draw(st.integers(0, base.shape[1] - 1))
    ends = [("low", event.low), ("high", event.high)]
    side, end = draw(st.sampled_from([(s, e) for s, e in ends if e is not None]))
    width = 1.0 if event.low is None or event.high is None else event.high - event.low
    beyond = draw(st.floats(0.01, 10.0)) * width + 10 * event.range_slack
    base[row, col] = (end - beyond) if side == "low" else (end + beyond)
    return Bad(base.reshape(n, *event.shape), InputError,
               f"x outside the declared range ({side} end {end:g})")


@st.composite
def _broken_sequence(draw: st.DrawFn, event: EventSpace, n: int) -> Bad:
    """A sequence ``x`` breaking the stop/pad rule in one row: a stop token in the middle of
    padding, a word after the padding began, or padding before the stop."""
    base = valid_rows(event, n)
    length = event.shape[0]
    stop, pad = event.stop or 0, event.pad or 0
    row = draw(st.integers(0, n - 1))
    words = [t for t in range(event.levels or 2) if t not in (stop, pad)]
    kinds = []
    if pad != stop:
        kinds += ["a stop token in the middle of padding", "padding before the stop"]
    if words:
        kinds.append("a word after the stop")
    label = draw(st.sampled_from(kinds))
    where = draw(st.integers(1, length - 1))
    if label == "padding before the stop":  # pad at 0, the stop later
        base[row, :where] = pad
        base[row, where] = stop
    else:
        base[row, where] = stop if label.startswith("a stop") else draw(st.sampled_from(words))
    return Bad(base, InputError, f"x with {label}")


def declared_bad_data(event: EventSpace, n: int = 3) -> tuple[Bad, ...]:
    """One ``x`` for each declaration of ``event`` it breaks, always tried (a profile's few
    examples may miss them): a value just beyond each declared range end, and each way a
    sequence can break the stop/pad rule (in row ``n - 1``, at the last position)."""
    out: list[Bad] = []
    for side, end in (("low", event.low), ("high", event.high)):
        if end is None:
            continue
        x = valid_rows(event, n)
        beyond = 0.5 + 10 * event.range_slack
        x.reshape(n, -1)[-1, -1] = (end - beyond) if side == "low" else (end + beyond)
        out.append(Bad(x, InputError, f"x outside the declared range ({side} end {end:g})"))
    if event.is_sequence and event.shape[0] >= 2:
        stop, pad = event.stop or 0, event.pad or 0
        words = [t for t in range(event.levels or 2) if t not in (stop, pad)]
        if pad != stop:
            x = valid_rows(event, n)
            x[-1, -1] = stop
            out.append(Bad(x, InputError, "x with a stop token in the middle of padding"))
            x = valid_rows(event, n)
            x[-1, :-1], x[-1, -1] = pad, stop
            out.append(Bad(x, InputError, "x with padding before the stop"))
        if words:
            x = valid_rows(event, n)
            x[-1, -1] = words[0]
            out.append(Bad(x, InputError, "x with a word after the stop"))
    return tuple(out)


def bad_data(event: EventSpace, n: int = 3) -> st.SearchStrategy[Bad]:
    """``x`` that ``log_likelihood`` must refuse: not a tensor, bad shape, dtype or values;
    outside a declared range; a sequence breaking the stop/pad rule."""
    base = valid_rows(event, n)
    if event.kind is EventKind.DISCRETE:
        wrong_dtypes = [base.float(), base.bool(), base.double()]
    else:
        wrong_dtypes = [base.bool(), base.to(torch.complex64)]
    options = [
        st.sampled_from([base.tolist(), base.numpy()]).map(
            lambda v: Bad(v, InputTypeError, "x not a tensor")
        ),
        st.sampled_from(wrong_dtypes).map(lambda v: Bad(v, InputTypeError, "x of a wrong dtype")),
        _bad_shape(event, n),
        _bad_value(event, n),
    ]
    if event.kind is EventKind.CONTINUOUS and (event.low is not None or event.high is not None):
        options.append(_out_of_range(event, n))
    if event.is_sequence and event.shape[0] >= 2:
        options.append(_broken_sequence(event, n))
    return st.one_of(*options)
