"""Conditions of every declared kind, end to end, and the per-sample evaluation count.

Token, text and vector conditions (and class conditions with a declared prior or a null
label) go through ``sample``, ``sample_iter``, ``write_npy`` (one process and torchrun
shards), ``log_likelihood`` and provenance, batch-size invariant, on the small models of
``condition_models``; bad input for each kind is a ``ConditionError`` naming the value and
what is allowed. The counter counts evaluations per sample: a per-row loop is one, early
stopping is below its declared bound, batched guidance is one call per step.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from condition_models import (
    MAX_IDS,
    PAD,
    Captioned,
    Greedy,
    GuidedDice,
    PriorDice,
    Prompted,
    RowLoop,
    Steered,
    Stopper,
    tokenize,
)
from runners import run_single_and_torchrun
from sampler_models import Dice, Walker

from genproto import ConditionKind, ConditionSpec, Likelihood, NoneMeans, SampleCost, sampling
from genproto.conditions import RepeatedText, check_condition, describe_condition
from genproto.errors import ConditionError
from genproto.model import Model
from genproto.protocol import Capabilities
from genproto.streams import KeyedStreams

TESTS = Path(__file__).parent
N = 13


def prompts(n: int = N) -> torch.Tensor:
    """n prompts of MAX_IDS ids, right-padded with PAD to different lengths."""
    ids = (torch.arange(n * MAX_IDS).view(n, MAX_IDS) * 5 + 1) % 6 + 1  # ids 1..6
    lengths = torch.arange(n) % MAX_IDS + 1
    return ids.masked_fill(torch.arange(MAX_IDS) >= lengths[:, None], PAD)


def captions(n: int = N) -> list[str]:
    return [("cat", "a dog", "", "kettle", "x")[i % 5] for i in range(n)]


def embeddings(n: int = N) -> torch.Tensor:
    return torch.linspace(-2, 2, n * 3).view(n, 3)


#: (model factory, per-sample condition, one condition for all samples) per kind.
KINDS: dict[str, tuple[Any, Any, Any]] = {
    "tokens": (Prompted, prompts(), torch.tensor([3, 1, 4])),
    "text": (Captioned, captions(), "tea"),
    "vector": (Steered, embeddings(), torch.tensor([0.5, -1.0, 2.0])),
}


def each(condition: Any, n: int) -> Any:
    """``condition`` given once per sample: what one value for all must equal."""
    if isinstance(condition, str):
        return [condition] * n
    return condition.expand(n, *condition.shape).clone()


def rows(condition: Any, a: int, b: int) -> Any:
    return condition[a:b]


@pytest.fixture(scope="module", params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> tuple[str, Model, Any, Any]:
    factory, per_sample, shared = KINDS[request.param]
    return request.param, factory(), per_sample, shared


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.is_floating_point():
        return bool(torch.allclose(a, b, rtol=0, atol=1e-5))
    return torch.equal(a, b)


# -- each kind end to end --------------------------------------------------------------------


def test_the_spec_declares_the_kind(kind: tuple[str, Model, Any, Any]) -> None:
    name, model, _, _ = kind
    spec = model.capabilities.condition
    assert spec is not None
    assert spec.kind is ConditionKind(name)
    assert spec.none_means is NoneMeans.NULL
    assert not spec.required
    with pytest.raises(AttributeError, match="branch on ConditionSpec.kind"):
        spec.num_classes  # noqa: B018


@pytest.mark.parametrize("batch_size", [1, 4, N])
def test_samples_do_not_depend_on_batch_size(
    kind: tuple[str, Model, Any, Any], batch_size: int
) -> None:
    _, model, per_sample, shared = kind
    for cond in (per_sample, shared):
        whole = model.sample(N, seed=7, condition=cond, batch_size=N)
        assert same(model.sample(N, seed=7, condition=cond, batch_size=batch_size), whole)


def test_one_condition_for_all_is_that_condition_per_sample(
    kind: tuple[str, Model, Any, Any]
) -> None:
    _, model, _, shared = kind
    once = model.sample(N, seed=3, condition=shared, batch_size=5)
    assert same(model.sample(N, seed=3, condition=each(shared, N), batch_size=5), once)


def test_sample_i_depends_only_on_seed_i_and_its_condition(
    kind: tuple[str, Model, Any, Any]
) -> None:
    _, model, per_sample, _ = kind
    run = sampling.run(model, N, seed=5, batch_size=4, condition=per_sample)
    for i in (0, 6, N - 1):
        one = sampling.run(model, 1, seed=5, start=i, condition=rows(per_sample, i, i + 1))
        assert same(one.samples[0], run.samples[i])


def test_conditions_change_the_samples(kind: tuple[str, Model, Any, Any]) -> None:
    _, model, _per_sample, shared = kind
    a = model.sample(64, seed=1, condition=shared)
    b = model.sample(64, seed=1)  # None: the null condition
    assert not torch.equal(a, b)


def test_sample_iter_and_write_npy_match_sample(
    kind: tuple[str, Model, Any, Any], tmp_path: Path
) -> None:
    _, model, per_sample, _ = kind
    whole = model.sample(N, seed=2, condition=per_sample, batch_size=N)
    chunks = list(model.sample_iter(N, seed=2, condition=per_sample, batch_size=4))
    assert [len(c) for c in chunks] == [4, 4, 4, 1]
    assert same(torch.cat(chunks), whole)
    path = tmp_path / "x.npy"
    result = sampling.write_npy(model, N, path, seed=2, condition=per_sample, batch_size=4)
    assert same(torch.from_numpy(np.load(path)), whole)
    assert result.evaluations_per_sample == 1.0


def test_log_likelihood_per_sample_matches_rows_alone_at_any_batch_size(
    kind: tuple[str, Model, Any, Any]
) -> None:
    _, model, per_sample, shared = kind
    x = model.sample(N, seed=4, condition=per_sample)
    values = model.log_likelihood(x, per_sample)
    assert values.shape == (N,)
    assert bool(torch.isfinite(values).all())
    for size in (1, 5):
        torch.testing.assert_close(model.log_likelihood(x, per_sample, batch_size=size), values,
                                   rtol=0, atol=1e-5)
    alone = torch.cat([model.log_likelihood(x[i : i + 1], rows(per_sample, i, i + 1))
                       for i in range(N)])
    torch.testing.assert_close(alone, values, rtol=0, atol=1e-5)
    torch.testing.assert_close(model.log_likelihood(x, shared),
                               model.log_likelihood(x, each(shared, N)), rtol=0, atol=0)


def test_none_is_the_null_condition_in_both_primitives(kind: tuple[str, Model, Any, Any]) -> None:
    _, model, _, _ = kind
    x = model.sample(N, seed=8)
    streams = KeyedStreams.for_range(0, 0, N)
    with torch.inference_mode():
        direct = model.log_likelihood_batch(x, None, streams)
        first = model.sample_batch(KeyedStreams.for_range(8, 0, N), None)
    torch.testing.assert_close(model.log_likelihood(x), direct, rtol=0, atol=1e-6)
    assert same(first, x)


def test_the_token_likelihood_is_normalised_for_a_prompt() -> None:
    model = Prompted()
    grid = torch.cartesian_prod(*[torch.arange(5)] * 4)  # all 625 events
    for cond in (torch.tensor([2, 5, 0]), None):
        total = torch.logsumexp(model.log_likelihood(grid, cond), 0)
        assert abs(float(total)) < 1e-5


def test_text_reaches_the_plugin_raw_and_it_tokenizes() -> None:
    seen: list[Any] = []

    class Spy(Captioned):
        def ids(self, condition: Any, rows: int) -> torch.Tensor:
            seen.append(condition)
            return super().ids(condition, rows)

    model = Spy()
    model.sample(5, seed=0, condition=["ab", "c", "", "dd", "e"], batch_size=2)
    assert seen == [["ab", "c"], ["", "dd"], ["e"]]
    seen.clear()
    model.log_likelihood(torch.zeros(3, 4, dtype=torch.int64), "hi", batch_size=2)
    assert seen == [["hi", "hi"], ["hi"]]
    ids = Captioned().ids(["ab"], 1)
    assert ids.tolist() == [tokenize("ab") + [PAD] * (MAX_IDS - 2)]


def test_a_shared_condition_is_a_view_not_n_copies() -> None:
    spec = ConditionSpec.tokens(MAX_IDS, PAD)
    values = check_condition(torch.tensor([1, 2]), 10**7, spec, model="m")
    assert isinstance(values, torch.Tensor)
    assert values.shape == (10**7, 2)
    assert values.stride(0) == 0
    texts = check_condition("hello", 10**9, ConditionSpec.text(), model="m")
    assert isinstance(texts, RepeatedText)
    assert len(texts) == 10**9
    assert list(texts[5:8]) == ["hello"] * 3
    assert texts[-1] == "hello"


# -- torchrun: each rank writes its slice, its conditions sliced alike ------------------------

TORCHRUN = """
import os, sys
sys.path.insert(0, {tests!r})
import torch
from genproto import sampling
from condition_models import Captioned, Prompted, Steered
from test_conditions import captions, embeddings, prompts
if "RANK" in os.environ:
    torch.distributed.init_process_group("gloo")
