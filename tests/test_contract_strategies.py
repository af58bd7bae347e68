"""The public Hypothesis strategies: good values are accepted, bad ones raise their stated error.

The bad-value strategies pair each value with the typed error genproto documents for it; here
genproto's own validators (what every Model's sample and log_likelihood call) are held to that.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genproto import ConditionSpec, EventSpace
from genproto.errors import GenprotoError
from genproto.testing import strategies as gs
from genproto.validation import (
    check_batch_size,
    check_condition,
    check_n,
    check_seed,
    check_x,
)

SPECS = [None, ConditionSpec(3), ConditionSpec(2, required=True)]
EVENTS = [EventSpace.continuous((2,)), EventSpace.discrete((2, 3), 4)]
CPU = torch.device("cpu")


@given(n=gs.counts(), seed=gs.seeds())
def test_counts_and_seeds_are_valid(n: int, seed: int) -> None:
    assert check_n(n) == n
    assert check_seed(seed) == seed


@given(pair=gs.seed_pairs())
def test_seed_pairs_differ(pair: tuple[int, int]) -> None:
    assert pair[0] != pair[1]


@given(data=st.data(), n=gs.counts(max_n=20))
def test_batch_sizes_fit_n(data: st.DataObject, n: int) -> None:
    size = data.draw(gs.batch_sizes(n))
    assert size is None or 1 <= check_batch_size(size) <= max(n, 1)  # type: ignore[operator]


@pytest.mark.parametrize("spec", SPECS, ids=str)
@given(data=st.data())
def test_conditions_are_valid(spec: ConditionSpec | None, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 6))
    condition = data.draw(gs.conditions(spec, n))
    labels = check_condition(condition, n, spec, model="m")
    if spec is None or (condition is None and not spec.required):
        assert labels is None
    else:
        assert labels is not None
        assert labels.shape == (n,)


@pytest.mark.parametrize("spec", SPECS, ids=str)
@given(data=st.data())
def test_sample_calls_are_valid_for_their_spec(spec: ConditionSpec | None,
                                               data: st.DataObject) -> None:
    call = data.draw(gs.sample_calls(spec, min_n=1, max_n=9))
    assert 1 <= call.n <= 9
    check_condition(call.condition, call.n, spec, model="m")
    assert call.text().startswith(f"model.sample({call.n}, seed={call.seed}")
    assert set(call.example()) == {"n", "seed", "batch_size", "condition"}


def _raises(bad: gs.Bad, fn: object) -> None:
    with pytest.raises(GenprotoError) as caught:
        fn()  # type: ignore[operator]
    assert isinstance(caught.value, bad.error), (bad, caught.value)


@given(bad=gs.bad_counts())
def test_bad_counts_raise_their_error(bad: gs.Bad) -> None:
    _raises(bad, lambda: check_n(bad.value, event=EVENTS[0]))


@given(bad=gs.bad_seeds())
def test_bad_seeds_raise_their_error(bad: gs.Bad) -> None:
    _raises(bad, lambda: check_seed(bad.value))


@given(bad=gs.bad_batch_sizes())
def test_bad_batch_sizes_raise_their_error(bad: gs.Bad) -> None:
    _raises(bad, lambda: check_batch_size(bad.value))


@pytest.mark.parametrize("spec", SPECS, ids=str)
@given(data=st.data())
def test_bad_conditions_raise_their_error(spec: ConditionSpec | None, data: st.DataObject) -> None:
    bad = data.draw(gs.bad_conditions(spec, 4))
    _raises(bad, lambda: check_condition(bad.value, 4, spec, model="m"))


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.describe())
@given(data=st.data())
def test_bad_data_raise_their_error(event: EventSpace, data: st.DataObject) -> None:
    bad = data.draw(gs.bad_data(event, 3))
    _raises(bad, lambda: check_x(bad.value, event, model="m", device=CPU))
    assert repr(bad).startswith("Bad(")


def test_profiles_are_registered_and_ci_is_derandomized() -> None:
    ci = gs.profile(gs.CI_PROFILE)
    thorough = gs.profile(gs.THOROUGH_PROFILE)
    assert ci.derandomize
    assert ci.database is None
    assert ci.deadline is None
    assert thorough.max_examples > ci.max_examples
    assert settings().max_examples != 0  # the default profile is left as it was
    with pytest.raises(GenprotoError, match="genproto-thorough"):
        gs.profile("fast")


def test_profiles_have_short_names() -> None:
    assert gs.profile_name("ci") == gs.CI_PROFILE
    assert gs.profile_name("thorough") == gs.THOROUGH_PROFILE
    assert gs.profile_name(gs.THOROUGH_PROFILE) == gs.THOROUGH_PROFILE  # the old names work
    assert gs.profile("ci") is gs.profile(gs.CI_PROFILE)
    with pytest.raises(GenprotoError, match="'ci', 'thorough'"):
        gs.profile_name("fast")
