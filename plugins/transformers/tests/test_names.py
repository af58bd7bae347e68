"""The shipped ``names`` model: Hugging Face format, size, quality, training and export."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from genproto_transformers.names import ALPHABET, NamesLM, shipped_folder

from genproto import registry
from genproto.data.names import NAMES_LISTS, load_names
from genproto.training import TrainSettings, fit


@pytest.fixture(scope="module")
def names() -> NamesLM:
    model = registry.get("names", device="cpu")
    assert isinstance(model, NamesLM)
    return model


def test_the_shipped_folder_is_plain_hugging_face_format() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = shipped_folder()
    assert (folder / "model.safetensors").stat().st_size <= 5 * 2**20
    assert not list(folder.glob("*.bin"))
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert model.config.model_type == "gpt2"
    assert tokenizer("female:")["input_ids"] == [0, *(ALPHABET.index(c) + 2 for c in "female:")]
    assert tokenizer.decode(tokenizer("mary")["input_ids"], skip_special_tokens=True) == "mary"


def test_prompts_name_the_list_and_samples_are_names(names: NamesLM) -> None:
    """On the shipped weights: nearly every sample is letters and a stop, most are real names of
    the list asked for (figures measured in docs/plugins/transformers.md are far above these)."""
    for which in NAMES_LISTS:
        texts = names.to_text(names.sample(200, condition=which, seed=0))
        everyone = set(load_names("all", which).names)
        valid = [t for t in texts if t.isalpha() and t.islower()]
        assert len(valid) >= 190, which
        assert sum(t in everyone for t in valid) >= 100, which


def test_list_accuracy_of_the_reference_classifier(names: NamesLM) -> None:
    from genproto.metrics.names_classifier import list_accuracy

    accuracy = [list_accuracy(names.to_text(names.sample(300, condition=which, seed=1)), which)
                for which in NAMES_LISTS]
    assert sum(accuracy) / 3 >= 0.6, accuracy


def test_unprompted_samples_write_the_list_too(names: NamesLM) -> None:
    texts = names.to_text(names.sample(60, seed=2))
    prefixes = {t.partition(":")[0] for t in texts if ":" in t}
    assert prefixes <= set(NAMES_LISTS)
    assert len(prefixes) == 3


def test_likelihood_beats_uniform_letters_on_test_names(names: NamesLM) -> None:
    data = load_names("test", "female")
    x = names.from_text(data.names[:300])
    nats = names.log_likelihood(x, "female")
    lengths = names.capabilities.event.lengths(x).double()
    uniform = -(lengths * torch.log(torch.tensor(28.0))).mean()
    assert float(nats.double().mean()) > float(uniform) + 5.0


def test_training_is_reproducible_and_exports_to_hugging_face(tmp_path: Path) -> None:
    from genproto_transformers.export import export

    settings = TrainSettings(steps=3, batch_size=16, lr=1e-3, seed=0, save_every=3,
                             report_every=100)
    weights = []
    for run in ("a", "b"):
        model = registry.get("names", pretrained=False, device="cpu")
        fit(model, tmp_path / run, settings=settings, progress=False)  # type: ignore[arg-type]
        weights.append(model.state_tensors())  # type: ignore[attr-defined]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    fresh = registry.get("names", pretrained=False, device="cpu").state_tensors()  # type: ignore[attr-defined]
    assert not all(torch.equal(fresh[k], weights[0][k]) for k in fresh)
    folder = export(tmp_path / "a" / "model", tmp_path / "hf")
    again = registry.get("hf-causal-lm", path=str(folder), device="cpu", max_new_tokens=24)
    assert all(torch.equal(again.state_tensors()[k], weights[0][k])  # type: ignore[attr-defined]
               for k in weights[0])
