"""Every deliberately broken model is caught by exactly the property it breaks.

Each model in ``contract_models.BROKEN`` changes one method of a correct reference model. The
whole suite runs on it: the property it breaks fails with a message that names what is wrong and
a reproduction; properties that need the broken one report "prerequisite failed"; every other
property passes (so the suite blames the right property and nothing else). Each class of mistake
of issue 17 has at least two different models (``contract_models.MISTAKES``).
"""

from __future__ import annotations

import pytest
from contract_models import BROKEN, MISTAKES

from genproto.errors import ContractViolation
from genproto.testing import Status, check_model
from genproto.testing.suite import property_specs

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


def _downstream(failed: str) -> set[str]:
    """Properties that need ``failed``, directly or through another."""
    out: set[str] = set()
    grew = True
    while grew:
        grew = False
        for spec in property_specs():
            if spec.name not in out and ({failed} | out) & set(spec.requires):
                out.add(spec.name)
                grew = True
    return out


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_model_is_caught_by_its_property_only(name: str) -> None:
    factory, prop, phrase, kwargs = BROKEN[name]
    report = check_model(factory, **kwargs)
    status = report.status()
    assert status[prop] is Status.FAILED, report.format()
    result = report[prop]
    assert phrase in result.message, result.message
    assert result.reproduction, f"{name}: no reproduction"
    skipped = _downstream(prop)
    for other, verdict in status.items():
        if other == prop:
            continue
        if other in skipped:
            assert verdict is Status.PREREQUISITE_FAILED, report.format()
            assert report[other].message.startswith("prerequisite failed: ")
        else:  # passed, or does not apply to what the model declares
            assert verdict in (Status.PASSED, Status.NOT_APPLICABLE), report.format()
    with pytest.raises(ContractViolation) as caught:
        report.raise_for_failures()
    assert f"'{prop}' violated" in str(caught.value)  # the message names the property


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_every_class_of_mistake_has_two_different_broken_models(mistake: str) -> None:
    prop, names = MISTAKES[mistake]
    assert len(names) >= 2
    assert len({BROKEN[name][0] for name in names}) == len(names)  # different models
    assert {BROKEN[name][1] for name in names} == {prop}  # each caught by the one property


def test_a_nan_likelihood_says_nan_first() -> None:
    factory, prop, _, kwargs = BROKEN["likelihood_nan"]
    message = check_model(factory, properties=[prop], **kwargs)[prop].message
    assert message.startswith("log_likelihood_batch returned NaN"), message


def test_first_call_side_effects_name_the_first_call() -> None:
    for name in ("lazy_calibration", "seeds_globals_once"):
        factory, prop, _, kwargs = BROKEN[name]
        result = check_model(factory, properties=[prop], **kwargs)[prop]
        assert "the first call on a freshly built model" in result.message
        assert result.reproduction is not None
        assert result.reproduction.startswith("model = factory(); ")


def test_a_model_given_without_factory_gets_a_note_not_a_false_pass() -> None:
    # LazyCalibration built by the caller: its first call is shape's, so side_effects cannot see
    # it; the report says so instead of claiming the first calls were checked
    factory, prop, _, _ = BROKEN["lazy_calibration"]
    result = check_model(factory(), properties=[prop])[prop]
    assert result.status is Status.PASSED
    assert any(note.startswith("first calls: a model was given") for note in result.notes)


def test_samples_and_likelihood_disagreeing_say_how() -> None:
    factory, prop, _, kwargs = BROKEN["tempered_sampler"]
    message = check_model(factory, properties=[prop], **kwargs)[prop].message
    assert "the samples crowd where the likelihood is high" in message
    assert "either side may be off" in message
    factory, prop, _, kwargs = BROKEN["wide_sampler"]
    message = check_model(factory, properties=[prop], **kwargs)[prop].message
    assert "the samples spread where the likelihood is low" in message


def test_a_failure_line_carries_the_counterexample_and_the_reproduction() -> None:
    factory, prop, _, kwargs = BROKEN["wrong_shape_at_one"]
    line = check_model(factory, **kwargs)[prop].line()
    assert line.startswith("shape              FAIL  (")
    # the sampler itself refuses a wrongly shaped batch, so the first call shows it
    assert "raised PluginError" in line
    assert "reproduce: model.sample(1, seed=0" in line


def test_hypothesis_shrinks_to_the_smallest_counterexample() -> None:
    # BatchDependent differs for any n >= 2 and any batch size below n: shrinking reaches n=2
    factory, prop, _, kwargs = BROKEN["batch_dependent"]
    result = check_model(factory, properties=[prop], **kwargs)[prop]
    assert result.example["n"] == 2, result.example
