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
from genproto.protocol import Condition, ConditionSpec, EventKind, EventSpace
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
    "conditions",
    "counts",
    "profile",
    "profile_name",
    "sample_calls",
    "seed_pairs",
    "seeds",
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


def conditions(spec: ConditionSpec | None, n: int) -> st.SearchStrategy[Condition]:
    """Valid conditions for ``n`` samples: ``None`` where allowed, one class, or ``n`` labels."""
    if spec is None:
        return st.none()
    classes = spec.num_classes
    labels = st.lists(st.integers(0, classes - 1), min_size=n, max_size=n).map(
        lambda values: torch.tensor(values, dtype=torch.int64)
    )
    options: list[st.SearchStrategy[Condition]] = [st.integers(0, classes - 1), labels]
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
    classes = spec.num_classes
    options = [
        _bad(st.integers(min_value=classes), ConditionError, "class out of range"),
        _bad(st.integers(max_value=-1), ConditionError, "negative class"),
        _bad(_FLOATS, ConditionError, "float condition"),
        _bad(st.booleans(), ConditionError, "bool condition"),
        _bad(_TEXT, ConditionError, "condition not a number"),
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
    if spec.required:
        options.append(_bad(st.none(), ConditionError, "missing required condition"))
    return st.one_of(*options)


def _valid_rows(event: EventSpace, n: int) -> torch.Tensor:
    if event.kind is EventKind.DISCRETE:
        return torch.zeros((n, *event.shape), dtype=torch.int64)
    return torch.zeros((n, *event.shape), dtype=torch.float32)


@st.composite
def _bad_shape(draw: st.DrawFn, event: EventSpace, n: int) -> Bad:
    base = _valid_rows(event, n)
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
    base = _valid_rows(event, n).reshape(n, -1)
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


def bad_data(event: EventSpace, n: int = 3) -> st.SearchStrategy[Bad]:
    """``x`` that ``log_likelihood`` must refuse: not a tensor, bad shape, dtype or values."""
    base = _valid_rows(event, n)
    if event.kind is EventKind.DISCRETE:
        wrong_dtypes = [base.float(), base.bool(), base.double()]
    else:
        wrong_dtypes = [base.bool(), base.to(torch.complex64)]
    return st.one_of(
        st.sampled_from([base.tolist(), base.numpy()]).map(
            lambda v: Bad(v, InputTypeError, "x not a tensor")
        ),
        st.sampled_from(wrong_dtypes).map(lambda v: Bad(v, InputTypeError, "x of a wrong dtype")),
        _bad_shape(event, n),
        _bad_value(event, n),
    )
