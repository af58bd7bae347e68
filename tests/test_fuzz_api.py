"""A fuzz of the public API on every shipped model: typed errors only, never NaN or junk.

Hypothesis draws whole calls — ``registry.get`` with factory options, ``sample`` with
every argument and option valid, at an edge or wild, ``log_likelihood`` with damaged
data (shapes, dtypes, NaN, levels, empty, non-contiguous, numpy, lists) — on the six
shipped models. Each call must either return a well-formed result (the right shape,
finite or in the event's support; likelihoods with no NaN or +inf) or raise a
:class:`~genproto.errors.GenprotoError`; anything else is a failure.

Derandomized: the same examples on every run. The CI profile draws 150 calls per model
and entry point (2,700 in all) on 3 rows of data, with the valid values of a count option
(one whose declared maximum exceeds 64: steps, terms, draws) at most the larger of its
default and 8: a valid call at the far end of such a range is valid work, not an error path,
and latent_diffusion's class-marginal bound over 999 terms x 16 draws is a minute of it. The
full run, ``GENPROTO_FUZZ_EXAMPLES=600 python -m pytest tests/test_fuzz_api.py`` (10,800
calls), damages 6 rows and draws every option over its whole declared range.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import genproto
from genproto.errors import GenprotoError
from genproto.options import Option
from genproto.protocol import EventKind

MODELS = ("ar", "vae", "gan", "diffusion", "flow", "latent_diffusion")
EXAMPLES = int(os.environ.get("GENPROTO_FUZZ_EXAMPLES", "0")) or 150
FULL = "GENPROTO_FUZZ_EXAMPLES" in os.environ
#: Rows of the data ``log_likelihood`` gets (before damage).
ROWS = 6 if FULL else 3
#: Outside the full run, the valid values of an int option whose maximum exceeds
#: ``COUNT_MAXIMUM`` stop at ``max(default, COUNT_CAP)``.
COUNT_MAXIMUM, COUNT_CAP = 64, 8
FUZZ = settings(
    derandomize=True, deadline=None, database=None, max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

WILD = st.one_of(
    st.none(), st.booleans(),
    # small ints, and huge ones no call can accept (a valid n of 10^7 is legal but slow)
    st.integers(-1000, 1000), st.sampled_from([0, 1, -1, 2**40, 2**63, -(2**63), 2**70]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-324, 5e-324, 1e-300, 1e38, 3.5e38, 1e308, -0.0]),
    st.text(max_size=5), st.lists(st.integers(-3, 20), max_size=4),
)


def _valid(option: Option) -> st.SearchStrategy[Any]:
    """Values inside the option's declared range (edges included)."""
    if option.choices is not None:
        return st.sampled_from(list(option.choices))
    if option.type is bool:
        return st.booleans()
    low = option.minimum if option.minimum is not None else -1e6
    high = option.maximum if option.maximum is not None else 1e6
    if option.type is int:
        if not FULL and high > COUNT_MAXIMUM:
            high = min(high, max(int(option.default or 0), COUNT_CAP, low))
        inner = st.integers(math.ceil(low), int(min(high, 2**40)))
    else:
        inner = st.floats(float(low), float(high), allow_nan=False,
                          exclude_min=bool(option.exclusive_minimum))
    if option.nullable:
        inner = st.one_of(st.none(), inner)
    return inner


def _option_values(
    options: tuple[Option, ...], wild: bool = True
) -> st.SearchStrategy[dict[str, Any]]:
    """Some declared options with values in range, or (``wild``) any value, or a stray key."""

    def one(option: Option) -> st.SearchStrategy[Any]:
        return st.one_of(_valid(option), WILD) if wild else _valid(option)

    names = [o.name for o in options]
    keys = st.lists(st.sampled_from(names), unique=True) if names else st.just([])
    extra = st.dictionaries(st.sampled_from(["bogus", "steps", "k"]), WILD, max_size=1)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        by_name = {o.name: o for o in options}
        values = {name: draw(one(by_name[name])) for name in draw(keys)}
        if wild and draw(st.integers(0, 9)) == 0:
            values.update(draw(extra))
        return values

    return build()


ARGUMENTS = ("n", "seed", "batch_size", "condition", "options")


