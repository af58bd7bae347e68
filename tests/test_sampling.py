"""The shared sampler: per-index seeding, counting, streaming, provenance and bad input."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import torch
from sampler_models import Dice, Walker

from genproto import sampling
from genproto.errors import (
    ArgumentTypeError,
    ConditionError,
    DeviceError,
    InvalidArgumentError,
    OptionError,
    PluginError,
)
from genproto.protocol import EventSpace
from genproto.streams import KeyedStreams


@pytest.fixture(scope="module")
def walker() -> Walker:
    return Walker()


@pytest.fixture(scope="module")
def dice() -> Dice:
    return Dice()


@pytest.mark.parametrize("batch_size", [1, 7, 53])
def test_samples_do_not_depend_on_batch_size(walker: Walker, batch_size: int) -> None:
    whole = walker.sample(53, seed=11, batch_size=53)
    split = walker.sample(53, seed=11, batch_size=batch_size)
    # row-wise float arithmetic may differ in the last bits between batch shapes
    torch.testing.assert_close(split, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_discrete_samples_are_bitwise_batch_invariant(dice: Dice, batch_size: int) -> None:
    labels = torch.arange(64) % 2
    whole = dice.sample(64, seed=3, batch_size=64, condition=labels)
    assert torch.equal(dice.sample(64, seed=3, batch_size=batch_size, condition=labels), whole)


def test_sample_i_depends_only_on_seed_and_i(walker: Walker) -> None:
    run = sampling.run(walker, 20, seed=5, batch_size=6)
    for i in (0, 7, 19):
        one = sampling.run(walker, 1, seed=5, start=i).samples[0]
        torch.testing.assert_close(one, run.samples[i], rtol=0, atol=1e-5)


def test_same_seed_same_samples_and_different_seeds_differ(walker: Walker) -> None:
    a = walker.sample(16, seed=1)
    assert torch.equal(a, walker.sample(16, seed=1))
    b = walker.sample(16, seed=2)
    assert not torch.isclose(a, b).any()


def test_fresh_seed_is_reported_and_replays(walker: Walker) -> None:
    first = sampling.run(walker, 8)
    second = sampling.run(walker, 8)
    assert first.seed != second.seed
    assert torch.equal(walker.sample(8, seed=first.seed), first.samples)
    assert first.provenance.seed == first.seed


def test_global_rngs_are_neither_used_nor_changed(walker: Walker) -> None:
    state = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    a = walker.sample(8, seed=4)
    torch.manual_seed(torch.initial_seed() + 1)
    np.random.seed(123)
    random.seed(123)
    after = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    assert torch.equal(walker.sample(8, seed=4), a)
    assert torch.equal(torch.get_rng_state(), after[0])
    assert (np.random.get_state()[1] == after[1]).all()
    assert random.getstate() == after[2]
    assert not torch.equal(state[0], after[0])  # the disturbance was real


@pytest.mark.parametrize("steps", [1, 5, 12])
def test_counted_evaluations_equal_the_declared_cost(walker: Walker, steps: int) -> None:
    result = sampling.run(walker, 10, seed=0, batch_size=3, steps=steps)
    assert result.evaluations_per_sample == walker.cost(steps=steps).evaluations == steps


def test_single_pass_model_counts_one(dice: Dice) -> None:
    assert sampling.run(dice, 9, seed=0, batch_size=4).evaluations_per_sample == 1


def test_marginal_draws_classes_from_the_streams(dice: Dice) -> None:
    a = dice.sample(200, seed=9)
    b = dice.sample(200, seed=9, batch_size=13)
    assert torch.equal(a, b)
    per_class = [dice.sample(200, seed=9, condition=c) for c in (0, 1)]
    assert not torch.equal(a, per_class[0])
    assert not torch.equal(a, per_class[1])


def test_condition_as_int_or_tensor(dice: Dice) -> None:
    as_int = dice.sample(10, seed=2, condition=1)
    as_tensor = dice.sample(10, seed=2, condition=torch.ones(10, dtype=torch.int64))
    assert torch.equal(as_int, as_tensor)


def test_n_zero_gives_an_empty_tensor_of_the_right_kind(walker: Walker, dice: Dice) -> None:
    assert walker.sample(0).shape == (0, 4)
    empty = dice.sample(0, condition=1)
    assert empty.shape == (0, 3)
    assert empty.dtype == torch.int64


def test_sample_iter_matches_sample(walker: Walker) -> None:
    chunks = list(walker.sample_iter(25, seed=8, batch_size=10))
    assert [c.shape[0] for c in chunks] == [10, 10, 5]
    assert torch.equal(torch.cat(chunks), walker.sample(25, seed=8, batch_size=10))


def test_write_npy_matches_in_memory(walker: Walker, tmp_path: Path) -> None:
    path = tmp_path / "out.npy"
    result = sampling.write_npy(walker, 30, path, seed=6, batch_size=7, steps=3)
    assert result.evaluations_per_sample == 3
    on_disk = torch.from_numpy(np.load(path))
    assert torch.equal(on_disk, walker.sample(30, seed=6, batch_size=7, steps=3))
    assert [p.name for p in tmp_path.iterdir()] == ["out.npy"]


def test_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = Walker()
    original = model.sample_batch
    calls = itertools.count()

    def flaky(*args: Any, **kwargs: Any) -> torch.Tensor:
        if next(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "sample_batch", flaky)
    with pytest.raises(KeyboardInterrupt):
        sampling.write_npy(model, 100, tmp_path / "out.npy", seed=0, batch_size=10)
    assert list(tmp_path.iterdir()) == []


def test_sampling_restores_training_mode_and_keeps_parameters() -> None:
    model = Walker()
    model.net.train()
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    model.sample(5, seed=0)
    assert model.net.training
    assert all(torch.equal(v, model.net.state_dict()[k]) for k, v in before.items())


def test_provenance_describes_the_run(walker: Walker) -> None:
    result = sampling.run(walker, 4, seed=3, batch_size=2, steps=2)
    prov = result.provenance.to_dict()
    assert prov["model"] == "walker"
    assert prov["seed"] == 3
    assert prov["options"] == {"steps": 2}
    assert prov["batch_size"] == 2
    assert prov["weights_sha256"] == walker.weights_sha256()
    assert prov["torch_version"] == torch.__version__
    assert prov["device"] == "cpu"


def test_automatic_batch_size_is_bounded(walker: Walker) -> None:
    result = sampling.run(walker, 10, seed=0)
    assert 1 <= result.provenance.batch_size <= 10


@pytest.mark.parametrize(
    ("kwargs", "error", "phrase"),
    [({"n": -1}, InvalidArgumentError, "'n'"),
     ({"n": 2.0}, ArgumentTypeError, "'n'"),
     ({"n": True}, ArgumentTypeError, "'n'"),
     ({"n": 2**50}, InvalidArgumentError, "too large to hold in memory"),
     ({"n": 4, "batch_size": 0}, InvalidArgumentError, "'batch_size'"),
     ({"n": 4, "batch_size": 2.5}, ArgumentTypeError, "'batch_size'"),
     ({"n": 4, "seed": -1}, InvalidArgumentError, "'seed'"),
     ({"n": 4, "seed": 2**63}, InvalidArgumentError, "'seed'"),
     ({"n": 4, "seed": 1.5}, ArgumentTypeError, "'seed'"),
     ({"n": 4, "steps": 0}, OptionError, "'steps'"),
     ({"n": 4, "stepz": 3}, OptionError, "Did you mean 'steps'"),
     ({"n": 4, "condition": 1}, ConditionError, "unconditional"),
     ({"n": 4, "precision": "fp16"}, InvalidArgumentError, "'precision'")],
)
def test_bad_input_is_a_typed_error(walker: Walker, kwargs: dict[str, Any],
                                    error: type[Exception], phrase: str) -> None:
    with pytest.raises(error) as info:
        sampling.run(walker, **kwargs)
    assert phrase in str(info.value)


@pytest.mark.parametrize(
    ("condition", "phrase"),
    [(2, "condition label: got 2"), (-1, "condition label: got -1"),
     (torch.zeros(3, dtype=torch.int64), "shape"), (torch.zeros(4), "dtype"),
     ("seven", "condition")],
)
def test_bad_conditions_name_the_value(dice: Dice, condition: Any, phrase: str) -> None:
    with pytest.raises(ConditionError, match=phrase) as info:
        dice.sample(4, condition=condition)
    assert "0..1" in str(info.value)


@pytest.mark.parametrize("device", ["cuda:7", "tpu", "gpu"])
def test_missing_device_is_a_typed_error(device: str) -> None:
    with pytest.raises(DeviceError, match="device"):
        Walker().to(device)


def test_streaming_needs_no_memory_check(walker: Walker, tmp_path: Path) -> None:
    """A run too large for memory is refused in memory but allowed to a file (not run here)."""
    with pytest.raises(InvalidArgumentError, match="sample_iter"):
        walker.sample(2**50)
    plan = sampling.plan(walker, 2**50, seed=0, in_memory=False)
    assert plan.n == 2**50


# -- the likelihood's row loop (sampling.evaluate_rows / log_likelihood) -----------------------


def _noisy_rows(
    x: torch.Tensor, labels: torch.Tensor | None, streams: KeyedStreams
) -> torch.Tensor:
    """A per-row value that draws keyed numbers, like an IWAE or Hutchinson estimate: (B, 2)."""
    base = x.double().sum(dim=1, keepdim=True)  # (B, 1)
    return (base + streams.normal(2).double()).float()  # (B, 2)


@pytest.mark.parametrize("batch_size", [1, 4, 9])
def test_evaluate_rows_gives_each_row_its_own_streams_at_any_batch_size(
    dice: Dice, batch_size: int
) -> None:
    x = dice.sample(9, condition=1, seed=3)
    whole = sampling.evaluate_rows(dice, x, 1, _noisy_rows, seed=5, batch_size=9, trailing=(2,))
    split = sampling.evaluate_rows(
        dice, x, 1, _noisy_rows, seed=5, batch_size=batch_size, trailing=(2,)
    )
    assert whole.shape == (9, 2)
    torch.testing.assert_close(split, whole, rtol=0, atol=0)
    other_seed = sampling.evaluate_rows(dice, x, 1, _noisy_rows, seed=6, trailing=(2,))
    assert not torch.equal(other_seed, whole)


def test_evaluate_rows_hands_labels_or_none_for_the_marginal(dice: Dice) -> None:
    x = dice.sample(4, condition=0, seed=0)
    seen: list[torch.Tensor | None] = []

    def record(
        data: torch.Tensor, labels: torch.Tensor | None, streams: KeyedStreams
    ) -> torch.Tensor:
        seen.append(labels)
        return torch.zeros(data.shape[0])

    sampling.evaluate_rows(dice, x, torch.tensor([0, 1, 1, 0]), record, batch_size=4)
    sampling.evaluate_rows(dice, x, None, record, batch_size=4)
    assert seen[0] is not None
    assert seen[0].tolist() == [0, 1, 1, 0]
    assert seen[1] is None


def test_class_marginal_is_the_log_mean_over_classes(dice: Dice) -> None:
    x = dice.sample(6, seed=2)
    per_class = torch.stack([dice.log_likelihood(x, c) for c in range(2)], dim=1)  # (6, 2)
    expected = torch.logsumexp(per_class, dim=1) - torch.log(torch.tensor(2.0))
    torch.testing.assert_close(sampling.log_likelihood(dice, x), expected)


def test_evaluate_rows_rejects_bad_input_before_calling(dice: Dice) -> None:
    def never(*args: Any) -> torch.Tensor:
        raise AssertionError("called")

    with pytest.raises(InvalidArgumentError, match="seed"):
        sampling.evaluate_rows(dice, dice.sample(2, seed=0), 0, never, seed=-1)
    with pytest.raises(ConditionError):
        sampling.evaluate_rows(dice, dice.sample(2, seed=0), 7, never)


# -- plugin output checked on every batch -----------------------------------------------------


class _Returns(Dice):
    """Dice whose sample_batch / log_likelihood_batch return a given bad value."""

    def __init__(self, samples: Any = None, values: Any = None) -> None:
        super().__init__()
        self._samples, self._values = samples, values

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        good = super().sample_batch(streams, condition, **options)
        return good if self._samples is None else self._samples(good)

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        good = super().log_likelihood_batch(x, condition, streams, **options)
        return good if self._values is None else self._values(good)


class _NaNWalker(Walker):
    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        x = super().sample_batch(streams, condition, **options)
        x[-1, 0] = self.poison
        return x

    poison = float("nan")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda x: (x, x), "returned a tuple"),
        (lambda x: x + 5, "returned level (5|6|7|8|9)"),
        (lambda x: x - 1, "returned level -1"),
        (lambda x: x.float(), "float32 for a discrete event"),
        (lambda x: x[:, :2], "shape"),
    ],
)
def test_bad_samples_are_a_plugin_error_naming_the_model(bad: Any, message: str) -> None:
    with pytest.raises(PluginError, match=rf"'dice'.*{message}"):
        _Returns(samples=bad).sample(8, condition=0, seed=0)


@pytest.mark.parametrize(("poison", "word"), [(float("nan"), "NaN"), (float("inf"), "infinity")])
def test_non_finite_continuous_samples_are_a_plugin_error(poison: float, word: str) -> None:
    walker = _NaNWalker()
    walker.poison = poison
    with pytest.raises(PluginError, match=f"'walker'.*{word}"):
        walker.sample(4, seed=0)
    with pytest.raises(PluginError, match=word):
        list(walker.sample_iter(4, seed=0))


class _PoisonRow(Walker):
    """Puts ``poison`` into the one global row ``row`` (wherever the batches split)."""

    row = 5
    poison = float("nan")

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        x = super().sample_batch(streams, condition, **options)
        hit = (streams.indices == self.row).nonzero()
        if hit.numel():
            x[int(hit[0, 0]), 1] = self.poison
        return x


@pytest.mark.parametrize("batch_size", [1, 4, 16])
@pytest.mark.parametrize(("poison", "word"), [(float("nan"), "NaN"), (float("inf"), "infinity"),
                                              (float("-inf"), "infinity")])
def test_a_bad_value_in_any_batch_is_caught_by_run_and_by_streaming(
        batch_size: int, poison: float, word: str) -> None:
    # run() checks the values of its whole output at once; sample_iter checks each chunk
    model = _PoisonRow()
    model.poison = poison
    with pytest.raises(PluginError, match=f"'walker'.*{word}"):
        model.sample(12, seed=0, batch_size=batch_size)
    chunks = model.sample_iter(12, seed=0, batch_size=batch_size)
    for _ in range(5 // batch_size):  # the chunks before the bad row's come out unharmed
        assert bool(torch.isfinite(next(chunks)).all())
    with pytest.raises(PluginError, match=word):
        next(chunks)


class _Huge(Walker):
    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return torch.full((len(streams), 4), 3e38)


def test_huge_finite_samples_whose_sum_overflows_are_not_an_error() -> None:
    # the one-reduction check sums the batch: a float32 overflow must go to the exact check
    x = _Huge().sample(8, seed=0, batch_size=4)
    assert bool((x == 3e38).all())
    assert all(bool((c == 3e38).all()) for c in _Huge().sample_iter(8, seed=0, batch_size=4))


class _Ranged(_PoisonRow):
    def __init__(self) -> None:
        super().__init__()
        self._capabilities = attrs.evolve(
            self.capabilities, event=EventSpace.continuous((4,), low=-20.0, high=20.0))


@pytest.mark.parametrize("batch_size", [1, 4, 16])
def test_a_value_out_of_range_is_named_by_its_row_in_the_run(batch_size: int) -> None:
    model = _Ranged()
    model.poison = 50.0
    with pytest.raises(PluginError, match=r"'walker'.*returned 50 \(row 5\), outside"):
        model.sample(12, seed=0, batch_size=batch_size)
    with pytest.raises(PluginError, match=r"returned 50 \(row 5\), outside"):
        list(model.sample_iter(12, seed=0, batch_size=batch_size))
    model.poison = 20.0001  # within the slack (2e-4): clamped, in run and streaming alike
    whole = model.sample(12, seed=0, batch_size=batch_size)
    assert float(whole[5, 1]) == 20.0
    assert torch.equal(torch.cat(list(model.sample_iter(12, seed=0, batch_size=batch_size))),
                       whole)


def test_levels_too_large_for_the_storage_are_refused_before_conversion() -> None:
    # a uint8 event given int64 level 300 must not see it wrap to 44 on conversion
    class Bytes(Dice):
        def __init__(self) -> None:
            super().__init__()
            self._capabilities = attrs.evolve(
                self.capabilities, event=EventSpace.discrete((3,), 5, storage=torch.uint8))

        def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                         **options: Any) -> torch.Tensor:
            x = super().sample_batch(streams, condition, **options)
            x[0, 0] = 300
            return x

    with pytest.raises(PluginError, match="'dice'.*returned level 300"):
        Bytes().sample(4, condition=0, seed=0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda v: v.sum(), r"shape \(\) "),
        (lambda v: v[:, None], r"shape \(\d+, 1\)"),
        (lambda v: v.tolist(), "a list"),
        (lambda v: v.long(), "torch.int64"),
        (lambda v: torch.full_like(v, float("nan")), "NaN"),
        (lambda v: torch.full_like(v, float("inf")), r"\+inf"),
    ],
)
def test_bad_log_likelihoods_are_a_plugin_error(bad: Any, message: str) -> None:
    model = _Returns(values=bad)
    x = Dice().sample(5, condition=1, seed=0)
    with pytest.raises(PluginError, match=message):
        model.log_likelihood(x, 1)
    with pytest.raises(PluginError, match=message):  # the class marginal checks each class
        model.log_likelihood(x)


def test_minus_infinity_is_a_valid_log_likelihood() -> None:
    model = _Returns(values=lambda v: torch.full_like(v, float("-inf")))
    x = Dice().sample(3, condition=0, seed=0)
    assert model.log_likelihood(x, 0).isneginf().all()


# -- several threads sampling one model --------------------------------------------------------


def test_threads_count_their_own_evaluations_and_leave_modes_as_they_were() -> None:
    import threading

    model = Walker()
    model.net.train()
    model.net[1].eval()  # a deliberately frozen submodule stays frozen
    serial = [model.sample_run(64, seed=s, batch_size=8, steps=5) for s in range(4)]
    results: dict[int, sampling.SampleResult] = {}
    start = threading.Barrier(4)

    def work(seed: int) -> None:
        start.wait()
        results[seed] = model.sample_run(64, seed=seed, batch_size=8, steps=5)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed, alone in enumerate(serial):
        assert results[seed].evaluations_per_sample == alone.evaluations_per_sample == 5
        torch.testing.assert_close(results[seed].samples, alone.samples, rtol=0, atol=0)
    assert model.net.training
    assert not model.net[1].training
    assert model.net[0].training


def test_eval_mode_nested_holds_until_the_last_leaves() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    net.train()
    nets = {"net": net}
    with sampling.eval_mode(nets):
        with sampling.eval_mode(nets):
            assert not net.training
        assert not net.training  # the outer holder is still sampling
    assert net.training


def test_a_plugin_primitive_failing_inside_torch_is_a_plugin_error_with_the_cause() -> None:
    def crash(x: torch.Tensor) -> torch.Tensor:
        return x @ torch.zeros(7, 7)  # a shape error from deep inside torch

    with pytest.raises(PluginError, match="'dice': sample_batch failed: RuntimeError") as info:
        _Returns(samples=crash).sample(4, condition=0, seed=0)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(PluginError, match="log_likelihood_batch failed: RuntimeError"):
        _Returns(values=crash).log_likelihood(Dice().sample(3, condition=0, seed=0), 0)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_non_float_samples_for_a_continuous_event_are_a_plugin_error(dtype: torch.dtype) -> None:
    class IntWalker(Walker):
        def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                         **options: Any) -> torch.Tensor:
            return super().sample_batch(streams, condition, **options).to(dtype)

    with pytest.raises(PluginError, match=f"{dtype} for a continuous event"):
        IntWalker().sample(3, seed=0)


def test_a_log_likelihood_on_another_device_is_a_plugin_error() -> None:
    model = _Returns(values=lambda v: v.to("meta"))
    with pytest.raises(PluginError, match="on meta"):
        model.log_likelihood(Dice().sample(2, condition=0, seed=0), 0)


def test_all_modules_walks_like_module_modules_and_visits_a_shared_module_once() -> None:
    shared = torch.nn.Linear(2, 2)
    first = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sequential(shared, torch.nn.ReLU()))
    second = torch.nn.Sequential(shared, torch.nn.Tanh())
    walked = sampling.all_modules([first, second])
    expected = list({id(m): m for net in (first, second) for m in net.modules()}.values())
    assert [id(m) for m in walked] == [id(m) for m in expected]
    assert sum(m is shared for m in walked) == 1
    assert sampling.all_modules([]) == []
