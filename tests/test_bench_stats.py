"""The statistics the benchmarks judge their targets by (benchmarks/bench_sampler.py).

``median_interval`` decides whether a row of benchmarks/bench_models.py meets its target, so
it must be the textbook interval (Conover's table), cover the median at least 95% of the time
whatever the values' shape, and say "everything" when there are too few rounds to say more.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from bench_sampler import median_interval, paired_ratio


@pytest.mark.parametrize(("n", "ranks"), [(100, (40, 61)), (41, (14, 28)), (20, (6, 15)),
                                          (6, (1, 6))])
def test_the_interval_is_the_order_statistics_of_the_binomial_table(
    n: int, ranks: tuple[int, int]
) -> None:
    values = [float(v) for v in range(1, n + 1)]  # x_(k) = k
    random.Random(0).shuffle(values)
    assert median_interval(values) == ranks


def test_too_few_values_give_their_whole_range() -> None:
    assert median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0)


@pytest.mark.parametrize("shape", ["normal", "skewed"])
def test_the_interval_covers_the_true_median_at_least_95_percent_of_the_time(shape: str) -> None:
    # Exact by construction for continuous values: coverage >= 95% (41 values: 97.6%). With
    # 2,000 fixed-seed trials the empirical rate's sd is ~0.4%, so the 93% floor is > 10 sd
    # below: a failure means the interval is wrong, not bad luck.
    rng = random.Random(1)
    draw = {"normal": lambda: rng.gauss(1.0, 0.1),
            "skewed": lambda: 0.9 + rng.expovariate(10.0)}[shape]
    true_median = {"normal": 1.0, "skewed": 0.9 + 0.1 * 0.6931471805599453}[shape]
    trials = 2000
    covered = 0
    for _ in range(trials):
        low, high = median_interval([draw() for _ in range(41)])
        covered += low <= true_median <= high
    assert covered / trials >= 0.93


def test_paired_ratio_reports_the_interval_around_its_median() -> None:
    num = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    den = [1.0] * 6
    ratio = paired_ratio(num, den)
    assert ratio["ci_low"] <= ratio["median"] <= ratio["ci_high"]
    assert (ratio["low"], ratio["high"]) == (1.0, 6.0)