for name, model, cond in (("prompted", Prompted(), prompts(101)),
                          ("captioned", Captioned(), captions(101)),
                          ("steered", Steered(), embeddings(101))):
    sampling.write_npy(model, 101, f"{{name}}-{{sys.argv[1]}}.npy", seed=9, batch_size=16,
                       condition=cond)
if "RANK" in os.environ:
    torch.distributed.destroy_process_group()
"""


def test_torchrun_ranks_slice_per_sample_conditions_like_the_samples(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(TORCHRUN.format(tests=str(TESTS)))
    run_single_and_torchrun(script, tmp_path)
    for name in ("prompted", "captioned", "steered"):
        one, two = np.load(tmp_path / f"{name}-single.npy"), np.load(tmp_path / f"{name}-multi.npy")
        assert np.array_equal(one, two)
        model = {"prompted": Prompted, "captioned": Captioned, "steered": Steered}[name]()
        cond = {"prompted": prompts, "captioned": captions, "steered": embeddings}[name](101)
        assert same(torch.from_numpy(one), model.sample(101, seed=9, condition=cond))


# -- provenance: the value where short, else a short SHA-256 -----------------------------------


def test_provenance_records_short_values_and_hashes_long_ones() -> None:
    def record(model: Model, cond: Any, n: int = 4, **kw: Any) -> str:
        return sampling.run(model, n, seed=0, condition=cond, **kw).provenance.condition

    assert record(Prompted(), torch.tensor([3, 1, 4])) == "tokens [3, 1, 4]"
    assert record(Captioned(), "tea") == "text 'tea'"
    assert record(Steered(), torch.tensor([0.5, -1.0, 2.0])) == "vector [0.5, -1.0, 2.0]"
    assert record(Prompted(), None) == "null condition (unconditional)"
    assert record(Dice(), None) == "marginal (uniform classes)"
    assert record(PriorDice(), None) == "marginal (class prior 0.8/0.2)"
    assert record(Dice(), 1) == "1"
    assert record(Walker(), None, steps=1) == "none"
    per_sample = {
        "tokens": record(Prompted(), prompts(4)),
        "texts": record(Captioned(), captions(4)),
        "vector": record(Steered(), embeddings(4)),
        "labels": record(Dice(), torch.tensor([0, 1, 1, 0])),
    }
    for name, text in per_sample.items():
        assert text.startswith(f"per-sample {name}"), text
        digest = text.rsplit("sha256 ", 1)[1]
        assert len(digest) == 16
        assert int(digest, 16) >= 0
    # the hash is of the values: the same at any batch size, another for other values
    assert record(Steered(), embeddings(4), batch_size=1) == per_sample["vector"]
    assert record(Steered(), embeddings(4) + 1) != per_sample["vector"]
    long = describe_condition("y" * 100, check_condition("y" * 100, 2, ConditionSpec.text(),
                                                         model="m"), ConditionSpec.text())
    assert long.startswith("text (100 characters), sha256 ")


# -- class conditions: a declared prior, and None as the null label ---------------------------


def test_none_draws_classes_from_the_declared_prior() -> None:
    seen: list[torch.Tensor] = []

    class Spy(PriorDice):
        def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> Any:
            seen.append(condition)
            return super().sample_batch(streams, condition, **options)

    model = Spy()
    model.sample(4000, seed=0, batch_size=1000)
    labels = torch.cat(seen)
    assert abs(float((labels == 0).float().mean()) - 0.8) < 0.03  # 5 sigma: 0.032
    seen.clear()
    model.sample(50, seed=0, batch_size=50)
    batch = torch.cat(seen)
    seen.clear()
    model.sample(50, seed=0, batch_size=7)
    assert torch.equal(torch.cat(seen), batch)  # drawn from the keyed streams
    seen.clear()
    Spy(prior=(0.5, 0.5)).sample(50, seed=0, batch_size=50)  # uniform: protocol 1's draws
    uniform = KeyedStreams.for_range(0, 0, 50).fork("condition").randint(2)
    assert torch.equal(torch.cat(seen), uniform)


def test_marginal_likelihood_weighs_classes_by_the_prior() -> None:
    model = PriorDice()
    x = model.sample(20, seed=1)
    per_class = torch.stack([model.log_likelihood(x, c) for c in (0, 1)], dim=1)
    expected = torch.logsumexp(per_class + torch.tensor([0.8, 0.2]).log(), dim=1)
    torch.testing.assert_close(model.log_likelihood(x), expected, rtol=0, atol=1e-6)
    uniform = Dice()
    torch.testing.assert_close(
        uniform.log_likelihood(x), torch.logsumexp(per_class, dim=1) - math.log(2),
        rtol=0, atol=1e-6)
    certain = PriorDice(prior=(1.0, 0.0))  # a class of prior 0 is not evaluated
    torch.testing.assert_close(certain.log_likelihood(x), per_class[:, 0], rtol=0, atol=1e-6)


def test_none_as_the_null_label_reaches_both_primitives() -> None:
    model = GuidedDice()
    model.sample(6, seed=0, batch_size=4)
    assert model.seen == [None, None]
    model.seen.clear()
    x = model.sample(6, seed=0)
    model.seen.clear()
    model.log_likelihood(x)
    assert model.seen == [None]  # no marginal: one call with the null label
    assert not torch.equal(model.sample(64, seed=3), model.sample(64, seed=3, condition=1))


def test_classifier_free_guidance_in_one_call_on_2b_rows_counts_one() -> None:
    model = GuidedDice()
    for cond, size in ((1, 4), (torch.arange(9) % 2, 2), (None, 3)):
        result = model.sample_run(9, seed=0, condition=cond, batch_size=size)
        assert result.evaluations_per_sample == result.peak_evaluations_per_sample == 1.0


# -- cost: exact or a bound, counted per sample ------------------------------------------------


def test_a_per_row_loop_counts_one_evaluation_per_sample() -> None:
    model = RowLoop()
    for size in (1, 4, 10):
        result = model.sample_run(10, seed=0, batch_size=size)
        assert result.evaluations_per_sample == 1.0
        assert model.cost().admits(result.evaluations_per_sample)


def test_early_stopping_counts_below_its_declared_bound() -> None:
    model = Stopper()
    declared = model.cost()
    assert declared.bound
    assert declared.describe() == "at most 8 evaluations (per token, L=8)"
    samples = model.sample(400, seed=0)
    steps = (samples == 3).int().argmax(1) + 1  # each row's evaluations: up to its stop token
    steps[(samples != 3).all(1)] = 8
    for size in (1, 7, 400):
        result = model.sample_run(400, seed=0, batch_size=size)
        assert result.evaluations_per_sample == pytest.approx(float(steps.double().mean()))
        assert declared.admits(result.evaluations_per_sample)
        assert declared.admits(result.peak_evaluations_per_sample)
        assert result.evaluations_per_sample < declared.evaluations
    alone = [model.sample_run(1, seed=0, start=i).evaluations_per_sample for i in range(20)]
    assert alone == steps[:20].double().tolist()
    peak = model.sample_run(20, seed=0, batch_size=1).peak_evaluations_per_sample
    assert peak == max(alone)
    assert not SampleCost.per_token(8).admits(result.evaluations_per_sample)  # not exact


def test_a_model_over_its_bound_is_refused_by_admits() -> None:
    model = Greedy()
    result = model.sample_run(200, seed=0, batch_size=1)
    assert not model.cost().admits(result.peak_evaluations_per_sample)


def test_today_s_models_count_as_before() -> None:
    walker = Walker()
    for size in (1, 3, 10):
        result = walker.sample_run(10, seed=0, batch_size=size, steps=4)
        assert result.evaluations_per_sample == result.peak_evaluations_per_sample == 4.0
    assert Dice().sample_run(5, seed=0, batch_size=2).evaluations_per_sample == 1.0
    assert sampling.run(Walker(), 0, seed=0).evaluations_per_sample == 0.0


def test_a_call_without_a_batched_tensor_counts_for_the_whole_batch() -> None:
    class Scalar(torch.nn.Module):
        def forward(self, t: float) -> torch.Tensor:
            return torch.tensor(t)

    class Broadcast(Walker):
        def __init__(self) -> None:
            super().__init__()
            self.scale = Scalar()

        def networks(self) -> dict[str, torch.nn.Module]:
            return {"net": self.net, "scale": self.scale}

        def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> Any:
            return streams.normal(4) * self.scale(2.0) * self.scale(t=1.0)

    result = Broadcast().sample_run(5, seed=0, batch_size=2)
    assert result.evaluations_per_sample == 2.0


# -- bad input: a typed error naming the value and what is allowed -----------------------------

BAD: list[tuple[Any, Any, str]] = [
    (Dice, "a cat", r"is a string, but the model takes a class condition"),
    (Dice, ["a", "b", "c"], r"condition: got \['a', 'b', 'c'\].*an int in 0\.\.1"),
    (Prompted, torch.arange(1, 8), r"7 ids.*1 <= L <= 6"),
    (Prompted, torch.zeros(3, 0, dtype=torch.int64), r"0 ids.*at least one id"),
    (Prompted, torch.tensor([1.0, 2.0]), r"condition dtype: got 'torch.float32'.*token ids"),
    (Prompted, torch.ones(2, 4, dtype=torch.int64),
     r"shape \(token ids\): got \(2, 4\).*\(n=3, L\)"),
    (Prompted, torch.ones(3, 2, 2, dtype=torch.int64), r"shape \(token ids\): got \(3, 2, 2\)"),
    (Prompted, torch.tensor([1, 7]), r"token id: got 7.*ids 0\.\.6"),
    (Prompted, torch.tensor([1, -1]), r"token id: got -1"),
    (Prompted, "hello", r"is a string, but the model takes a tokens condition"),
    (Captioned, ["a", "b"], r"list of 2 strings for n=3.*list of n=3 str"),
    (Captioned, ["a", 3, "c"], r"item 1: got 3.*a str"),
    (Captioned, "much too long", r"13 characters long.*at most 6 characters"),
    (Captioned, ["a", "b", "too long!"], r"item 2 is 9 characters long"),
    (Captioned, torch.tensor([1, 2]), r"condition \(text\): got tensor"),
    (Captioned, 3, r"condition \(text\): got 3"),
    (Steered, torch.zeros(4), r"shape \(embedding\): got \(4,\).*shape \(3,\).*\(3, 3\)"),
    (Steered, torch.zeros(2, 3), r"shape \(embedding\): got \(2, 3\)"),
    (Steered, torch.tensor([0.0, float("nan"), 1.0]), r"NaN or inf: got 'nan'"),
    (Steered, torch.tensor([[0.0, 0, 0], [0, 0, 0], [0, float("inf"), 0]]),
     r"first in row 2\): got 'inf'"),
    (Steered, torch.tensor([1e39, 0.0, 0.0], dtype=torch.float64), r"NaN or inf: got 'inf'"),
    (Steered, torch.zeros(3, dtype=torch.complex64), r"condition dtype"),
    (Steered, "north", r"is a string, but the model takes a vector condition"),
    (Walker, "a prompt", r"unconditional but got a condition"),
]


@pytest.mark.parametrize(("factory", "condition", "phrase"), BAD)
def test_bad_conditions_are_typed_errors_naming_value_and_allowed(
    factory: Any, condition: Any, phrase: str
) -> None:
    model = factory()
    event = model.capabilities.event
    x = torch.zeros((3, *event.shape), dtype=event.dtype)
    with pytest.raises(ConditionError, match=phrase) as info:
        model.sample(3, seed=0, condition=condition)
    assert isinstance(info.value, ValueError)
    if model.capabilities.likelihood is not Likelihood.NONE:
        with pytest.raises(ConditionError, match=phrase):
            model.log_likelihood(x, condition)


def test_a_required_condition_refuses_none() -> None:
    model = Prompted(ConditionSpec.tokens(MAX_IDS, PAD, required=True))
    with pytest.raises(ConditionError, match="needs a condition"):
        model.sample(2, seed=0)


# -- the spec: declarations, checks and JSON -----------------------------------------------------

SPECS = [
    ConditionSpec(10, "digit class"),
    ConditionSpec(3, "class", prior=(0.5, 0.3, 0.2)),
    ConditionSpec(3, none_means=NoneMeans.NULL),
    ConditionSpec(2, required=True),
    ConditionSpec.tokens(32, 0, vocab_size=100),
    ConditionSpec.tokens(8, 5, required=True),
    ConditionSpec.text(max_length=200),
    ConditionSpec.text(description="prompt"),
    ConditionSpec.vector((16,)),
    ConditionSpec.vector((2, 3), description="style"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_specs_round_trip_through_json_dicts(spec: ConditionSpec) -> None:
    assert ConditionSpec.from_dict(spec.to_dict()) == spec
    caps = Capabilities(Dice().capabilities.paradigms, Dice().capabilities.likelihood,
                        SampleCost.per_token(8, bound=True), Dice().capabilities.event, spec)
    assert Capabilities.from_dict(caps.to_dict()) == caps


def test_protocol_1_specs_and_costs_write_and_read_as_before() -> None:
    assert ConditionSpec(10, "digit class").to_dict() == {
        "num_classes": 10, "description": "digit class", "required": False}
    assert ConditionSpec.from_dict({"num_classes": 4, "description": "d", "required": True}) \
        == ConditionSpec(4, "d", True)
    assert "bound" not in SampleCost.per_step(10).to_dict()
    assert SampleCost.from_dict(SampleCost.per_step(10).to_dict()) == SampleCost.per_step(10)
    assert SampleCost.per_step(10, bound=True).to_dict()["bound"] is True


def test_spec_descriptions() -> None:
    assert ConditionSpec(10, "digit class").describe() == "digit class 0..9 (optional)"
    assert ConditionSpec.text(max_length=200).describe() == (
        "text prompt, up to 200 characters (optional, None: null condition)")
    assert ConditionSpec.tokens(32, 0, vocab_size=100, required=True).describe() == (
        "token sequence, up to 32 ids (pad 0, ids 0..99) (required)")
    assert ConditionSpec.vector((2, 3)).describe() == (
        "embedding, 2x3 floats (optional, None: null condition)")
    assert ConditionSpec(3, prior=(0.5, 0.25, 0.25)).describe().endswith(
        "(optional, None: marginal over prior 0.5/0.25/0.25)")


@pytest.mark.parametrize(("kwargs", "phrase"), [
    ({}, "needs 'num_classes'"),
    ({"num_classes": 0}, "'classes' must be an int >= 1"),
    ({"num_classes": 3, "prior": (0.5, 0.5)}, "one probability per class"),
    ({"num_classes": 2, "prior": (0.7, 0.7)}, "sum to 1"),
    ({"num_classes": 2, "prior": (1.5, -0.5)}, "finite and >= 0"),
    ({"num_classes": 2, "prior": "ab"}, "must hold numbers"),
    ({"num_classes": 2, "prior": 3}, "sequence of probabilities"),
    ({"num_classes": 2, "shape": (3,)}, "a class condition takes classes, prior"),
    ({"kind": ConditionKind.TEXT, "num_classes": 3}, "a text condition takes max_length"),
    ({"kind": ConditionKind.TOKENS, "max_length": 4}, "needs max_length .* and pad_id"),
    ({"kind": ConditionKind.TOKENS, "max_length": 4, "pad_id": 9, "vocab_size": 9},
     "pad_id must be a token id 0..8"),
    ({"kind": ConditionKind.VECTOR}, "needs shape"),
    ({"kind": ConditionKind.VECTOR, "shape": (0,)}, "non-empty tuple of ints >= 1"),
    ({"kind": ConditionKind.TEXT, "none_means": NoneMeans.MARGINAL}, "only for class"),
    ({"kind": "text"}, "must be <enum 'ConditionKind'>"),
])
def test_malformed_specs_are_refused(kwargs: dict[str, Any], phrase: str) -> None:
    with pytest.raises((ValueError, TypeError), match=phrase):
        ConditionSpec(**kwargs)


def test_admits_is_equality_for_exact_costs_and_at_most_for_bounds() -> None:
    exact, bound = SampleCost.per_step(10), SampleCost.per_step(10, bound=True)
    assert exact.admits(10)
    assert exact.admits(10.0)
    assert not exact.admits(9.5)
    assert not exact.admits(10.5)
    assert bound.admits(10)
    assert bound.admits(3.25)
    assert bound.admits(0)
    assert not bound.admits(10.01)
    assert not bound.admits(-1)
    for junk in (float("nan"), float("inf"), True, "10", None):
        assert not exact.admits(junk)
        assert not bound.admits(junk)


def test_a_bound_composes_into_a_bound() -> None:
    decoder = SampleCost.single_pass()
    early = SampleCost.per_step(20, bound=True)
    hybrid = early.then(decoder)
    assert hybrid.bound
    assert hybrid.evaluations == 21
    assert hybrid.describe() == "at most 21 evaluations (per step, K=20, +1 fixed)"
    assert not SampleCost.per_step(20).then(decoder).bound
    assert SampleCost.single_pass(bound=True).then(decoder) == SampleCost.fixed_passes(
        2, bound=True)


def test_the_conditions_block_of_the_plugin_guide_runs_and_prints_what_it_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/writing-a-plugin.md's ``python conditions`` block is executed, so it cannot rot."""
    page = (TESTS.parent / "docs" / "writing-a-plugin.md").read_text()
    (block,) = re.findall(r"```python conditions\n(.*?)```", page, flags=re.S)
    exec(compile(block, "writing-a-plugin.md (conditions)", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    promised = re.findall(r"print\(\w+\.describe\(\)\)\s+# (.*)", block)
    assert printed == promised
    assert len(promised) == 6
