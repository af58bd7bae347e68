"""A model may declare how far its samples move between batch sizes; the suite holds it to it.

A UNet's CPU convolutions differ by ~1e-6 between batch sizes and a few denoising steps
amplify that past the strict default, so protocol 2 lets a model declare a
:class:`~genproto.protocol.BatchTolerance`: the suite accepts drift inside it and still
rejects drift beyond it.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import torch

from genproto.errors import ContractViolation
from genproto.protocol import BatchTolerance, Capabilities
from genproto.streams import KeyedStreams
from genproto.testing.properties import check_batch_invariance
from genproto.testing.reference import Categorical, GaussianMixture


class Drifting(GaussianMixture):
    """Adds ``size * 1e-4`` to every sample of a batch of ``size``: drift that grows with batching
    (like accumulated float error), at most ~2.4e-3 on the suite's batches (n <= 24); beyond
    the strict default (1e-5 + 1e-4 |x|, |x| <= ~2.5) between any two batch sizes 3 apart,
    whatever the suite's few examples happen to draw."""

    def __init__(self, tolerance: BatchTolerance | None = None) -> None:
        super().__init__()
        if tolerance is not None:
            self._capabilities = attrs.evolve(self.capabilities, batch_tolerance=tolerance)

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        x = super().sample_batch(streams, condition, **options)
        return x + 1e-4 * len(streams)


class Flipping(Categorical):
    """Re-draws the first row of every batch of more than one row (a flip)."""

    def __init__(self, tolerance: BatchTolerance | None = None) -> None:
        super().__init__()
        if tolerance is not None:
            self._capabilities = attrs.evolve(self.capabilities, batch_tolerance=tolerance)

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        x = super().sample_batch(streams, condition, **options)
        if len(streams) > 1:
            levels = self.capabilities.event.levels or 2
            x[0] = (x[0] + 1) % levels
        return x


def test_the_strict_default_rejects_small_drift() -> None:
    with pytest.raises(ContractViolation, match="batch size"):
        check_batch_invariance(Drifting())


def test_a_declared_tolerance_admits_drift_inside_it() -> None:
    assert check_batch_invariance(Drifting(BatchTolerance(atol=1e-2))) == ()


def test_a_declared_tolerance_still_rejects_drift_beyond_it() -> None:
    with pytest.raises(ContractViolation, match="batch size"):
        check_batch_invariance(Drifting(BatchTolerance(atol=1e-9, rtol=1e-9)))


def test_discrete_flips_need_a_declared_flip_fraction() -> None:
    with pytest.raises(ContractViolation):
        check_batch_invariance(Flipping())
    assert check_batch_invariance(Flipping(BatchTolerance(flip_fraction=1.0))) == ()


@pytest.mark.parametrize("bad", [{"atol": -1.0}, {"rtol": float("nan")},
                                 {"flip_fraction": 1.5}, {"atol": True}])
def test_bad_tolerances_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the attrs validator's message varies
        BatchTolerance(**bad)


def test_a_declared_tolerance_round_trips_and_the_default_is_not_written() -> None:
    caps = GaussianMixture().capabilities
    assert "batch_tolerance" not in caps.to_dict()  # checkpoints read as before
    declared = attrs.evolve(caps, batch_tolerance=BatchTolerance(atol=1e-3, flip_fraction=0.01))
    assert Capabilities.from_dict(declared.to_dict()) == declared


# -- the suite and costs declared as upper bounds (tests/condition_models.py) -------------------


def test_the_suite_admits_a_model_counting_under_its_declared_bound() -> None:
    from condition_models import Stopper

    from genproto.testing.properties import check_cost

    assert check_cost(Stopper()) == ()


def test_the_suite_rejects_a_model_counting_over_its_declared_bound() -> None:
    from condition_models import Greedy

    from genproto.testing.properties import check_cost

    with pytest.raises(ContractViolation, match="at most 2 evaluations"):
        check_cost(Greedy())
