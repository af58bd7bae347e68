"""Loading a folder: what it declares, typed errors for every unfit folder, never the network."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
import torch
from genproto_transformers.model import HFCausalLM

from genproto import registry
from genproto.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    ConditionError,
    InputError,
    InvalidArgumentError,
    OptionError,
)
from genproto.protocol import ConditionKind, CostGrowth, Layout


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_capabilities_follow_the_folder_and_the_options(gpt2_dir: Path) -> None:
    entry = registry.default().entry("hf-causal-lm")
    caps = entry.capabilities_for(path=str(gpt2_dir), max_new_tokens=9)
    assert caps.event.shape == (9,)
    assert caps.event.layout is Layout.TOKENS
    assert caps.event.levels == 11  # stop, <unk>, 9 characters
    assert caps.event.stop == 0
    assert caps.event.pad == 0
    assert caps.cost.growth is CostGrowth.PER_TOKEN
    assert caps.cost.bound
    assert caps.cost.units == 9
    assert caps.condition is not None
    assert caps.condition.kind is ConditionKind.TEXT
    tokens = entry.capabilities_for(path=str(gpt2_dir), prompt="tokens").condition
    assert tokens is not None
    assert tokens.kind is ConditionKind.TOKENS
    assert tokens.max_length == 64 - 32
    assert tokens.vocab_size == 11
    model = registry.get("hf-causal-lm", path=str(gpt2_dir), max_new_tokens=9, device="cpu")
    assert model.capabilities == caps


def test_model_loads_in_its_dtype_on_the_chosen_device(gpt2_dir: Path) -> None:
    model = registry.get("hf-causal-lm", path=str(gpt2_dir), device="cpu", dtype="bfloat16")
    assert isinstance(model, HFCausalLM)
    assert next(model.lm.parameters()).dtype == torch.bfloat16
    assert model.device == torch.device("cpu")
    auto = registry.get("hf-causal-lm", path=str(gpt2_dir))
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert auto.device.type == expected  # type: ignore[attr-defined]
    assert next(auto.lm.parameters()).dtype == torch.float32  # type: ignore[attr-defined]


def test_loading_never_opens_a_socket(gpt2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("genproto-transformers tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model = registry.get("hf-causal-lm", path=str(gpt2_dir), device="cpu", max_new_tokens=4)
    model.sample(2, condition="ab", seed=0)


def test_no_path_names_the_option() -> None:
    with pytest.raises(OptionError, match="needs option 'path'") as info:
        registry.get("hf-causal-lm")
    assert "path=DIR" in str(info.value)


def test_a_missing_folder_is_not_found_and_never_a_hub_id(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match="no model folder") as info:
        registry.get("hf-causal-lm", path=str(tmp_path / "gpt2"))
    assert "never downloads" in str(info.value)
    with pytest.raises(CheckpointNotFoundError):
        registry.get("hf-causal-lm", path="openai-community/gpt2")  # a hub id is not a folder


def test_a_model_that_is_not_causal_is_refused(tmp_path: Path) -> None:
    from genproto_transformers.chars import char_tokenizer
    from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

    DistilBertModel(DistilBertConfig(vocab_size=11, dim=8, n_layers=1, n_heads=2,
                                     hidden_dim=8)).save_pretrained(tmp_path / "distil")
    char_tokenizer("abcdefgh:").save_pretrained(tmp_path / "distil")
    with pytest.raises(CheckpointError, match="not a causal language model") as info:
        registry.get("hf-causal-lm", path=str(tmp_path / "distil"))
    assert "'distilbert'" in str(info.value)
    # BERT has a causal-LM class, but only as a decoder: saved as an encoder it looks both ways
    BertModel(BertConfig(vocab_size=11, hidden_size=8, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=8)).save_pretrained(
        tmp_path / "bert")
    char_tokenizer("abcdefgh:").save_pretrained(tmp_path / "bert")
    with pytest.raises(CheckpointError, match="without is_decoder=true"):
        registry.get("hf-causal-lm", path=str(tmp_path / "bert"))


def test_pickle_only_weights_are_refused_unread(gpt2_dir: Path, tmp_path: Path) -> None:
    folder = _copy(gpt2_dir, tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not even read")
    with pytest.raises(CheckpointError, match="pickle weights only") as info:
        registry.get("hf-causal-lm", path=str(folder))
    assert "save_pretrained" in str(info.value)


def test_missing_weights_config_or_tokenizer_each_name_the_fix(gpt2_dir: Path,
                                                               tmp_path: Path) -> None:
    for name, message, fix in [
        ("model.safetensors", "has no weights", "save_pretrained"),
        ("config.json", "has no config.json", "save_pretrained"),
        ("tokenizer.json", "has no tokenizer", "tokenizer.save_pretrained"),
    ]:
        folder = _copy(gpt2_dir, tmp_path / name)
        (folder / name).unlink()
        if name == "tokenizer.json":
            (folder / "tokenizer_config.json").unlink()
        with pytest.raises(CheckpointError, match=message) as info:
            registry.get("hf-causal-lm", path=str(folder))
        assert fix in str(info.value)


def test_damaged_files_are_typed_errors(gpt2_dir: Path, tmp_path: Path) -> None:
    folder = _copy(gpt2_dir, tmp_path / "a")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read"):
        registry.get("hf-causal-lm", path=str(folder))
    folder = _copy(gpt2_dir, tmp_path / "b")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="cannot load the model"):
        registry.get("hf-causal-lm", path=str(folder))
    folder = _copy(gpt2_dir, tmp_path / "c")
    (folder / "tokenizer.json").write_text("[]")
    with pytest.raises(CheckpointError, match="tokenizer"):
        registry.get("hf-causal-lm", path=str(folder))


def test_a_model_without_an_end_token_is_refused(gpt2_dir: Path, tmp_path: Path) -> None:
    folder = _copy(gpt2_dir, tmp_path)
    for name in ("config.json", "generation_config.json"):
        data = json.loads((folder / name).read_text())
        data.pop("eos_token_id", None)
        (folder / name).write_text(json.dumps(data))
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("eos_token", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="no end-of-sequence token") as info:
        registry.get("hf-causal-lm", path=str(folder))
    assert "eos_token_id" in str(info.value)


def test_lengths_that_do_not_fit_the_positions_are_refused(gpt2_dir: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="max_new_tokens"):
        registry.get("hf-causal-lm", path=str(gpt2_dir), max_new_tokens=64)
    model = registry.get("hf-causal-lm", path=str(gpt2_dir), max_new_tokens=60, device="cpu")
    with pytest.raises(ConditionError, match="leaves no room") as info:
        model.sample(1, condition="abcdefgh", seed=0)
    assert "Shorten the prompt" in str(info.value)


def test_from_text_and_to_text_invert_each_other(gpt2_dir: Path) -> None:
    model = registry.get("hf-causal-lm", path=str(gpt2_dir), max_new_tokens=6, device="cpu")
    assert isinstance(model, HFCausalLM)
    texts = ["abc", "", "h:g", "hhhhh"]
    x = model.from_text(texts)
    assert x.dtype == model.capabilities.event.dtype
    assert model.capabilities.event.contains(x).all()
    assert model.to_text(x) == texts
    samples = model.sample(40, condition="a", seed=0)
    plain = samples[~(samples == 1).any(dim=1)]  # rows without <unk>, a special token to_text drops
    assert len(plain) >= 10
    assert torch.equal(model.from_text(model.to_text(plain)), plain)
    assert model.to_text(torch.ones((1, 6), dtype=samples.dtype)) == [""]  # <unk> only
    assert (model.from_text(["abcdef"]) != 0).all()  # 6 tokens: cut there, no stop
    with pytest.raises(InputError, match="tokens long"):
        model.from_text(["abcdefg"])  # 7 letters do not fit 6 tokens
    with pytest.raises(InputError, match="characters the vocabulary lacks"):
        model.from_text(["aXb"])
    with pytest.raises(InputError, match="a list of str"):
        model.from_text("abc")  # type: ignore[arg-type]


def test_saved_and_loaded_through_genproto(gpt2_dir: Path, tmp_path: Path) -> None:
    import genproto

    model = registry.get("hf-causal-lm", path=str(gpt2_dir), max_new_tokens=5, device="cpu")
    assert isinstance(model, HFCausalLM)
    # GPT-2 ties its output layer to the token embedding: stored once, tied again on load
    assert "lm.lm_head.weight" not in model.state_tensors()
    model.save(tmp_path / "ckpt")
    again = genproto.load(tmp_path / "ckpt")
    assert torch.equal(again.sample(4, seed=1), model.sample(4, seed=1))
    assert again.weights_sha256() == model.weights_sha256()  # type: ignore[attr-defined]


def test_llama_tiny_has_its_own_output_layer(llama_dir: Path) -> None:
    model = registry.get("hf-causal-lm", path=str(llama_dir), device="cpu")
    assert isinstance(model, HFCausalLM)
    assert "lm.lm_head.weight" in model.state_tensors()
