"""Read a causal language model and its tokenizer from a local ``save_pretrained`` folder.

Never the network: the folder must exist, every ``from_pretrained`` call passes
``local_files_only=True`` (and ``trust_remote_code=False``: no code from the folder runs),
and the weights must be safetensors (``use_safetensors=True``), because a pickle file
(``pytorch_model.bin``) can run arbitrary code when read. Each way a folder can be
unfit is refused with a :class:`~genproto.errors.CheckpointError` (or
:class:`~genproto.errors.CheckpointNotFoundError`) that names the folder and the fix,
before transformers gets to raise something of its own.

:func:`describe` reads only the JSON files (config, generation config, tokenizer
config): what the registry needs to declare the model's capabilities without loading
its weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import torch

from genproto.errors import CheckpointError
from genproto.local_folder import local_folder, read_json_object, resolve_device

__all__ = ["Description", "describe", "load_pretrained", "quiet", "resolve_device", "resolve_dtype"]

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
_PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@attrs.frozen
class Description:
    """What a model folder declares, read from its JSON files only.

    Attributes:
        folder: the resolved folder.
        model_type: the config's ``model_type`` (``"gpt2"``, ``"llama"``, ...).
        vocabulary: the width of the model's logits (``config.vocab_size``): every token id
            it can emit, tokenizer-less padding rows included.
        eos: the end-of-sequence id that ends a sample (the first when several are declared).
        bos: the id an unprompted sample starts from (the beginning-of-sequence id, else
            ``eos``, as GPT-2 does).
        pad: the id after the stop (the tokenizer's pad id when it has one, else ``eos``).
        positions: the longest sequence the model accepts (``None``: not declared).
    """

    folder: Path
    model_type: str
    vocabulary: int
    eos: int
    bos: int
    pad: int
    positions: int | None


_FIX = "Re-save the model with save_pretrained(DIR)"


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_object(path, fix=_FIX)


def _first_id(value: Any) -> int | None:
    """A token id from a config field that may hold an int, a list of ints or nothing."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def describe(path: str | Path | None) -> Description:
    """Read a model folder's declarations (no weights); typed errors for an unfit folder."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    folder = local_folder(
        path, model="hf-causal-lm",
        contents="config.json, model.safetensors, tokenizer files",
        example="registry.get('hf-causal-lm', path='my-model') or "
        "`genproto sample hf-causal-lm -M path=my-model`",
        save="save the model with model.save_pretrained(DIR) and "
        "tokenizer.save_pretrained(DIR)",
    )
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise CheckpointError(
            f"{folder} has no config.json", value=str(folder),
            fix="Save the model with model.save_pretrained(DIR)",
        )
    config = _read_json(config_file)
    model_type = config.get("model_type")
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise CheckpointError(
            f"{folder} holds a {model_type!r} model, which is not a causal language model",
            value=model_type,
            allowed="a model type AutoModelForCausalLM builds (gpt2, llama, qwen2, mistral, ...)",
            fix="Point path at a causal LM (a decoder that predicts the next token)",
        )
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and config.get("is_decoder") is not True:
        raise CheckpointError(
            f"{folder} holds a {model_type!r} encoder saved without is_decoder=true: its "
            "attention looks both ways, so it is not a causal language model",
            value=model_type, allowed="a decoder (is_decoder=true), or a causal LM type",
            fix="Use a causal LM, or a decoder configuration of this family saved with "
            "is_decoder=True",
        )
    _check_weights(folder)
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise CheckpointError(
            f"{folder} has no tokenizer", value=str(folder),
            allowed=f"one of {', '.join(_TOKENIZER_FILES)}",
            fix="Save the tokenizer beside the model: tokenizer.save_pretrained(DIR)",
        )
    generation = folder / "generation_config.json"
    gen = _read_json(generation) if generation.is_file() else {}
    tok_file = folder / "tokenizer_config.json"
    tok = _read_json(tok_file) if tok_file.is_file() else {}
    nested = config.get("text_config")
    text: dict[str, Any] = nested if isinstance(nested, dict) else {}
    vocabulary = config.get("vocab_size", text.get("vocab_size"))
    if not isinstance(vocabulary, int) or vocabulary < 2:
        raise CheckpointError(f"{config_file}: vocab_size", value=vocabulary,
                              allowed="an int >= 2", fix="Re-save the model's config")
    eos = _first_id(gen.get("eos_token_id"))
    eos = eos if eos is not None else _first_id(config.get("eos_token_id"))
    eos = eos if eos is not None else _token_id(folder, tok.get("eos_token"))
    if eos is None or not 0 <= eos < vocabulary:
        raise CheckpointError(
            f"{folder} declares no end-of-sequence token a sample could stop at", value=eos,
            allowed=f"an eos_token_id in 0..{vocabulary - 1}",
            fix="Set eos_token_id in config.json or generation_config.json",
        )
    bos = _first_id(gen.get("bos_token_id"))
    bos = bos if bos is not None else _first_id(config.get("bos_token_id"))
    bos = bos if bos is not None else _token_id(folder, tok.get("bos_token"))
    pad = _first_id(gen.get("pad_token_id"))
    pad = pad if pad is not None else _first_id(config.get("pad_token_id"))
    pad = pad if pad is not None else _token_id(folder, tok.get("pad_token"))
    positions = config.get("n_positions", config.get("max_position_embeddings"))
    return Description(
        folder=folder,
        model_type=str(model_type),
        vocabulary=vocabulary,
        eos=eos,
        bos=bos if bos is not None and 0 <= bos < vocabulary else eos,
        pad=pad if pad is not None and 0 <= pad < vocabulary else eos,
        positions=positions if isinstance(positions, int) and positions > 0 else None,
    )


def _token_id(folder: Path, token: Any) -> int | None:
    """The id of a special token named in tokenizer_config.json, from tokenizer.json."""
    if isinstance(token, dict):
        token = token.get("content")
    path = folder / "tokenizer.json"
    if not isinstance(token, str) or not path.is_file():
        return None
    data = _read_json(path)
    for added in data.get("added_tokens", []):
        if isinstance(added, dict) and added.get("content") == token:
            return _first_id(added.get("id"))
    vocab = data.get("model", {}).get("vocab")
    return _first_id(vocab.get(token)) if isinstance(vocab, dict) else None


def _check_weights(folder: Path) -> None:
    if any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").is_file():
        return
    pickled = [name for name in _PICKLE_WEIGHTS if (folder / name).is_file()]
    if pickled:
        raise CheckpointError(
            f"{folder} holds pickle weights only ({', '.join(pickled)})", value=pickled[0],
            allowed="safetensors weights (model.safetensors)",
            fix="Convert once, from a trusted copy: AutoModelForCausalLM.from_pretrained(DIR)"
            ".save_pretrained(DIR) writes model.safetensors (reading pickle can run code, so "
            "genproto never does)",
        )
    raise CheckpointError(
        f"{folder} has no weights", value=str(folder), allowed="model.safetensors",
        fix="Save the model with model.save_pretrained(DIR)",
    )


def resolve_dtype(dtype: str) -> torch.dtype | str:
    """``"auto"`` keeps the dtype the weights were saved in; else the named float dtype."""
    return "auto" if dtype == "auto" else _DTYPES[dtype]


def load_pretrained(description: Description, *, dtype: str, pretrained: bool = True,
                    init_seed: int = 0) -> tuple[Any, Any]:
    """The model (eval mode, on the CPU) and tokenizer of a described folder, offline.

    ``pretrained=False`` builds the folder's architecture with fresh weights instead
    (initialised under ``seeded_init(init_seed)``: reproducible, global RNG untouched):
    where ``genproto train`` starts.
    """
    folder = str(description.folder)
    with quiet():
        return _load(folder, description, dtype=dtype, pretrained=pretrained,
                     init_seed=init_seed)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """transformers' progress bars off while loading (a bar per load is noise), then as they
    were."""
    from transformers.utils import logging as hf_logging

    logging: Any = hf_logging  # untyped in transformers
    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


def _load(folder: str, description: Description, *, dtype: str, pretrained: bool,
          init_seed: int) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoTokenizer
    from transformers import AutoModelForCausalLM as auto_lm

    from genproto.training import seeded_init

    AutoModelForCausalLM: Any = auto_lm  # untyped in transformers
    model: Any
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True,
                                                  trust_remote_code=False)
    except Exception as exc:  # transformers raises many types for an unreadable tokenizer
        raise CheckpointError(
            f"cannot read the tokenizer in {folder}: {type(exc).__name__}: {exc}",
            fix="Save a fast tokenizer beside the model: tokenizer.save_pretrained(DIR)",
        ) from None
    try:
        if pretrained:
            model = AutoModelForCausalLM.from_pretrained(
                folder, local_files_only=True, trust_remote_code=False, use_safetensors=True,
                dtype=resolve_dtype(dtype),
            )
        else:
            config = AutoConfig.from_pretrained(folder, local_files_only=True,
                                                trust_remote_code=False)
            with seeded_init(init_seed):
                model = AutoModelForCausalLM.from_config(config)
            if dtype != "auto":
                model.to(_DTYPES[dtype])
    except Exception as exc:
        raise CheckpointError(
            f"cannot load the model in {folder}: {type(exc).__name__}: {exc}",
            fix="Re-save it with model.save_pretrained(DIR) (safetensors)",
        ) from None
    model.eval()
    model.generation_config.pad_token_id = description.pad
    return model, tokenizer