def _calls(model: Any, options: tuple[Option, ...], n_valid: st.SearchStrategy[Any]) -> Any:
    """Call arguments: all valid, or all valid but one wild, or all drawn from anything."""
    spec = model.capabilities.condition
    classes = spec.num_classes if spec is not None else 10

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        mode = draw(st.sampled_from(["valid", "one-bad", "one-bad", "anything"]))
        bad = draw(st.sampled_from(ARGUMENTS)) if mode == "one-bad" else None
        n = draw(n_valid)
        size = n if isinstance(n, int) else 4

        def pick(name: str, valid: st.SearchStrategy[Any], wild: st.SearchStrategy[Any]) -> Any:
            return draw(wild if mode == "anything" or bad == name else valid)

        labels = st.lists(st.integers(0, classes - 1), min_size=size, max_size=size).map(
            lambda v: torch.tensor(v, dtype=torch.int64))
        valid_condition = st.none() if spec is None else st.one_of(
            st.none(), st.integers(0, classes - 1), labels)
        wild_condition = st.one_of(
            st.integers(-2, classes + 2), WILD,
            st.lists(st.integers(-2, classes + 2), max_size=14).map(
                lambda v: torch.tensor(v, dtype=torch.int64)))
        return {
            "n": pick("n", st.just(n), st.one_of(st.integers(-3, 20), WILD)),
            "seed": pick("seed", st.integers(0, 2**63 - 1), WILD),
            "batch_size": pick("batch_size", st.one_of(st.none(), st.integers(1, 12)), WILD),
            "condition": pick("condition", valid_condition, wild_condition),
            "options": pick("options", _option_values(options, wild=False),
                            _option_values(options)),
        }

    return build()


@pytest.fixture(scope="module", params=MODELS)
def model(request: pytest.FixtureRequest) -> Any:
    torch.set_num_threads(1)
    return genproto.registry.get(request.param)


def _check_samples(model: Any, out: Any, n: int) -> None:
    event = model.capabilities.event
    assert isinstance(out, torch.Tensor)
    assert tuple(out.shape) == (n, *event.shape)
    assert out.dtype == event.dtype
    if event.kind is EventKind.DISCRETE:
        if out.numel():
            assert int(out.min()) >= 0
            assert int(out.max()) < (event.levels or 0)
    else:
        assert bool(torch.isfinite(out).all())


def test_sample_returns_well_formed_samples_or_a_typed_error(model: Any) -> None:
    @FUZZ
    @given(call=_calls(model, model.sample_options, st.integers(0, 12)))
    def run(call: dict[str, Any]) -> None:
        try:
            out = model.sample(call["n"], condition=call["condition"], seed=call["seed"],
                               batch_size=call["batch_size"], **call["options"])
        except GenprotoError:
            return
        _check_samples(model, out, call["n"])

    run()


def _damaged(model: Any) -> st.SearchStrategy[Any]:
    good = model.sample(ROWS, seed=0)

    def nan(x: torch.Tensor) -> torch.Tensor:
        y = x.double().clone()
        y.view(-1)[0] = float("nan")
        return y

    damage = [
        lambda x: x, lambda x: x, lambda x: x, lambda x: x.float(), lambda x: x.double() + 0.5, nan,
        lambda x: x + 1000, lambda x: -x - 1, lambda x: x[:, :1], lambda x: x[0],
        lambda x: x[:0], lambda x: x.numpy(), lambda x: x.tolist(), lambda x: x.to(torch.int8),
        lambda x: x.bool(), lambda x: x.transpose(0, -1).contiguous().transpose(0, -1),
        lambda x: x.unsqueeze(1), lambda x: torch.zeros(0), lambda x: "x", lambda x: None,
        lambda x: x.to(torch.complex64), lambda x: np.asarray(x, dtype=np.float64),
    ]
    return st.sampled_from(damage).map(lambda f: f(good.clone()))


def test_log_likelihood_returns_clean_values_or_a_typed_error(model: Any) -> None:
    x_strategy = _damaged(model)

    @FUZZ
    @given(x=x_strategy, call=_calls(model, model.likelihood_options, st.just(ROWS)))
    def run(x: Any, call: dict[str, Any]) -> None:
        try:
            values = model.log_likelihood(x, call["condition"], seed=call["seed"],
                                          batch_size=call["batch_size"], **call["options"])
        except GenprotoError:
            return
        assert isinstance(values, torch.Tensor)
        assert values.ndim == 1
        assert not bool(values.isnan().any())
        assert not bool(values.isposinf().any())

    run()


def test_registry_get_builds_or_raises_a_typed_error(model: Any) -> None:
    entry = genproto.registry.default().entry(model.name)
    factory = tuple(o for o in entry.options if o.name != "pretrained")

    @FUZZ
    @given(options=_option_values(factory))
    def run(options: dict[str, Any]) -> None:
        try:
            built = genproto.registry.get(model.name, **options)  # pretrained: fast refusal
        except GenprotoError:
            return
        _check_samples(built, built.sample(2, seed=0), 2)

    run()
