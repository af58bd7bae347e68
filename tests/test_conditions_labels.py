"""Class labels (protocol 2.2) where a condition is accepted: ``check_condition``, provenance,
the command line's ``--condition`` / ``--condition-file``, the contract suite's strategies
and its conditioning property."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_protocol_labels import Coin

from genproto import ConditionSpec
from genproto.cli.args import parse_condition, read_condition_file
from genproto.conditions import check_condition, describe_condition, label_index
from genproto.errors import ConditionError, ContractViolation, GenprotoError
from genproto.testing import strategies as gs
from genproto.testing.properties import check_conditioning

LISTS = ("female", "male", "surname")
NAMED = ConditionSpec(3, "Census list", labels=LISTS)
PLAIN = ConditionSpec(3, "Census list")


# -- check_condition ---------------------------------------------------------------------------


def test_a_label_is_its_class_index() -> None:
    assert check_condition("male", 4, NAMED, model="m").tolist() == [1] * 4  # type: ignore[union-attr]
    assert label_index("surname", NAMED, model="m") == 2


@pytest.mark.parametrize("many", [["surname", "female", "male"], ("surname", "female", "male")])
def test_n_labels_are_their_class_indices(many: Any) -> None:
    values = check_condition(many, 3, NAMED, model="m")
    assert isinstance(values, torch.Tensor)
    assert values.dtype == torch.int64
    assert values.tolist() == [2, 0, 1]


def test_indices_still_work_beside_labels() -> None:
    for condition in (1, [1, 1], torch.tensor([1, 1])):
        assert check_condition(condition, 2, NAMED, model="m").tolist() == [1, 1]  # type: ignore[union-attr]
    assert check_condition(None, 2, NAMED, model="m") is None  # None: the marginal, as before


@pytest.mark.parametrize(
    ("label", "close"),
    [("femal", "'female'"), ("Male", "'male'"), ("surnames", "'surname'"), ("zzz", None)],
)
def test_an_unknown_label_names_the_value_the_labels_and_a_close_match(
    label: str, close: str | None,
) -> None:
    with pytest.raises(ConditionError) as info:
        check_condition(label, 2, NAMED, model="names-model")
    message = str(info.value)
    assert f"{label!r} is not a class of model 'names-model'" in message
    assert "'female' (0), 'male' (1), 'surname' (2)" in message
    assert (f"Did you mean {close}?" in message) if close else ("Did you mean" not in message)
    assert info.value.value == label


def test_an_unknown_label_in_a_list_names_its_item() -> None:
    with pytest.raises(ConditionError, match=r"condition label \(item 1\) 'mael'.*'male'"):
        check_condition(["female", "mael"], 2, NAMED, model="m")


@pytest.mark.parametrize(
    ("condition", "phrase"),
    [(["female", 1], "item 1 of a list of class labels is not a str"),
     ([0, "male"], "item 0 of a list of class labels is not a str"),
     (["female"], "condition shape"),
     (["female", "male", "male"], "condition shape")],
)
def test_mixed_or_miscounted_labels_are_refused(condition: Any, phrase: str) -> None:
    with pytest.raises(ConditionError, match=phrase):
        check_condition(condition, 2, NAMED, model="m")


def test_a_string_for_a_class_spec_without_labels_is_the_error_it_was() -> None:
    with pytest.raises(ConditionError, match="is a string, but the model takes a class"):
        check_condition("female", 2, PLAIN, model="m")
    with pytest.raises(ConditionError, match="its classes have no labels"):
        label_index("female", PLAIN, model="m")
    with pytest.raises(ConditionError):
        check_condition(["female", "male"], 2, PLAIN, model="m")


def test_provenance_records_the_labels_as_given() -> None:
    one = check_condition("surname", 5, NAMED, model="m")
    assert describe_condition("surname", one, NAMED) == "label 'surname' (class 2)"
    few = ["male", "female"]
    assert describe_condition(few, check_condition(few, 2, NAMED, model="m"), NAMED) == \
        "per-sample labels ['male', 'female']"
    many = ["male"] * 40
    text = describe_condition(many, check_condition(many, 40, NAMED, model="m"), NAMED)
    by_index = describe_condition([1] * 40, check_condition([1] * 40, 40, NAMED, model="m"),
                                  NAMED)
    assert text.startswith("per-sample labels (40,) by name, sha256 ")
    assert text.split()[-1] == by_index.split()[-1]  # the same classes, the same digest
    assert describe_condition(1, check_condition(1, 3, NAMED, model="m"), NAMED) == "1"


def test_sampling_with_a_label_is_sampling_its_class_and_provenance_says_so() -> None:
    model = Coin(ConditionSpec(2, "bias", labels=("fair", "loaded")))
    run = model.sample_run(7, condition="loaded", seed=3)
    assert torch.equal(run.samples, model.sample(7, condition=1, seed=3))
    assert run.provenance.condition == "label 'loaded' (class 1)"
    x = run.samples
    assert torch.equal(model.log_likelihood(x, ["fair"] * 7), model.log_likelihood(x, 0))


# -- the command line ------------------------------------------------------------------------


def test_cli_condition_takes_a_label_or_an_index() -> None:
    arg = parse_condition("female", NAMED, model="m")
    assert (arg.value, arg.prompt(0)) == ("female", "female")
    assert parse_condition("2", NAMED, model="m").value == 2
    with pytest.raises(ConditionError, match="Did you mean 'female'"):
        parse_condition("femail", NAMED, model="m")
    with pytest.raises(ConditionError, match="is not a class label.*whole number"):
        parse_condition("female", PLAIN, model="m")


def test_cli_condition_file_mixes_labels_and_indices_per_line(tmp_path: Path) -> None:
    path = tmp_path / "lists.txt"
    path.write_text("female\n2\nmale\n", encoding="utf-8")
    arg = read_condition_file(str(path), NAMED, 3, model="m")
    assert isinstance(arg.value, torch.Tensor)
    assert arg.value.tolist() == [0, 2, 1]
    assert [arg.prompt(i) for i in range(3)] == ["female", 2, "male"]
    path.write_text("female\nmael\n", encoding="utf-8")
    with pytest.raises(ConditionError, match="line 2 of --condition-file .* 'mael'"):
        read_condition_file(str(path), NAMED, 2, model="m")


# -- the contract suite's strategies and conditioning property --------------------------------


@given(data=st.data())
def test_drawn_conditions_of_a_labelled_spec_are_valid_and_include_labels(
    data: st.DataObject,
) -> None:
    n = data.draw(st.integers(0, 5))
    condition = data.draw(gs.conditions(NAMED, n))
    values = check_condition(condition, n, NAMED, model="m")
    assert condition is None or (isinstance(values, torch.Tensor) and values.shape == (n,))


def test_drawn_conditions_reach_labels_and_label_lists() -> None:
    seen: set[str] = set()

    @given(condition=gs.conditions(NAMED, 3))
    def collect(condition: Any) -> None:
        if isinstance(condition, str):
            seen.add("one")
        elif isinstance(condition, list) and condition and isinstance(condition[0], str):
            seen.add("many")

    collect()
    assert seen == {"one", "many"}


@pytest.mark.parametrize("spec", [NAMED, ConditionSpec(1, labels=("only",))], ids=str)
@given(data=st.data())
def test_drawn_bad_conditions_of_a_labelled_spec_raise(spec: ConditionSpec,
                                                        data: st.DataObject) -> None:
    bad = data.draw(gs.bad_conditions(spec, 4))
    with pytest.raises(GenprotoError) as caught:
        check_condition(bad.value, 4, spec, model="m")
    assert isinstance(caught.value, bad.error), (bad, caught.value)


def test_bad_conditions_include_unknown_labels() -> None:
    labels: set[str] = set()

    @given(bad=gs.bad_conditions(NAMED, 2))
    def collect(bad: gs.Bad) -> None:
        labels.add(bad.label)

    collect()
    assert {"a near miss of a class label", "an unknown class label",
            "labels mixed with class indices"} <= labels
    assert "a string for a class model" not in labels


class Swapped(Coin):
    """A model that reads labels itself, wrongly: 'fair' is class 1 and 'loaded' class 0."""

    SWAP: ClassVar[dict[str, str]] = {"fair": "loaded", "loaded": "fair"}

    def sample(self, n: int, *, condition: Any = None, **options: Any) -> torch.Tensor:
        if isinstance(condition, str):
            condition = self.SWAP.get(condition, condition)
        elif isinstance(condition, list):
            condition = [self.SWAP.get(c, c) if isinstance(c, str) else c for c in condition]
        return super().sample(n, condition=condition, **options)


def test_conditioning_checks_that_labels_name_their_classes() -> None:
    spec = ConditionSpec(2, "bias", labels=("fair", "loaded"))
    check_conditioning(Coin(spec))  # passes: the engine maps the labels
    with pytest.raises(ContractViolation, match="the labels do not name the classes"):
        check_conditioning(Swapped(spec))
