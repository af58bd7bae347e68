"""Tests of the masked discrete diffusion of the Census names (``dataset="names"``): samples,
keyed draws, declared cost, the bound (a hand computation, stratification, mass <= 1),
typed errors, training, and quality floors of the shipped weights."""

from __future__ import annotations

import itertools

import pytest
import torch

import genproto
from genproto.data.names import NAMES_LISTS
from genproto.data.names_text import NAMES_ALPHABET, NAMES_STOP, names_event
from genproto.errors import GenprotoError, InputError, OptionError
from genproto.metrics.names_classifier import classify_names
from genproto.metrics.text import text_metrics
from genproto.sampling import run
from genproto.testing.training import check_training
from genproto_diffusion.names import (
    BOUND_SAMPLES,
    DEFAULT_STEPS,
    LENGTH,
    MASK,
    Block,
    NamesDiffusion,
    _mask_draw,
    canonical,
)


@pytest.fixture(scope="module")
def model() -> NamesDiffusion:
    m = genproto.registry.get("diffusion", dataset="names")
    assert isinstance(m, NamesDiffusion)
    return m


@pytest.fixture(scope="module")
def samples(model: NamesDiffusion) -> dict[str, list[str]]:
    """300 names per list at seed 0 and the default K (shared by the quality tests)."""
    return {which: model.to_text(model.sample(300, condition=c, seed=0))
            for c, which in enumerate(NAMES_LISTS)}


def test_samples_are_canonical_rows_that_decode_to_letters(model: NamesDiffusion) -> None:
    x = model.sample(200, condition=None, seed=3)
    assert x.shape == (200, LENGTH)
    assert x.dtype == names_event().dtype
    assert int(x.max()) <= NAMES_STOP  # no MASK (27) is left
    assert not bool(names_event().misplaced(x.long()).any())  # stops after the first stop
    texts = model.to_text(x)
    assert all(set(t) <= set(NAMES_ALPHABET) for t in texts)
    assert sum(len(t) > 0 for t in texts) >= 190


def test_canonical_puts_stops_after_the_first_stop() -> None:
    row = torch.tensor([[1, 2, NAMES_STOP, 4, NAMES_STOP, 5] + [NAMES_STOP] * 10])
    want = torch.tensor([[1, 2] + [NAMES_STOP] * 14])
    assert torch.equal(canonical(row), want)


def test_the_class_changes_what_is_drawn(samples: dict[str, list[str]]) -> None:
    # the reference classifier puts each list's samples on that list far above chance (1/3)
    for c, which in enumerate(NAMES_LISTS):
        predicted = classify_names([t for t in samples[which] if t])
        assert float((predicted == c).double().mean()) > 0.45, which  # measured 0.59-0.68


def test_sample_i_depends_only_on_seed_and_i(model: NamesDiffusion) -> None:
    labels = torch.arange(24) % 3
    whole = model.sample(24, condition=labels, seed=5, batch_size=24, steps=8)
    for batch_size in (1, 7, 16):
        part = model.sample(24, condition=labels, seed=5, batch_size=batch_size, steps=8)
        assert torch.equal(whole, part), batch_size
    assert not torch.equal(whole, model.sample(24, condition=labels, seed=6, steps=8))


@pytest.mark.parametrize("steps", [1, 4, 16])
def test_declared_cost_equals_counted_evaluations(model: NamesDiffusion, steps: int) -> None:
    assert model.cost(steps=steps).evaluations == steps
    assert run(model, 5, condition=1, seed=0, steps=steps).evaluations_per_sample == steps
    assert model.capabilities.cost.evaluations == DEFAULT_STEPS


def test_round_trip_and_a_finite_bound(model: NamesDiffusion) -> None:
    x = model.sample(50, condition=2, seed=1)
    texts = model.to_text(x)
    assert torch.equal(model.from_text(texts), x)
    ll = model.log_likelihood(model.from_text(texts), 2)
    assert bool(torch.isfinite(ll).all())
    assert float(ll.max()) < 0


def _context_free(seed: int = 0) -> NamesDiffusion:
    """An untrained denoiser whose blocks add nothing: each masked position's prediction
    depends on its position and the class only, a factorised model with exact log p."""
    m = NamesDiffusion(hidden=16, blocks=2, init_seed=seed)
    with torch.no_grad():
        for block in m.net.blocks:
            assert isinstance(block, Block)
            for layer in (block.proj, block.out):
                layer.weight.zero_()
                layer.bias.zero_()
        m.net.head.weight.mul_(20.0)  # sharpen, so positions differ by whole nats
    m.forget_weights_hash()
    return m


def _by_hand(m: NamesDiffusion, x: torch.Tensor, c: int) -> float:
    """log p(x | c) of the factorised model: sum_i log q_i(x^i), q_i at a masked position."""
    net = m.net
    with torch.no_grad():
        h = net.token.weight[MASK] + net.position + net.label.weight[c]  # (16, W)
        logq = torch.log_softmax(net.head(net.norm(h)), dim=-1)  # (16, 27)
    return float(logq[torch.arange(LENGTH), x[0]].sum())


