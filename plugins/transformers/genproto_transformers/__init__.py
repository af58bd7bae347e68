"""genproto-transformers: any local Hugging Face causal language model behind the protocol.

``genproto.registry.get("hf-causal-lm", path="DIR")`` wraps the model saved in ``DIR``
(:class:`~genproto_transformers.model.HFCausalLM`); ``registry.get("names")`` is the
shipped character-level GPT-2 that writes census names. No network access, ever.
"""

from genproto_transformers.model import HFCausalLM

__all__ = ["HFCausalLM"]
__version__ = "0.1.0"
