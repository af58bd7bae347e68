"""The class marginal of a stochastic likelihood: no upward (Jensen) bias.

``log_likelihood(x, condition=None)`` of a class-conditional model is ``log sum_c p(c) p(x|c)``.
For an exact likelihood it is the log-sum-exp of the per-class values; for a Monte Carlo bound
or estimate it is the two-pass variational form of :func:`genproto.sampling.class_marginal`
(posterior weights ``q`` from one set of draws, the value from another), because the
log-sum-exp of noisy values lies above the truth on average. :class:`NoisyBound` is a model
whose per-class value is the exact ``log p(x|c)`` plus keyed Gaussian noise of mean 0, so the
truth is known.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
import torch

from genproto import (
    Capabilities,
    ConditionSpec,
    EventSpace,
    Likelihood,
    Paradigm,
    SampleCost,
    sampling,
)
from genproto.model import Model
from genproto.streams import KeyedStreams

CLASSES, DIMS, LEVELS = 3, 2, 4
#: The noise's standard deviation, in nats: large next to the gaps between the classes.
SIGMA = 2.0
#: One-sided z threshold: a false alarm (the test failing though the estimator's mean is at
#: or below the truth, or showing a bias that is not there) has probability 0.1% at most.
Z = 3.09


def _table() -> torch.Tensor:
    """log p(x_d = v | c), (C, D, V): classes that overlap, class 0 never puts level 3 first."""
    logits = torch.tensor([
        [[0.0, 0.5, 1.0, 0.0], [1.0, 0.0, 0.0, 0.5]],
        [[0.5, 0.0, 0.0, 1.0], [0.0, 1.0, 0.5, 0.0]],
        [[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 0.0, 1.0]],
    ])
    table = logits.log_softmax(-1)
    table[0, 0, 3] = -math.inf
    return table


class NoisyBound(Model):
    """Per-class value ``log p(x|c) + SIGMA * z``, ``z ~ N(0, 1)`` from the row's stream (an
    unbiased estimate, so a bound in expectation); records every class it is asked about."""

    def __init__(self, prior: tuple[float, ...] | None = None, sigma: float = SIGMA,
                 likelihood: Likelihood = Likelihood.BOUND) -> None:
        super().__init__(
            Capabilities(Paradigm.LATENT_VARIABLE, likelihood, SampleCost.single_pass(),
                         EventSpace.discrete((DIMS,), LEVELS),
                         ConditionSpec(CLASSES, "class", prior=prior)),
            name="noisy-bound",
        )
        self.table = _table()
        self.sigma = sigma
        self.asked: set[int] = set()

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {}

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        assert condition is not None
        return streams.categorical(self.table[condition])  # (B, D)

    def exact(self, x: torch.Tensor, c: int) -> torch.Tensor:
        """log p(x | c), (N,)."""
        return self._log_p(x, torch.full((x.shape[0],), c))

    def _log_p(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.table[labels].gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)  # (N,)

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        assert condition is not None
        self.asked.update(condition.tolist())
        return self._log_p(x, condition) + self.sigma * streams.fork("noise").normal(1)[:, 0]


def _true_marginal(model: NoisyBound, x: torch.Tensor, prior: tuple[float, ...]) -> torch.Tensor:
    per_class = torch.stack([model.exact(x, c) + math.log(p)
                             for c, p in enumerate(prior) if p > 0], dim=1)
    return torch.logsumexp(per_class.double(), dim=1)


def _every_event(repeats: int) -> torch.Tensor:
    """Each of the V^D events of positive marginal probability, ``repeats`` times, (N, D)."""
    grid = torch.cartesian_prod(torch.arange(LEVELS), torch.arange(LEVELS))  # (16, 2)
    return grid.repeat(repeats, 1)


def _mean_and_error(diff: torch.Tensor) -> tuple[float, float]:
    return float(diff.mean()), float(diff.std() / math.sqrt(diff.numel()))


def _old_log_sum_exp(model: NoisyBound, x: torch.Tensor, seed: int) -> torch.Tensor:
    """What the engine returned before: the log-sum-exp of the noisy per-class values, each
    class drawn from the streams forked as ``class{c}``."""

    def per_batch(data: torch.Tensor, cond: Any, streams: KeyedStreams) -> torch.Tensor:
        noisy = torch.stack([
            model.log_likelihood_batch(data, torch.full((data.shape[0],), c),
                                       streams.fork(f"class{c}"))
            for c in range(CLASSES)], dim=1)  # (B, C)
        return torch.logsumexp(noisy, dim=1) - math.log(CLASSES)

    return sampling.evaluate_rows(model, x, None, per_batch, seed=seed)


def test_the_log_sum_exp_of_noisy_values_lies_above_the_truth_and_the_marginal_does_not() -> None:
    model = NoisyBound()
    x = _every_event(250)  # 4000 rows, each its own streams
    truth = _true_marginal(model, x, (1 / 3,) * 3)
    # the bias exists: significantly above (a false alarm here has probability <= 0.1%)
    old, old_se = _mean_and_error(_old_log_sum_exp(model, x, seed=0).double() - truth)
    assert old - Z * old_se > 0, (old, old_se)
    # the fix: the mean is at or below the truth (one-sided z-test, false alarms <= 0.1%)
    new, new_se = _mean_and_error(model.log_likelihood(x, None, seed=0).double() - truth)
    assert new - Z * new_se <= 0, (new, new_se)
    assert new < old - 0.5  # measured: old +0.82 nats (se 0.02), new -0.41 (se 0.03)


def test_the_marginal_is_the_two_pass_variational_form() -> None:
    model = NoisyBound(prior=(0.5, 0.3, 0.2))
    x = _every_event(2)
    logs = torch.tensor([0.5, 0.3, 0.2]).log()

    def manual(data: torch.Tensor, cond: Any, streams: KeyedStreams) -> torch.Tensor:
        def noisy(name: str, shared: bool) -> torch.Tensor:  # (B, C)
            fork = streams.fork(name)
            return torch.stack([
                model.log_likelihood_batch(data, torch.full((data.shape[0],), c),
                                           fork if shared else fork.fork(f"class{c}"))
                for c in range(CLASSES)], dim=1)

        # the posterior: one set of random numbers for every class; the value: one per class
        log_q = (noisy("class-posterior", True) + logs).log_softmax(1)
        terms = log_q.exp() * (noisy("class-value", False) + logs - log_q)
        return terms.nan_to_num(nan=0.0, neginf=-math.inf).sum(1)  # q = 0: 0 * inf is NaN: 0

    want = sampling.evaluate_rows(model, x, None, manual, seed=4)
    torch.testing.assert_close(model.log_likelihood(x, None, seed=4), want)


def test_deterministic_values_give_the_exact_log_sum_exp() -> None:
    """With no noise, q is the exact posterior and the variational form is an equality."""
    x = _every_event(1)
    prior = (0.5, 0.3, 0.2)
    for likelihood in (Likelihood.BOUND, Likelihood.EXACT):
        model = NoisyBound(prior=prior, sigma=0.0, likelihood=likelihood)
        got = model.log_likelihood(x, None, seed=1).double()
        torch.testing.assert_close(got, _true_marginal(model, x, prior), rtol=0, atol=1e-5)


def test_an_exact_likelihood_is_evaluated_once_per_class() -> None:
    calls: list[int] = []

    class Counted(NoisyBound):
        def log_likelihood_batch(self, x: torch.Tensor, condition: Any,
                                 streams: KeyedStreams, **options: Any) -> torch.Tensor:
            calls.append(int(condition[0]))
            return super().log_likelihood_batch(x, condition, streams, **options)

    x = _every_event(1)
    Counted(sigma=0.0, likelihood=Likelihood.EXACT).log_likelihood(x, None, batch_size=16)
    assert calls == [0, 1, 2]
    calls.clear()
    Counted().log_likelihood(x, None, batch_size=16)  # a bound: two passes
    assert calls == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize("batch_size", [1, 7])
def test_the_marginal_depends_only_on_seed_and_row(batch_size: int) -> None:
    model = NoisyBound(prior=(0.6, 0.1, 0.3))
    x = _every_event(2)  # 32 rows
    whole = model.log_likelihood(x, None, seed=3)
    assert torch.equal(model.log_likelihood(x, None, seed=3), whole)
    assert torch.equal(model.log_likelihood(x, None, seed=3, batch_size=batch_size), whole)
    assert not torch.equal(model.log_likelihood(x, None, seed=4), whole)


def test_a_class_of_prior_zero_is_never_evaluated() -> None:
    prior = (0.5, 0.0, 0.5)
    model = NoisyBound(prior=prior)
    x = _every_event(1)
    out = model.log_likelihood(x, None, seed=0)
    assert model.asked == {0, 2}
    # row x = (3, .) is impossible in class 0: class 2 alone carries it, finite
    assert bool(torch.isfinite(out).all())
    only_zero = NoisyBound(prior=(1.0, 0.0, 0.0))
    out = only_zero.log_likelihood(x, None, seed=0)
    assert only_zero.asked == {0}
    impossible = x[:, 0] == 3  # outside class 0's support: -inf, never NaN
    assert bool(out[impossible].isneginf().all())
    assert bool(torch.isfinite(out[~impossible]).all())


def test_a_class_impossible_for_a_row_adds_nothing() -> None:
    """q_c = 0 where f'_c = -inf: the term is 0, never 0 * -inf = NaN."""
    model = NoisyBound(sigma=0.0)
    x = torch.tensor([[3, 0], [3, 1]])  # class 0 gives these probability 0
    got = model.log_likelihood(x, None).double()
    torch.testing.assert_close(got, _true_marginal(model, x, (1 / 3,) * 3), rtol=0, atol=1e-5)
