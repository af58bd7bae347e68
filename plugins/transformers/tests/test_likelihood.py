"""Exact log p(continuation | prompt): the chain rule by hand, normalisation, warped variants."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from genproto_transformers.model import HFCausalLM
from genproto_transformers.tiny import save_tiny

from genproto import registry
from genproto.errors import InvalidArgumentError


def _model(folder: Path, **options: object) -> HFCausalLM:
    model = registry.get("hf-causal-lm", path=str(folder), device="cpu", **options)
    assert isinstance(model, HFCausalLM)
    return model


@pytest.fixture(scope="module")
def two_letters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Vocabulary of 4 (stop, <unk>, a, b): every sequence of 3 tokens can be listed."""
    return save_tiny("gpt2", tmp_path_factory.mktemp("ab"), alphabet="ab", scale=3.0)


def _every_sequence(model: HFCausalLM) -> torch.Tensor:
    event = model.capabilities.event
    rows = torch.tensor(list(itertools.product(range(event.levels), repeat=event.shape[0])))
    return rows[event.contains(rows)].to(event.dtype)


def test_likelihood_is_the_chain_rule_of_the_unpadded_rows(tiny_dir: Path) -> None:
    model = _model(tiny_dir, max_new_tokens=10)
    prompts = ["a", "hgf:", "", "bb"]
    x = model.sample(4, condition=prompts, seed=6)
    ours = model.log_likelihood(x, prompts)
    for row, prompt in enumerate(prompts):
        ids = model.tokenizer(prompt)["input_ids"] or [model.description.bos]
        n = int(model.capabilities.event.lengths(x[row : row + 1]))
        tokens = x[row, :n].to(torch.int64).tolist()
        full = torch.tensor([ids + tokens])
        with torch.no_grad():
            logp = model.lm(input_ids=full).logits[0].double().log_softmax(-1)
        by_hand = sum(float(logp[len(ids) - 1 + t, tok]) for t, tok in enumerate(tokens))
        assert float(ours[row]) == pytest.approx(by_hand, abs=1e-4)


@pytest.mark.parametrize("prompt", ["", "a", "bab"])
def test_probabilities_of_every_sequence_sum_to_one(two_letters: Path, prompt: str) -> None:
    model = _model(two_letters, max_new_tokens=3)
    every = _every_sequence(model)
    total = model.log_likelihood(every, prompt).double().exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("options", [
    {"temperature": 0.6},
    {"top_k": 2},
    {"top_p": 0.7, "temperature": 1.5},
    {"repetition_penalty": 2.0},
    {"min_p": 0.3},
])
def test_the_sampling_distribution_also_sums_to_one(two_letters: Path,
                                                    options: dict[str, float]) -> None:
    model = _model(two_letters, max_new_tokens=3)
    every = _every_sequence(model)
    warped = model.log_likelihood(every, "ab", distribution="sampling", **options)
    assert float(warped.double().exp().sum()) == pytest.approx(1.0, abs=1e-5)
    assert not torch.allclose(warped, model.log_likelihood(every, "ab"))


def test_sampling_frequencies_follow_the_warped_likelihood(two_letters: Path) -> None:
    """20,000 draws against the exact warped probabilities, every cell within its Bernstein
    radius (false-alarm rate 1e-3 over all cells; fixed seed, so deterministic)."""
    from genproto.testing.stats import cell_fit

    model = _model(two_letters, max_new_tokens=3)
    options = {"temperature": 0.8, "top_p": 0.95, "repetition_penalty": 1.3}
    every = _every_sequence(model)
    probs = model.log_likelihood(every, "a", distribution="sampling", **options).double().exp()
    drawn = model.sample(20_000, condition="a", seed=12, **options)
    index = {tuple(row): i for i, row in enumerate(every.tolist())}
    counts = torch.bincount(torch.tensor([index[tuple(r)] for r in drawn.tolist()]),
                            minlength=len(every))
    assert int(counts[probs == 0].sum()) == 0  # nothing the warped model rules out
    fit = cell_fit(counts, probs, delta=1e-3, slack=None)
    assert fit.passed, fit


def test_likelihood_options_are_checked(gpt2_dir: Path) -> None:
    model = _model(gpt2_dir, max_new_tokens=4)
    x = model.sample(2, condition="a", seed=0)
    with pytest.raises(InvalidArgumentError, match="distribution='sampling'"):
        model.log_likelihood(x, "a", temperature=0.5)
    with pytest.raises(InvalidArgumentError, match="temperature > 0"):
        model.log_likelihood(x, "a", distribution="sampling", temperature=0.0)


def test_likelihood_does_not_depend_on_batch_size_or_padding(tiny_dir: Path) -> None:
    model = _model(tiny_dir, max_new_tokens=10)
    prompts = ["a", "hgfedcba", "", "c", "ab", "h:"]
    x = model.sample(6, condition=prompts, seed=1)
    whole = model.log_likelihood(x, prompts)
    single = model.log_likelihood(x, prompts, batch_size=1)
    assert torch.allclose(whole, single, atol=1e-5)
