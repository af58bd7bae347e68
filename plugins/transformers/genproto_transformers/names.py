"""``names``: a small character-level GPT-2 that writes 1990 US Census names, given the list.

The model is an ordinary transformers ``GPT2LMHeadModel`` with a character tokenizer
(:mod:`.chars`), saved in Hugging Face format in ``weights/names`` -- any transformers
user can load it with ``AutoModelForCausalLM.from_pretrained`` -- and wrapped by
:class:`~genproto_transformers.model.HFCausalLM` like any other causal LM. A training
sequence is ``<|endoftext|> list : name <|endoftext|>``, for instance
``<|endoftext|>female:mary<|endoftext|>``; the prompt is the list's name (the ``":"``
is added, ``prompt_suffix``), so ``genproto sample names --condition female`` writes
female first names, and an unprompted sample writes ``list:name`` itself.

**Data.** The census lists are a known distribution (:mod:`genproto.data.names`):
``p(name | list)`` is the published frequency. The training set is a fixed draw, with
replacement and by frequency, of 200,000 names from each list's *train* split
(``torch.Generator`` seeded with 0; the global RNG is untouched), so the model learns
the population distribution restricted to the train names; the test names stay
unseen, and the cross-entropy to the truth on them measures generalisation. The three
lists are equally represented, so an unprompted sample picks a list with probability
about 1/3.

**Training** (``genproto train names -o DIR``): next-character cross-entropy over the
list, the colon, the name and its stop (not over padding), AdamW with warm-up and
cosine decay, no dropout (transformers' dropout draws from the global RNG). The shipped
weights come from the default settings; ``python -m genproto_transformers.export DIR/model``
writes them back in Hugging Face format.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import torch
import torch.nn.functional as F

from genproto.data.dataset import Dataset
from genproto.data.names import NAMES_LISTS, load_names
from genproto.protocol import EventSpace
from genproto.training import (
    Batch,
    TrainSettings,
    require_setup,
    transformer_adamw,
    warmup_cosine,
)
from genproto_transformers.chars import char_tokenizer
from genproto_transformers.model import HFCausalLM

__all__ = ["ALPHABET", "MAX_NEW_TOKENS", "OBJECTIVE", "NamesLM", "names_config", "shipped_folder",
           "write_untrained"]

#: The characters of the names and the prompts ("female:", "male:", "surname:").
ALPHABET = ":abcdefghijklmnopqrstuvwxyz"
#: Enough for an unprompted sample: "surname:" (8) + the longest name (13) + the stop.
MAX_NEW_TOKENS = 24
#: Training sequences: "surname:" + 13 letters + the stop (the BOS is put in front).
SEQUENCE = 22
DRAWS_PER_LIST = 200_000
#: What ``names`` declares as its training objective.
OBJECTIVE = ("next-character cross-entropy on frequency-weighted draws of the Census train "
             "names, prompted by the list (female:, male:, surname:)")
#: Test names per list in a training report.
REPORT_NAMES = 2_000
_TOKEN = {c: i + 2 for i, c in enumerate(ALPHABET)}


def names_config() -> Any:
    """The architecture: 4 blocks of width 128, 4 heads, 40 positions, 29 tokens, no dropout."""
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(ALPHABET) + 2, n_positions=40, n_embd=128, n_layer=4, n_head=4,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
        pad_token_id=0,
    )


def shipped_folder() -> Path:
    """The Hugging Face folder inside this package holding the trained model."""
    return Path(str(resources.files("genproto_transformers").joinpath("weights", "names")))


def write_untrained(folder: str | Path, *, init_seed: int = 0) -> Path:
    """Write the architecture, a fresh initialisation and the tokenizer to ``folder``."""
    from transformers import GPT2LMHeadModel

    from genproto.training import seeded_init

    folder = Path(folder)
    with seeded_init(init_seed):
        model = GPT2LMHeadModel(names_config())
    model.save_pretrained(folder)
    char_tokenizer(ALPHABET).save_pretrained(folder)
    return folder


def _encode(prefix: str, name: str) -> list[int]:
    return [_TOKEN[c] for c in f"{prefix}:{name}"] + [0]


class NamesLM(HFCausalLM):
    """The shipped ``names`` model: :class:`HFCausalLM` over ``weights/names``, trainable."""

    def __init__(self, *, pretrained: bool = True, init_seed: int = 0, device: str = "auto",
                 path: str | None = None) -> None:
        super().__init__(
            path=str(shipped_folder() if path is None else path),
            max_new_tokens=MAX_NEW_TOKENS, prompt="text", prompt_suffix=":", dtype="float32",
            device=device, name="names", pretrained=pretrained, init_seed=init_seed,
        )
        self._capabilities = attrs.evolve(self.capabilities, objective=OBJECTIVE)
        self._optimizer: torch.optim.Optimizer | None = None
        self._settings: TrainSettings | None = None

    # -- genproto.training.Trainable ---------------------------------------------------------

    def training_data(self) -> Dataset:
        """200,000 frequency-weighted draws from each list's train split, as token rows."""
        generator = torch.Generator().manual_seed(0)
        parts: list[torch.Tensor] = []
        for which in NAMES_LISTS:
            data = load_names("train", which)
            table = torch.zeros((len(data.names), SEQUENCE), dtype=torch.int64)
            for i, name in enumerate(data.names):
                row = _encode(which, name)
                table[i, : len(row)] = torch.tensor(row)
            picks = torch.multinomial(data.probs, DRAWS_PER_LIST, replacement=True,
                                      generator=generator)
            parts.append(table[picks])
        x = torch.cat(parts)
        labels = torch.arange(len(NAMES_LISTS)).repeat_interleave(DRAWS_PER_LIST)
        return Dataset(x, labels, "names/train (frequency draws)",
                       EventSpace.sequence(SEQUENCE, len(ALPHABET) + 2, stop=0, pad=0,
                                           storage=torch.int64), num_classes=len(NAMES_LISTS))

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=5000, batch_size=128, lr=2e-3, seed=0, save_every=1000,
                             report_every=2500)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        self.lm.train()
        self._optimizer = transformer_adamw(self.lm, lr=settings.lr)
        self._settings = settings
        return {"adamw": self._optimizer}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizer = require_setup(self._optimizer, model=self.name)
        settings = require_setup(self._settings, model=self.name)
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps, warmup=200,
                           floor=0.05)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x = batch.x.to(self.device)
        inputs = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)  # BOS in front
        counted = (x == 0).to(torch.int64).cumsum(dim=1) - (x == 0).to(torch.int64) == 0
        logits = self.lm(input_ids=inputs, attention_mask=torch.ones_like(inputs)).logits
        loss: torch.Tensor = F.cross_entropy(logits[counted], x[counted])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.lm.parameters(), 1.0)
        optimizer.step()
        return {"loss": float(loss.detach()), "lr": lr}

    def training_report(self) -> Mapping[str, float]:
        """Per list: nats per test name under the model minus under the truth, on the first
        2,000 test names of each list (all of female's 855 and male's 244), weighted by the
        truth; the full measurement is ``genproto compare``'s (docs/text-metrics.md)."""
        was_training = self.lm.training
        self.lm.eval()
        report: dict[str, float] = {}
        for which in NAMES_LISTS:
            data = load_names("test", which)
            names, probs = data.names[:REPORT_NAMES], data.probs[:REPORT_NAMES]
            weights = probs / probs.sum()
            x = self.from_text(names)
            q = self.log_likelihood(x, which, batch_size=4096).double()
            p = probs.log()
            report[f"{which}_excess_nats"] = float((weights * (p - q)).sum())
        self.lm.train(was_training)
        return report
