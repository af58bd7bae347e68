"""Tiny random causal LMs saved like real ones: for tests, offline, in a second.

``save_tiny("gpt2", folder)`` writes a randomly initialised two-block model of the
named architecture and a character tokenizer (:mod:`.chars`) with ``save_pretrained``,
exactly the files a hub model has, so ``registry.get("hf-causal-lm", path=folder)``
runs the same code on it as on a downloaded one. The weights come from
``seeded_init(seed)`` (reproducible; the global RNG is untouched). A small alphabet
gives a vocabulary small enough to enumerate every sequence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

__all__ = ["ARCHITECTURES", "save_tiny"]

ARCHITECTURES = ("gpt2", "llama")


def _config(architecture: str, vocabulary: int, positions: int, width: int) -> Any:
    from transformers import GPT2Config, LlamaConfig

    if architecture == "gpt2":
        return GPT2Config(vocab_size=vocabulary, n_positions=positions, n_embd=width, n_layer=2,
                          n_head=2, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return LlamaConfig(vocab_size=vocabulary, max_position_embeddings=positions,
                       hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, bos_token_id=0,
                       eos_token_id=0, pad_token_id=0, tie_word_embeddings=False)


def save_tiny(
    architecture: Literal["gpt2", "llama"], folder: str | Path, *, alphabet: str = "abcdefgh:",
    positions: int = 64, width: int = 32, seed: int = 0, scale: float = 1.0,
) -> Path:
    """Save a random ``architecture`` model over ``alphabet`` (+ 2 special tokens) to ``folder``.

    ``scale`` multiplies the output layer's weights: above 1 the conditionals are
    sharper (a random small model is otherwise nearly uniform, which tests of
    conditioning cannot tell from a model that ignores its prompt).
    """
    import torch
    from transformers import AutoModelForCausalLM

    from genproto.training import seeded_init
    from genproto_transformers.chars import char_tokenizer

    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    tokenizer = char_tokenizer(alphabet)
    with seeded_init(seed):
        auto: Any = AutoModelForCausalLM  # untyped in transformers
        model = auto.from_config(
            _config(architecture, len(tokenizer), positions, width)
        )
    if scale != 1.0:
        with torch.no_grad():
            model.get_output_embeddings().weight.mul_(scale)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
