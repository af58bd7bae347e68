"""The contract suite on protocol 2's declarations: condition kinds, ranges, storage, sequences.

The small models of ``tests/event_models.py`` and ``tests/condition_models.py`` pass the
whole suite; the suite's drawn conditions and data are of the declared kind and inside the
declared space (so a refusal is the model's, never the suite's own mistake); the bad data it
tries includes what breaks a range or the stop/pad rule. The broken variants (a sample out of
range, padding broken, a cost over its bound, drift beyond the declared tolerance, a prompt or
an embedding not followed) live in ``contract_models.BROKEN``, where
``test_contract_broken.py`` checks each is caught by its property only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import condition_models
import contract_models
import event_models
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genproto import ConditionSpec, EventSpace, GenerativeModel
from genproto.conditions import check_condition
from genproto.errors import ConditionError, InputError
from genproto.testing import Status, check_model
from genproto.testing import strategies as gs
from genproto.testing._core import Inconclusive
from genproto.testing.likelihood import _marginal_labels, _marginal_ll
from genproto.testing.properties import (
    check_bad_input,
    check_batch_invariance,
    check_conformance,
    check_cost,
    default_condition,
    example_conditions,
    per_sample_condition,
    slice_condition,
)

#: Every model of the two files; the ones without a likelihood get its properties as N/A.
MODELS: dict[str, Callable[[], GenerativeModel]] = {
    "pixels": event_models.Pixels,
    "bytes": event_models.Bytes,
    "tokens": event_models.Tokens,
    "prompted": condition_models.Prompted,
    "captioned": condition_models.Captioned,
    "steered": condition_models.Steered,
    "prior_dice": condition_models.PriorDice,
    "guided_dice": condition_models.GuidedDice,
    "stopper": condition_models.Stopper,
    "rowloop": condition_models.RowLoop,
    "truncated_plane": contract_models.TruncatedPlane,
}

SPECS = {
    "class": ConditionSpec(3, "class"),
    "prior": ConditionSpec(3, "class", prior=(0.5, 0.0, 0.5)),
    "tokens": ConditionSpec.tokens(4, 0, vocab_size=6),
    "tokens_open": ConditionSpec.tokens(3, 2),
    "text": ConditionSpec.text(max_length=5),
    "text_open": ConditionSpec.text(),
    "vector": ConditionSpec.vector((2, 3)),
    "required_tokens": ConditionSpec.tokens(4, 0, vocab_size=6, required=True),
}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


@pytest.mark.parametrize("name", list(MODELS))
def test_every_protocol2_model_passes_the_whole_suite(name: str) -> None:
    report = check_model(MODELS[name])
    for prop, status in report.status().items():
        assert status in (Status.PASSED, Status.NOT_APPLICABLE), report.format()
        if status is Status.NOT_APPLICABLE:  # only where the model declares no likelihood,
            # and truth where the density of the model's data is not known
            reasons = ("likelihood is none", *(("no known density",) if prop == "truth" else ()))
            assert any(r in report[prop].message for r in reasons), report.format()
        assert not any(isinstance(n, Inconclusive) for n in report[prop].notes), report.format()


def test_a_sequence_space_is_summed_over_its_valid_sequences_only() -> None:
    # 5^6 = 15,625 level combinations, 1,093 valid sequences: enumerated and normalised
    report = check_model(event_models.Tokens, properties=["likelihood"])
    assert report["likelihood"].status is Status.PASSED, report.format()
    assert not any("too large" in note for note in report["likelihood"].notes)


def test_a_range_is_the_quadratures_domain() -> None:
    # the samples reach +-1, the widened box would reach +-1.9: outside is an InputError
    report = check_model(contract_models.TruncatedPlane, properties=["likelihood"])
    assert report["likelihood"].status is Status.PASSED, report.format()
    assert report["likelihood"].notes == ()


# -- storage ------------------------------------------------------------------------------------


@pytest.mark.parametrize("storage", ["uint8", "int16", "int32", "int64"])
def test_conformance_accepts_every_storage_that_holds_the_levels(storage: str) -> None:
    import attrs

    model = event_models.Bytes()
    if storage != "uint8":
        model._capabilities = attrs.evolve(
            model.capabilities, event=EventSpace.discrete((1, 4, 4), 256, storage=storage,
                                                          layout="image"))
    assert check_conformance(model) == ()
    assert model.sample(2, seed=0).dtype == getattr(torch, storage)


# -- conditions of every kind -------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(SPECS))
@settings(max_examples=30, deadline=None, database=None, derandomize=True)
@given(data=st.data())
def test_drawn_conditions_are_valid_for_their_spec(kind: str, data: st.DataObject) -> None:
    spec = SPECS[kind]
    n = data.draw(st.integers(0, 6))
    condition = data.draw(gs.conditions(spec, n))
    if condition is None:
        assert not spec.required
        return
    check_condition(condition, n, spec, model="m")  # raises ConditionError if not valid


@pytest.mark.parametrize("kind", list(SPECS))
@settings(max_examples=30, deadline=None, database=None, derandomize=True)
@given(data=st.data())
def test_bad_conditions_are_refused_for_their_spec(kind: str, data: st.DataObject) -> None:
    spec = SPECS[kind]
    bad = data.draw(gs.bad_conditions(spec, 3))
    with pytest.raises(ConditionError):
        check_condition(bad.value, 3, spec, model="m")


@pytest.mark.parametrize("kind", list(SPECS))
def test_example_and_per_sample_conditions_are_valid_and_slice_per_row(kind: str) -> None:
    spec = SPECS[kind]
    examples = example_conditions(spec)
    assert len(examples) >= 2
    for c in examples:
        check_condition(c, 5, spec, model="m")
    rows = per_sample_condition(spec, 7)
    check_condition(rows, 7, spec, model="m")
    part = slice_condition(rows, slice(2, 5), spec)
    check_condition(part, 3, spec, model="m")
    assert slice_condition(examples[0], slice(2, 5), spec) is examples[0]  # one for all
    if spec.required:
        check_condition(default_condition(_caps(spec)), 4, spec, model="m")


def _caps(spec: ConditionSpec) -> Any:
    import attrs

    return attrs.evolve(condition_models.Prompted().capabilities, condition=spec)


def test_no_num_classes_is_asked_of_a_condition_without_classes() -> None:
    for spec in SPECS.values():
        if spec.kind.value != "class":
            with pytest.raises(AttributeError):
                _ = spec.num_classes  # what the suite must never call for these kinds


def test_the_marginal_reference_weighs_classes_by_the_declared_prior() -> None:
    import attrs

    model = condition_models.PriorDice(prior=(0.75, 0.25))
    declared = model.capabilities.condition
    assert declared is not None
    spec = attrs.evolve(declared, required=True)
    model._capabilities = attrs.evolve(model.capabilities, condition=spec)
    labels = _marginal_labels(model, 400)
    assert isinstance(labels, torch.Tensor)
    assert abs(float((labels == 0).float().mean()) - 0.75) < 0.01  # stratified
    x = model.sample(10, seed=0, condition=0)
    per_class = torch.stack([model.log_likelihood(x, condition=c).double() for c in (0, 1)])
    want = torch.logsumexp(per_class + torch.tensor([0.75, 0.25]).log()[:, None], 0)
    torch.testing.assert_close(_marginal_ll(model, x), want)


def test_a_class_of_prior_zero_is_skipped_in_the_marginal() -> None:
    import attrs

    model = condition_models.PriorDice(prior=(1.0, 0.0))
    declared = model.capabilities.condition
    assert declared is not None
    spec = attrs.evolve(declared, required=True)
    model._capabilities = attrs.evolve(model.capabilities, condition=spec)
    assert set(torch.as_tensor(_marginal_labels(model, 50)).tolist()) == {0}
    x = model.sample(10, seed=0, condition=0)
    torch.testing.assert_close(_marginal_ll(model, x),
                               model.log_likelihood(x, condition=0).double())


def test_a_null_condition_is_used_as_none_not_as_a_marginal() -> None:
    model = condition_models.GuidedDice()
    assert _marginal_labels(model, 10) is None
    x = model.sample(8, seed=0)
    model.seen.clear()
    _marginal_ll(model, x)
    assert model.seen == [None]  # one call with the null label, no class loop


# -- data: inside the declared space, and what breaks it ---------------------------------------


@pytest.mark.parametrize("factory", [event_models.Pixels, event_models.Tokens,
                                     event_models.Bytes, contract_models.TruncatedPlane])
def test_valid_rows_are_accepted_and_each_declared_breach_refused(
    factory: Callable[[], GenerativeModel],
) -> None:
    model = factory()
    event = model.capabilities.event
    assert bool(event.contains(gs.valid_rows(event, 3)).all())
    model.log_likelihood(gs.valid_rows(event, 3))
    breaches = gs.declared_bad_data(event)
    expected = {"pixels": 2, "tokens": 3, "bytes": 0, "truncated_plane": 2}[model.name]
    assert len(breaches) == expected
    for bad in breaches:
        assert bad.error is InputError
        with pytest.raises(InputError):
            model.log_likelihood(bad.value)


@pytest.mark.parametrize("factory", [event_models.Pixels, event_models.Tokens])
@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(data=st.data())
def test_drawn_bad_data_is_refused(factory: Callable[[], GenerativeModel],
                                   data: st.DataObject) -> None:
    model = factory()
    bad = data.draw(gs.bad_data(model.capabilities.event))
    with pytest.raises(bad.error):
        model.log_likelihood(bad.value)


def test_bad_input_tries_the_declared_breaches_every_time() -> None:
    seen: list[str] = []

    class Spy(event_models.Tokens):
        def log_likelihood(self, x: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
            if isinstance(x, torch.Tensor) and x.shape == (3, event_models.MAX_LENGTH):
                seen.append(str(x.tolist()))
            return super().log_likelihood(x, *args, **kwargs)

    assert check_bad_input(Spy()) == ()
    for bad in gs.declared_bad_data(Spy().capabilities.event):
        assert str(bad.value.tolist()) in seen, bad


# -- cost bounds and tolerance through check_model -----------------------------------------------


def test_check_model_admits_a_bound_and_rejects_counting_over_it() -> None:
    assert check_model(condition_models.Stopper, properties=["cost"])["cost"].status \
        is Status.PASSED
    result = check_model(condition_models.Greedy, properties=["cost"])["cost"]
    assert result.status is Status.FAILED
    assert "at most 2 evaluations" in result.message


def test_drift_beyond_a_declared_tolerance_names_the_tolerance() -> None:
    report = check_model(contract_models.DriftsAtBatchOne, properties=["batch_invariance"])
    message = report["batch_invariance"].message
    assert report["batch_invariance"].status is Status.FAILED
    assert "beyond the declared batch tolerance (atol=0.001" in message


def test_cost_and_batch_invariance_hold_on_the_protocol2_models_directly() -> None:
    for factory in (event_models.Tokens, condition_models.Captioned, condition_models.Steered):
        assert check_cost(factory()) == ()
        assert check_batch_invariance(factory()) == ()
