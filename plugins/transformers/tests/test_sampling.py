"""Sampling a local causal LM: keyed, batch-invariant with mixed prompts, stopping, counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from genproto_transformers.model import HFCausalLM

from genproto import registry
from genproto.streams import KeyedStreams

PROMPTS = ["a", "bb", "", "abc:", "hhhhhhhh", "g", "defg", "c:a", "", "ab"]


def _model(folder: Path, **options: Any) -> HFCausalLM:
    model = registry.get("hf-causal-lm", path=str(folder), device="cpu", **options)
    assert isinstance(model, HFCausalLM)
    return model


@pytest.mark.parametrize("batch_size", [1, 3, 7])
def test_mixed_length_prompts_give_the_tokens_of_batch_size_one_bitwise(
    tiny_dir: Path, batch_size: int
) -> None:
    model = _model(tiny_dir, max_new_tokens=12)
    whole = model.sample(len(PROMPTS), condition=PROMPTS, seed=5, batch_size=len(PROMPTS))
    parts = model.sample(len(PROMPTS), condition=PROMPTS, seed=5, batch_size=batch_size)
    assert torch.equal(whole, parts)
    assert model.capabilities.event.contains(whole).all()
    # a row's tokens depend on its own prompt and index only, not on its neighbours'
    alone = model.sample_run(1, condition=[PROMPTS[3]], seed=5, start=3).samples
    assert torch.equal(alone[0], whole[3])


def test_draws_equal_transformers_generate_driven_by_the_same_keyed_draws(
    tiny_dir: Path,
) -> None:
    """Our loop (left padding, cache, dropped rows) against ``generate``'s own, fed the same
    keyed inverse-CDF draw through a logits processor: identical tokens."""
    from transformers import LogitsProcessor, LogitsProcessorList

    model = _model(tiny_dir, max_new_tokens=10)
    prompts = PROMPTS[:6]
    ours = model.sample(len(prompts), condition=prompts, seed=11)
    streams = KeyedStreams.for_range(11, 0, len(prompts))

    class Keyed(LogitsProcessor):  # type: ignore[misc]
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            token = streams.categorical(scores.float(), method="inverse")
            chosen = torch.full_like(scores, -torch.inf)
            chosen[torch.arange(len(token)), token] = 0.0
            return chosen

    tok = model.tokenizer
    batch = tok(prompts, padding=True, padding_side="left",
                return_tensors="pt")
    eos = model.description.eos
    out = model.lm.generate(**batch, do_sample=False, max_new_tokens=10,
                            logits_processor=LogitsProcessorList([Keyed()]),
                            eos_token_id=eos, pad_token_id=eos)
    theirs = out[:, batch["input_ids"].shape[1]:]
    theirs = torch.nn.functional.pad(theirs, (0, 10 - theirs.shape[1]), value=eos)
    assert torch.equal(ours.to(torch.int64), theirs)


def test_rows_stop_at_eos_and_stopped_rows_stop_costing(gpt2_dir: Path) -> None:
    model = _model(gpt2_dir, max_new_tokens=12)
    run = model.sample_run(40, condition="ab", seed=2)
    event = model.capabilities.event
    lengths = event.lengths(run.samples)
    stopped = (run.samples == event.stop).any(dim=1)
    assert bool(stopped.any())
    assert not bool(stopped.all())
    assert bool((lengths[stopped] < 12).any())
    # one call per token a row waits for: its length, the longest in its batch at most
    assert 1.0 <= run.evaluations_per_sample <= 12.0
    assert run.evaluations_per_sample == pytest.approx(float(lengths.double().mean()))
    assert model.cost().admits(run.peak_evaluations_per_sample)


def test_greedy_is_top_k_one_and_draws_nothing(gpt2_dir: Path) -> None:
    model = _model(gpt2_dir, max_new_tokens=8)
    greedy = model.sample(6, condition=PROMPTS[:6], seed=0, temperature=0.0)
    assert torch.equal(greedy, model.sample(6, condition=PROMPTS[:6], seed=9, temperature=0.0))
    assert torch.equal(greedy, model.sample(6, condition=PROMPTS[:6], seed=3, top_k=1))


def test_warped_sampling_stays_batch_invariant_and_changes_the_draws(llama_dir: Path) -> None:
    model = _model(llama_dir, max_new_tokens=12)
    options = {"repetition_penalty": 1.8, "top_p": 0.9, "temperature": 0.7, "min_p": 0.05}
    whole = model.sample(10, condition=PROMPTS, seed=4, **options)
    assert torch.equal(whole, model.sample(10, condition=PROMPTS, seed=4, batch_size=3,
                                           **options))
    assert not torch.equal(whole, model.sample(10, condition=PROMPTS, seed=4))


def test_text_and_token_prompts_give_the_same_samples(gpt2_dir: Path) -> None:
    texts = ["abc", "d", "hg:e"]
    by_text = _model(gpt2_dir, max_new_tokens=8).sample(3, condition=texts, seed=1)
    tokens_model = _model(gpt2_dir, max_new_tokens=8, prompt="tokens")
    ids = tokens_model.tokenizer(texts)["input_ids"]
    pad = tokens_model.description.pad
    rows = torch.tensor([row + [pad] * (5 - len(row)) for row in ids])
    assert torch.equal(tokens_model.sample(3, condition=rows, seed=1), by_text)


def test_no_prompt_starts_from_bos(gpt2_dir: Path) -> None:
    model = _model(gpt2_dir, max_new_tokens=8)
    none = model.sample(5, seed=3)
    assert torch.equal(none, model.sample(5, condition="", seed=3))
    bos = torch.tensor([model.description.bos])
    tokens = _model(gpt2_dir, max_new_tokens=8, prompt="tokens")
    assert torch.equal(none, tokens.sample(5, condition=bos, seed=3))


def test_prompt_suffix_is_added_once(gpt2_dir: Path) -> None:
    plain = _model(gpt2_dir, max_new_tokens=6)
    suffixed = _model(gpt2_dir, max_new_tokens=6, prompt_suffix=":")
    expected = plain.sample(4, condition="ab:", seed=2)
    assert torch.equal(suffixed.sample(4, condition="ab", seed=2), expected)
    assert torch.equal(suffixed.sample(4, condition="ab:", seed=2), expected)


def test_prompts_condition_the_samples(gpt2_dir: Path) -> None:
    model = _model(gpt2_dir, max_new_tokens=8)
    assert not torch.equal(model.sample(20, condition="a", seed=0),
                           model.sample(20, condition="hhh", seed=0))


def test_provenance_names_the_weights_and_hashes_per_sample_prompts(gpt2_dir: Path) -> None:
    model = _model(gpt2_dir, max_new_tokens=4)
    run = model.sample_run(10, condition=PROMPTS, seed=0)
    assert run.provenance.weights_sha256 == model.weights_sha256()
    assert "per-sample texts (10,), sha256" in run.provenance.condition
    other = model.sample_run(10, condition=[*PROMPTS[:-1], "zz"], seed=0)
    assert other.provenance.condition != run.provenance.condition
    assert model.origin is not None
    assert model.origin.options["path"] == str(gpt2_dir)


def test_reduced_precision_flips_fewer_tokens_than_declared(gpt2_dir: Path) -> None:
    """bfloat16 rounding differs between batch shapes: measured, and held to the declaration."""
    model = _model(gpt2_dir, max_new_tokens=12, dtype="bfloat16")
    declared = model.capabilities.batch_tolerance.flip_fraction
    assert declared > 0.0
    whole = model.sample(24, condition=PROMPTS[:4] * 6, seed=8)
    single = model.sample(24, condition=PROMPTS[:4] * 6, seed=8, batch_size=1)
    assert model.capabilities.event.contains(whole).all()
    assert float((whole != single).double().mean()) <= declared
