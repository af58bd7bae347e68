"""Registers ``hf-causal-lm`` (any local causal LM) and ``names`` (shipped, trained here)."""

from __future__ import annotations

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.options import Option
from genproto_transformers.model import HFCausalLM, capabilities
from genproto_transformers.names import NamesLM

OPTIONS = (
    Option("path", str, None, "a local folder written by save_pretrained (never a hub id)",
           nullable=True),
    Option("max_new_tokens", int, 32, "the most tokens a sample has, its stop included",
           minimum=1, maximum=2**16),
    Option("prompt", str, "text", "what a condition is: a text prompt or token ids",
           choices=("text", "tokens")),
    Option("prompt_suffix", str, "", "appended to a text prompt that does not end with it"),
    Option("dtype", str, "auto", "weights and activations: as saved, or converted",
           choices=("auto", "float32", "bfloat16", "float16")),
    Option("device", str, "auto", "auto (a GPU when there is one), cpu, cuda or cuda:N"),
)


@hookimpl
def register_models(register: Any) -> None:
    register("hf-causal-lm", HFCausalLM, capabilities=capabilities, options=OPTIONS,
             description="any local Hugging Face causal LM (exact likelihood, KV-cache "
             "sampling with keyed draws, prompts as conditions)")
    register("names", NamesLM, capabilities=names_capabilities, options=NAMES_OPTIONS,
             description="character GPT-2 trained on the 1990 US Census names; prompt: "
             "female, male or surname (exact likelihood)")


NAMES_OPTIONS = (
    Option("pretrained", bool, True, "the shipped weights (False: a fresh initialisation, "
           "where `genproto train names` starts)"),
    Option("init_seed", int, 0, "seed of a fresh initialisation", minimum=0, maximum=2**63 - 1),
    Option("device", str, "auto", "auto (a GPU when there is one), cpu, cuda or cuda:N"),
)


def names_capabilities() -> Any:
    """The shipped folder's declarations: 24 characters at most, prompted by the list."""
    import attrs

    from genproto_transformers.names import MAX_NEW_TOKENS, OBJECTIVE, shipped_folder

    return attrs.evolve(capabilities(str(shipped_folder()), MAX_NEW_TOKENS, "text", "float32"),
                        objective=OBJECTIVE)
