"""The Model base: validated likelihoods, the class marginal, save and load."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from sampler_models import Dice, Walker

import genproto
from genproto.errors import (
    CheckpointError,
    ConditionError,
    InputError,
    InputTypeError,
    LikelihoodUnavailable,
    OptionError,
)
from genproto.registry import Registry


@pytest.fixture
def registry() -> Registry:
    reg = Registry(entry_points=False)
    reg.register("dice", Dice, capabilities=Dice().capabilities)
    reg.register("walker", Walker, capabilities=Walker().capabilities)
    return reg


def all_events() -> torch.Tensor:
    grid = torch.cartesian_prod(*[torch.arange(5)] * 3)  # every (3,) event of 5 levels
    return grid.to(torch.int64)


def test_exact_likelihood_sums_to_one_per_class() -> None:
    x = all_events()
    for c in (0, 1):
        total = torch.logsumexp(Dice().log_likelihood(x, condition=c), 0)
        assert abs(float(total)) < 1e-5


def test_marginal_is_the_uniform_mixture_of_classes() -> None:
    model, x = Dice(), all_events()
    per_class = torch.stack([model.log_likelihood(x, condition=c) for c in (0, 1)], 1)
    expected = torch.logsumexp(per_class, 1) - math.log(2)
    torch.testing.assert_close(model.log_likelihood(x), expected)
    assert abs(float(torch.logsumexp(model.log_likelihood(x), 0))) < 1e-5


def test_likelihood_does_not_depend_on_batch_size() -> None:
    model, x = Dice(), all_events()
    torch.testing.assert_close(model.log_likelihood(x, batch_size=7),
                               model.log_likelihood(x, batch_size=1000))


def test_likelihood_none_raises_naming_model_and_paradigm() -> None:
    with pytest.raises(LikelihoodUnavailable, match=r"'walker' \(diffusion\).*find\(likelihood"):
        Walker().log_likelihood(torch.zeros(2, 4))


@pytest.mark.parametrize(
    ("x", "error", "phrase"),
    [([[0, 1, 2]], InputTypeError, "torch.Tensor"),
     (torch.zeros(2, 4, dtype=torch.int64), InputError, "(N, 3)"),
     (torch.zeros(3, dtype=torch.int64), InputError, "x[None]"),
     (torch.zeros(2, 3), InputTypeError, "x.long()"),
     (torch.full((2, 3), 5), InputError, "levels 0..4"),
     (torch.full((2, 3), -1), InputError, "got -1")],
)
def test_bad_x_is_a_typed_error(x: object, error: type[Exception], phrase: str) -> None:
    with pytest.raises(error) as info:
        Dice().log_likelihood(x, condition=0)  # type: ignore[arg-type]
    assert phrase in str(info.value)


def test_non_finite_continuous_x_is_refused() -> None:
    from genproto.validation import check_x

    x = torch.zeros(3, 4)
    x[1, 2] = float("nan")
    with pytest.raises(InputError, match="NaN or inf .first in row 1"):
        check_x(x, Walker().capabilities.event, model="walker", device=torch.device("cpu"))


def test_likelihood_does_not_mutate_its_input() -> None:
    x = all_events()[:10]
    copy = x.clone()
    Dice().log_likelihood(x, condition=1)
    assert torch.equal(x, copy)


def test_bad_likelihood_calls() -> None:
    with pytest.raises(ConditionError, match="shape"):
        Dice().log_likelihood(all_events()[:4], condition=torch.zeros(3, dtype=torch.int64))
    with pytest.raises(OptionError, match="unknown"):
        Dice().log_likelihood(all_events()[:4], k=3)


def test_save_and_load_round_trip(registry: Registry, tmp_path: Path) -> None:
    model = registry.get("dice")
    with torch.no_grad():
        model.net.weight.add_(1.0)  # type: ignore[attr-defined]
    model.save(tmp_path / "ckpt")
    loaded = genproto.load(tmp_path / "ckpt", registry=registry)
    assert torch.equal(loaded.sample(50, seed=3), model.sample(50, seed=3))
    torch.testing.assert_close(loaded.log_likelihood(all_events(), condition=1),
                               model.log_likelihood(all_events(), condition=1))
    assert loaded.weights_sha256() == model.weights_sha256()
    assert loaded.origin.name == "dice"


def test_loading_weights_of_another_model_is_a_checkpoint_error(
    registry: Registry, tmp_path: Path
) -> None:
    registry.get("walker").save(tmp_path / "w")
    with pytest.raises(CheckpointError, match="do not fit"):
        registry.get("dice").load_state_tensors(  # type: ignore[attr-defined]
            registry.get("walker").state_tensors())  # type: ignore[attr-defined]


def test_model_satisfies_the_protocol() -> None:
    assert isinstance(Dice(), genproto.GenerativeModel)
    assert "Dice 'dice' on cpu" in repr(Dice())


def _uncached_hash(model: Dice) -> str:
    model.forget_weights_hash()
    return model.weights_sha256()


def test_weights_hash_is_cached_and_follows_every_tracked_change() -> None:
    model = Dice()
    first = model.weights_sha256()
    assert model.weights_sha256() == first == _uncached_hash(model)
    with torch.no_grad():
        model.net.weight.add_(1.0)  # in place: bumps the version counter
    changed = model.weights_sha256()
    assert changed != first
    assert changed == _uncached_hash(model)
    model.net.weight.grad = torch.ones_like(model.net.weight)
    torch.optim.SGD(model.net.parameters(), lr=0.5).step()  # an optimiser step
    stepped = model.weights_sha256()
    assert stepped not in (first, changed)
    assert stepped == _uncached_hash(model)
    model.load_state_tensors(Dice().state_tensors())  # back to the initial weights
    assert model.weights_sha256() == first


def test_weights_hash_follows_buffers_and_swapped_parameters_not_scratch_buffers() -> None:
    model = Dice()
    net = model.net
    net.register_buffer("running", torch.zeros(3))  # persistent: part of the weights
    net.register_buffer("scratch", torch.zeros(3), persistent=False)  # not saved, not hashed
    first = model.weights_sha256()
    net.scratch.add_(1.0)
    assert model.weights_sha256() == first == _uncached_hash(model)
    net.running.add_(1.0)
    with_buffer = model.weights_sha256()
    assert with_buffer != first
    assert with_buffer == _uncached_hash(model)
    net.weight = torch.nn.Parameter(net.weight.detach() * 3)  # a new tensor, same name
    assert model.weights_sha256() not in (first, with_buffer)
    assert model.weights_sha256() == _uncached_hash(model)


def test_a_write_through_data_needs_forget_weights_hash() -> None:
    model = Dice()
    before = model.weights_sha256()
    model.net.weight.data.mul_(2.0)  # bypasses version counters, as documented
    assert model.weights_sha256() == before  # the cache cannot see it ...
    model.forget_weights_hash()
    assert model.weights_sha256() != before  # ... until told


@pytest.mark.parametrize(
    "x",
    [
        torch.zeros(2, 3, dtype=torch.int64).to_sparse(),
        torch.zeros(2, 3, dtype=torch.int64, device="meta"),
    ],
    ids=["sparse", "meta"],
)
def test_sparse_and_meta_x_are_typed_errors(x: torch.Tensor) -> None:
    with pytest.raises(InputTypeError, match="to_dense|meta"):
        Dice().log_likelihood(x, condition=0)


def test_sample_options_may_differ_per_instance() -> None:
    from genproto.options import Option

    narrow, wide = Dice(), Dice()
    wide.sample_options = (Option("boost", float, 1.0, "a per-instance option", minimum=0.0),)
    assert wide.check_sample_options({"boost": 2.0})["boost"] == 2.0
    with pytest.raises(OptionError, match="unknown 'dice' sample option 'boost'"):
        narrow.sample(2, condition=0, boost=2.0)
