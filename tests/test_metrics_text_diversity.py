"""genproto.metrics.text_diversity: mode collapse and drift on text, against known answers."""

from __future__ import annotations

import math

import pytest

from genproto.data.names import load_names, names_log_prob
from genproto.errors import ArgumentTypeError, InvalidArgumentError
from genproto.metrics.text_diversity import (
    DRIFT_MIN_LETTERS,
    LONGEST_NAME,
    diversity,
    drift,
    truth_draws,
)


def test_the_longest_census_name_is_the_declared_one() -> None:
    assert max(len(n) for n in load_names("all").names) == LONGEST_NAME


def test_one_repeated_name_is_one_distinct_name_and_its_own_mass() -> None:
    d = diversity(["mary"] * 100, "female")
    assert (d.n, d.distinct, d.duplicate_rate) == (100, 1, 0.99)
    assert d.mass == pytest.approx(math.exp(float(names_log_prob(["mary"], "female")[0])))


def test_mass_counts_each_name_once_and_ignores_strings_off_the_list() -> None:
    texts = ["mary", "anna", "mary", "zzzq", "smith"]  # smith is a surname, not a female name
    expected = math.fsum(math.exp(v) for v in names_log_prob(["mary", "anna"], "female").tolist())
    d = diversity(texts, "female")
    assert d.distinct == 4
    assert d.mass == pytest.approx(expected)


def test_every_name_of_a_list_covers_all_its_mass() -> None:
    names = load_names("all", "male").names
    assert diversity(names, "male").mass == pytest.approx(1.0)


def test_truth_draws_follow_the_census_frequencies() -> None:
    """'james' is drawn at its probability within 4 standard errors (false alarm ~6e-5)."""
    n = 20_000
    draws = truth_draws("male", n, seed=3)
    p = math.exp(float(names_log_prob(["james"], "male")[0]))
    share = draws.count("james") / n
    assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert draws == truth_draws("male", n, seed=3)
    assert draws != truth_draws("male", n, seed=4)


def test_truth_draws_keep_the_trigram_plausibility_of_the_names() -> None:
    d = drift(truth_draws("female", 5000, seed=0), "female")
    assert d.start > 0.99
    assert d.tail > 0.99
    assert abs(d.gap) < 0.01
    assert d.overlong == 0.0


def test_a_tail_of_unseen_trigrams_is_drift() -> None:
    # The starts are real names' starts; the tails are letters no name ends with.
    texts = ["mariaqxzqxz", "annaqxzqxzj"]
    d = drift(texts, "female")
    assert d.long == 2
    assert d.start > 0.6
    assert d.tail < 0.2
    assert d.gap > 0.4


def test_short_samples_are_not_compared_and_long_ones_count_as_overlong() -> None:
    short = "a" * (DRIFT_MIN_LETTERS - 1)
    long = "abcdefghijklmnop"  # 16 letters, past the longest name
    d = drift([short, long], "surname")
    assert d.long == 1
    assert d.overlong == 0.5


def test_no_long_samples_gives_nan_halves() -> None:
    d = drift(["ann", "bo"], "female")
    assert d.long == 0
    assert math.isnan(d.start)
    assert math.isnan(d.gap)


@pytest.mark.parametrize("bad", ["mary", None, [1, 2]])
def test_bad_texts_are_typed_errors(bad: object) -> None:
    with pytest.raises(ArgumentTypeError, match="texts"):
        diversity(bad, "female")  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="texts"):
        drift(bad, "female")  # type: ignore[arg-type]


def test_a_list_that_does_not_exist_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match="females"):
        diversity(["mary"], "females")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="n"):
        truth_draws("female", 0)
