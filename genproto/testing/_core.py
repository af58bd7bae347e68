"""Plumbing shared by the contract properties: failures, reproductions, guarded calls, RNG states.

Nothing here knows a property; :mod:`genproto.testing.properties` and
:mod:`genproto.testing.likelihood` build on it.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, TypeAlias, TypeVar

import numpy as np
import torch
from hypothesis import given

from genproto.errors import ContractViolation, PluginError
from genproto.protocol import GenerativeModel
from genproto.streams import MAX_SEED
from genproto.testing import strategies

__all__ = [
    "FIXED_SEED",
    "X",
    "Inconclusive",
    "ModelSource",
    "Name",
    "NotApplicable",
    "Notes",
    "call_text",
    "explain",
    "fail",
    "fixed_seed",
    "global_rng_state",
    "guard",
    "resolve",
    "run_given",
    "same_rng_state",
    "suite_seed",
]

#: A model, or a callable without arguments that builds one.
ModelSource: TypeAlias = GenerativeModel | Callable[[], GenerativeModel]

#: Sub-checks a property skipped, each with its reason (reported with a pass).
Notes: TypeAlias = tuple[str, ...]

T = TypeVar("T")

#: A call slower than this is reported as a hang (it should have failed fast).
HANG_SECONDS = 20.0


class Inconclusive(str):
    """A note saying a sub-check could not decide (e.g. a quadrature that does not converge).

    A property that returns one, and fails nothing, is reported ``INCONCLUSIVE``, never ``PASS``:
    ``notes.append(Inconclusive("normalisation of class 0: ..."))``.
    """

    __slots__ = ()


class NotApplicable(Exception):
    """Raised by a property that does not apply to a model, with the declared reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Name(str):
    """A variable name inside a reproduction: shown as itself (``x``), not quoted."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


#: The data argument of a reproduction, e.g. ``x = model.sample(...); model.log_likelihood(x)``.
X = Name("x")


def _show(value: Any) -> str:
    """Python source for an argument value, short enough for one line."""
    if isinstance(value, torch.Tensor):
        if value.numel() <= 8:
            return f"torch.tensor({value.tolist()!r})"
        if value.dtype == torch.int64 and value.dim() == 1:  # the suite's cycling labels
            classes = int(value.max()) + 1
            if torch.equal(value.cpu(), torch.arange(value.numel()) % classes):
                return f"torch.arange({value.numel()}) % {classes}"
        return f"<tensor shape={tuple(value.shape)} dtype={value.dtype}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def call_text(method: str, *args: Any, **kwargs: Any) -> str:
    """``model.<method>(args, key=value, ...)`` as a one-line reproduction."""
    parts = [_show(a) for a in args] + [f"{k}={_show(v)}" for k, v in kwargs.items()]
    return f"model.{method}({', '.join(parts)})"


def fail(
    prop: str, detail: str, *, reproduction: str | None = None, **example: Any
) -> NoReturn:
    """Raise :class:`ContractViolation` for ``prop``."""
    raise ContractViolation(prop, detail, reproduction=reproduction, example=example)


def explain(exc: Exception) -> str:
    """An exception as one line for a report.

    The engine's :class:`~genproto.errors.PluginError` about a plugin's output (``sample_batch
    returned NaN``) is addressed to the model's *users* ("report it to its authors"); an author
    running the suite gets what was returned and what was expected instead.
    """
    if isinstance(exc, PluginError) and exc.allowed:
        text = f"PluginError: {exc.what}; expected {exc.allowed}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text.replace("\n", " ")


def guard(prop: str, reproduction: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn``; an unexpected exception becomes a violation of ``prop`` with a reproduction."""
    try:
        return fn(*args, **kwargs)
    except ContractViolation:
        raise
    except Exception as exc:
        detail = f"{reproduction} raised {explain(exc)}"
        raise ContractViolation(prop, detail, reproduction=reproduction) from exc


def resolve(source: ModelSource) -> tuple[GenerativeModel, Callable[[], GenerativeModel] | None]:
    """The model to check and, when ``source`` is a factory, the factory."""
    if isinstance(source, GenerativeModel) and not isinstance(source, type):
        return source, None  # (a class passes the protocol's name-only isinstance check too)
    if callable(source):
        built = guard("conformance", "factory()", source)
        if not isinstance(built, GenerativeModel):
            fail(
                "conformance",
                f"the factory returned {type(built).__name__}, which does not implement "
                "genproto.GenerativeModel (name, capabilities, cost, sample, log_likelihood, save)",
                reproduction="factory()",
            )
        return built, source
    fail(
        "conformance",
        f"got {type(source).__name__}: neither a GenerativeModel nor a factory of one",
    )


