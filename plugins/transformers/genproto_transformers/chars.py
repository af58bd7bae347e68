"""A character-level tokenizer built with the ``tokenizers`` API, saved in Hugging Face format.

Every character of ``alphabet`` is one token; ``<|endoftext|>`` (id 0) is the
beginning, end and padding token, as in GPT-2, and the post-processor puts it in
front of every encoded text (``add_special_tokens=True``), so a prompt ``"female:"``
is ``<|endoftext|> f e m a l e :``. ``<unk>`` (id 1) stands for a character outside
the alphabet. Decoding joins the characters without spaces.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BOUNDARY", "UNKNOWN", "char_tokenizer"]

BOUNDARY = "<|endoftext|>"
UNKNOWN = "<unk>"


def char_tokenizer(alphabet: str) -> Any:
    """A ``PreTrainedTokenizerFast``: ids 0 ``<|endoftext|>``, 1 ``<unk>``, then ``alphabet``."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if len(set(alphabet)) != len(alphabet) or not alphabet:
        raise ValueError(f"alphabet must be distinct characters, got {alphabet!r}")
    vocab = {BOUNDARY: 0, UNKNOWN: 1, **{c: i + 2 for i, c in enumerate(alphabet)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNKNOWN))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOUNDARY} $A", special_tokens=[(BOUNDARY, 0)]
    )
    core.decoder = decoders.Fuse()
    fast: Any = PreTrainedTokenizerFast  # untyped in transformers
    return fast(
        tokenizer_object=core, bos_token=BOUNDARY, eos_token=BOUNDARY, pad_token=BOUNDARY,
        unk_token=UNKNOWN,
    )