def test_bound_of_a_position_free_factorised_denoiser_is_exact_on_every_draw() -> None:
    # Without positions every masked token has the same q; the empty name is 16 stops, so
    # each draw of (*) is (16/k) * k * -log q(stop): the bound is log p for any seed and draws.
    m = _context_free()
    with torch.no_grad():
        m.net.position.zero_()
    m.forget_weights_hash()
    x = m.from_text([""]).long()
    by_hand = _by_hand(m, x, 2)
    for seed, draws in ((0, 1), (1, 5), (2, BOUND_SAMPLES)):
        got = float(m.log_likelihood(x, 2, seed=seed, bound_samples=draws))
        assert got == pytest.approx(by_hand, rel=1e-5, abs=1e-4)


def test_bound_of_a_factorised_denoiser_is_unbiased_for_its_exact_log_p() -> None:
    # With positions, a draw is (16/k) sum over a random k-subset: unbiased for
    # sum_i log q_i(x^i). 256 rows of the name (each row its own keyed draws) x 16 stratified
    # draws; 4 standard errors (two-sided false alarm ~ 6e-5).
    m = _context_free()
    x = m.from_text(["ann"]).long()
    by_hand = _by_hand(m, x, 1)
    draws = m.log_likelihood(x.expand(256, -1), 1, seed=0).double()  # (256,)
    error = float(draws.std()) / 16
    assert abs(float(draws.mean()) - by_hand) < 4 * error
    assert float(draws.std()) > 0  # the subsets are random: the test can tell bias from noise


def test_bound_draws_visit_every_masked_count_once_at_sixteen() -> None:
    u = torch.rand(1, generator=torch.Generator().manual_seed(0)).double()
    v = (torch.arange(16, dtype=torch.float64) + u) / 16  # the likelihood's stratified draws
    scores = torch.rand(16, LENGTH, generator=torch.Generator().manual_seed(1))
    counts = _mask_draw(v, scores).sum(1)
    assert counts.tolist() == list(range(1, 17))


def test_bound_mass_of_every_name_of_two_letters_or_fewer_is_below_one(
    model: NamesDiffusion,
) -> None:
    texts = ["", *NAMES_ALPHABET, *("".join(p) for p in itertools.product(NAMES_ALPHABET,
                                                                           repeat=2))]
    x = model.from_text(texts)  # 703 rows
    for c in range(3):
        mass = float(torch.logsumexp(model.log_likelihood(x, c, seed=0).double(), 0).exp())
        assert 0 < mass <= 1.0


def test_bound_spread_shrinks_with_more_draws(
    model: NamesDiffusion,
) -> None:
    # Each row has its own keyed draws, so 64 copies of a name are 64 independent estimates.
    # Measured per-name standard deviation at the default 16 draws: 2.0-2.5 nats on the most
    # frequent test names (docs/plugins/diffusion.md); 4x the draws should about halve it.
    x = model.from_text(["mary", "james", "smith"]).repeat_interleave(64, dim=0)  # (192, 16)
    few = model.log_likelihood(x, 0, seed=0).double().reshape(3, 64)
    many = model.log_likelihood(x, 0, seed=0, bound_samples=64).double().reshape(3, 64)
    assert float(few.std(1).mean()) < 4.0
    assert float(many.std(1).mean()) < 0.75 * float(few.std(1).mean())
    # more draws estimate the same bound: the means agree within 4 standard errors
    gap = (many.mean(1) - few.mean(1)).abs()
    assert bool((gap < 4 * few.std(1) / 8).all())


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda m: m.from_text(["ann1"]), InputError),
        (lambda m: m.log_likelihood(m.from_text(["ann"]), 3), GenprotoError),
        (lambda m: m.sample(2, condition=3), GenprotoError),
        (lambda m: m.sample(2, steps=0), OptionError),
        (lambda m: m.sample(2, guidance=2.0), OptionError),
        (lambda m: m.log_likelihood(m.from_text(["ann"]), 0, bound_samples=0), OptionError),
        (lambda m: m.log_likelihood(torch.full((1, LENGTH), MASK), 0), InputError),
    ],
)
def test_bad_input_is_a_typed_error(model: NamesDiffusion, call: object, error: type) -> None:
    with pytest.raises(error):
        call(model)  # type: ignore[operator]


def test_a_misspelled_dataset_is_a_typed_error() -> None:
    with pytest.raises(OptionError):
        genproto.registry.get("diffusion", dataset="name", pretrained=False)


def test_training_contract() -> None:
    """train_step before setup is a typed error; steps are keyed and leave the global RNG alone."""
    check_training(lambda: NamesDiffusion(hidden=16, blocks=1))


def test_quality_floors_of_the_shipped_weights(samples: dict[str, list[str]]) -> None:
    # Measured at seed 0, 1,000 samples a list, K = 32 (docs/plugins/diffusion.md): validity
    # 1.000 each, real-name share 0.183 / 0.298 / 0.115, list accuracy 0.624 / 0.675 / 0.586.
    # Floors: about 0.6x the real shares and 0.12-0.2 below the accuracies, as 300 samples
    # carry a standard error of up to 0.03; only a real regression trips them.
    floors = {"female": (0.95, 0.11, 0.45), "male": (0.95, 0.18, 0.50),
              "surname": (0.95, 0.06, 0.42)}
    for which, (validity, real, accuracy) in floors.items():
        m = text_metrics(samples[which], which)  # type: ignore[arg-type]
        assert m.validity >= validity, (which, m)
        assert m.real >= real, (which, m)
        assert m.accuracy >= accuracy, (which, m)