# -- global random state -----------------------------------------------------------------------


def global_rng_state(device: torch.device | None = None) -> tuple[Any, ...]:
    """Snapshots of torch's (CPU, and CUDA when in use), numpy's and ``random``'s global RNGs."""
    cuda: Any = None
    if device is not None and device.type == "cuda" and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        cuda = [s.clone() for s in torch.cuda.get_rng_state_all()]
    numpy_state = np.random.get_state()  # noqa: NPY002 -- the global state is what we watch
    return (torch.get_rng_state().clone(), cuda, numpy_state, random.getstate())


def same_rng_state(a: tuple[Any, ...], b: tuple[Any, ...]) -> list[str]:
    """Names of the global generators whose state differs between two snapshots."""
    changed = []
    if not torch.equal(a[0], b[0]):
        changed.append("torch (CPU)")
    if a[1] is not None and b[1] is not None and any(
        not torch.equal(x, y) for x, y in zip(a[1], b[1], strict=True)
    ):
        changed.append("torch (CUDA)")
    np_a, np_b = a[2], b[2]
    if np_a[0] != np_b[0] or not np.array_equal(np_a[1], np_b[1]) or np_a[2:] != np_b[2:]:
        changed.append("numpy")
    if a[3] != b[3]:
        changed.append("random")
    return changed


@contextlib.contextmanager
def preserved_global_rng() -> Iterator[None]:
    """Restore torch's, numpy's and ``random``'s global RNGs on exit (the suite is hygienic)."""
    np_state = np.random.get_state()  # noqa: NPY002 -- restored below
    py_state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)


def disturb_global_rng(value: int) -> None:
    """Reseed every global RNG with ``value`` (a model that reads them will change its output)."""
    torch.manual_seed(value)
    np.random.seed(value % 2**32)  # noqa: NPY002 -- disturbing it is the point
    random.seed(value)


# -- the suite's seed --------------------------------------------------------------------------

#: The seed of the suite's fixed draws when none is chosen (``genproto check`` without --seed).
FIXED_SEED = 20_240_601

_SEED: contextvars.ContextVar[int | None] = contextvars.ContextVar("genproto_suite_seed",
                                                                   default=None)


@contextlib.contextmanager
def suite_seed(seed: int | None) -> Iterator[None]:
    """Run the properties inside with ``seed``: it seeds Hypothesis (whose examples are then drawn
    at random from it instead of the profile's fixed, derandomized ones) and replaces
    :data:`FIXED_SEED` as the base of the statistical checks' draws. ``None``: the defaults."""
    token = _SEED.set(seed)
    try:
        yield
    finally:
        _SEED.reset(token)


def fixed_seed(offset: int = 0) -> int:
    """The seed of a fixed draw: :data:`FIXED_SEED` (or the chosen suite seed) plus ``offset``."""
    chosen = _SEED.get()
    base = FIXED_SEED if chosen is None else chosen
    return (base + offset) % (MAX_SEED + 1)


# -- Hypothesis --------------------------------------------------------------------------------


def run_given(
    profile: str,
    test: Callable[..., None],
    strategies_by_name: Mapping[str, Any],
    examples: tuple[Mapping[str, Any], ...] = (),
) -> None:
    """Run ``test`` under Hypothesis with ``profile``'s settings; explicit ``examples`` first.

    Inside :func:`suite_seed` with a seed, the examples are drawn at random from that seed (the
    same ones on every run with it), not derandomized. The shrunk failure is re-raised as it is
    (a :class:`ContractViolation` whose reproduction names the shrunk example). A failure
    Hypothesis could not reproduce (a nondeterministic model) is unwrapped from its exception
    group, so the caller sees the violation itself.
    """
    from hypothesis import example as hypothesis_example
    from hypothesis import seed as hypothesis_seed
    from hypothesis import settings

    wrapped: Any = test
    for ex in reversed(examples):
        wrapped = hypothesis_example(**ex)(wrapped)
    wrapped = given(**strategies_by_name)(wrapped)
    chosen = _SEED.get()
    if chosen is None:
        wrapped = strategies.profile(profile)(wrapped)
    else:
        wrapped = settings(strategies.profile(profile), derandomize=False)(wrapped)
        wrapped = hypothesis_seed(chosen)(wrapped)
    try:
        wrapped()
    except BaseExceptionGroup as group:
        found = _first_violation(group)
        if found is None:
            raise
        raise found from group


def _first_violation(group: BaseExceptionGroup[Any]) -> ContractViolation | None:
    for exc in group.exceptions:
        if isinstance(exc, ContractViolation):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_violation(exc)
            if inner is not None:
                return inner
    return None
