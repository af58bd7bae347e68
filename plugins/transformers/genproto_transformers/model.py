"""Any local Hugging Face causal language model as a genproto autoregressive model.

The maths is the chain rule: for a prompt ``c`` and a continuation ``x_1 .. x_T`` ended
by the end-of-sequence token (or cut at ``max_new_tokens``)::

    log p(x | c) = sum_t log p(x_t | c, x_<t)

which the network gives exactly, one softmax per position (Bengio et al. 2003, "A
Neural Probabilistic Language Model"; Radford et al. 2019, GPT-2). Sampling draws
``x_t`` from that conditional, one token a network call, with transformers' key/value
cache; the likelihood scores a whole row in one call. A row that was cut at the
maximum length has no stop factor, so the probabilities of all sequences the event
admits (stopped ones, and unstopped ones of full length) sum to one per prompt -- the
normalisation the contract suite checks.

**What genproto adds to** ``generate``: every draw is a keyed one
(``streams.categorical(scores, method="inverse")``: one uniform a token, whatever the
vocabulary), so token ``t`` of sample ``i`` depends only on ``(seed, i)``, the prompt
and the options, never on the batch; the batch's prompts are left-padded with an
attention mask and position ids; rows that reach the stop leave the batch (their cache
rows are dropped) and stop costing; the evaluations each sample waited for are
counted; sampling options are transformers' own logits processors (:mod:`.warping`),
and ``log_likelihood(..., distribution="sampling")`` scores under the same warped
conditionals, so likelihood and sampler agree under any options.

Conditions are a text prompt (the model's tokenizer, with its special tokens: a Llama
tokenizer adds its BOS, GPT-2's adds nothing) or, with ``prompt="tokens"``, token ids
right-padded with the pad id (trailing pad ids are dropped). No prompt, an empty one or
``condition=None`` starts from the BOS token (GPT-2's ``<|endoftext|>``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from genproto.errors import CheckpointError, ConditionError, InputError, InvalidArgumentError
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import (
    BatchCondition,
    BatchTolerance,
    Capabilities,
    ConditionSpec,
    EventSpace,
    Likelihood,
    Paradigm,
    SampleCost,
)
from genproto.streams import KeyedStreams
from genproto_transformers.loading import Description, describe, load_pretrained, resolve_device
from genproto_transformers.warping import WARP_OPTIONS, Warper, is_identity, neutral_history

__all__ = ["HFCausalLM", "capabilities"]

OBJECTIVE = "next-token cross-entropy (the chain rule; however the folder's model was trained)"
SAMPLING = ("one token per call with the KV cache after a prompt pass; keyed inverse-CDF draws "
            "through transformers' logits processors; a row stops at EOS and leaves the batch")
#: Prompt ids longer than this are refused where the model declares no maximum length.
DEFAULT_MAX_PROMPT = 4096
#: The measured share of tokens that move between batch sizes in reduced precision
#: (docs/plugins/transformers.md); float32 is bit for bit.
_REDUCED_FLIP_FRACTION = 0.02


def _condition_spec(prompt: str, description: Description | None, max_new_tokens: int
                    ) -> ConditionSpec:
    if prompt == "text":
        return ConditionSpec.text(description="text prompt (tokenized by the model's tokenizer)")
    positions = description.positions if description is not None else None
    longest = DEFAULT_MAX_PROMPT if positions is None else max(1, positions - max_new_tokens)
    return ConditionSpec.tokens(
        longest, pad_id=description.pad if description is not None else 0,
        vocab_size=description.vocabulary if description is not None else None,
        description="prompt token ids, right-padded with the pad id",
    )


def capabilities(
    path: str | None = None, max_new_tokens: int = 32, prompt: str = "text",
    dtype: str = "auto",
) -> Capabilities:
    """What the model in ``path`` declares, read from its JSON files (no weights loaded).

    Without a path (the registration's defaults) the vocabulary is a placeholder of two
    tokens: a configured model declares its own.
    """
    description = describe(path) if path is not None else None
    vocabulary, eos, pad = (
        (description.vocabulary, description.eos, description.pad)
        if description is not None else (2, 1, 1)
    )
    return Capabilities(
        Paradigm.AUTOREGRESSIVE,
        Likelihood.EXACT,
        SampleCost.per_token(max_new_tokens, bound=True),
        EventSpace.sequence(max_new_tokens, vocabulary, stop=eos, pad=pad),
        _condition_spec(prompt, description, max_new_tokens),
        objective=OBJECTIVE,
        sampling=SAMPLING,
        batch_tolerance=BatchTolerance(
            flip_fraction=0.0 if dtype in ("auto", "float32") else _REDUCED_FLIP_FRACTION
        ),
    )


class HFCausalLM(Model):
    """A ``transformers`` causal LM behind the protocol (see the module docstring).

    Args:
        path: a local folder written by ``save_pretrained`` (config.json, safetensors
            weights, tokenizer files).
        max_new_tokens: the most tokens a sample has, its stop included.
        prompt: ``"text"`` (str conditions) or ``"tokens"`` (id tensors).
        prompt_suffix: appended to every non-empty text prompt that does not end with it
            (``":"`` turns ``"female"`` into the names model's ``"female:"``).
        dtype: ``"auto"`` (as saved), ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        device: ``"auto"`` (the first GPU when there is one), ``"cpu"`` or ``"cuda[:N]"``.
    """

    likelihood_options = (
        Option("distribution", str, "model",
               "'model': log p(x | prompt); 'sampling': under the warped conditionals "
               "sample() draws from (the sampling options below)",
               choices=("model", "sampling")),
        *WARP_OPTIONS,
    )
    sample_options = WARP_OPTIONS

    def __init__(
        self,
        *,
        path: str | None = None,
        max_new_tokens: int = 32,
        prompt: str = "text",
        prompt_suffix: str = "",
        dtype: str = "auto",
        device: str = "auto",
        name: str = "hf-causal-lm",
        pretrained: bool = True,
        init_seed: int = 0,
    ) -> None:
        description = describe(path)
        super().__init__(capabilities(str(description.folder), max_new_tokens, prompt, dtype),
                         name=name)
        self.description = description
        self.max_new_tokens = max_new_tokens
        self.prompt_kind = prompt
        self.prompt_suffix = prompt_suffix
        self.lm, self.tokenizer = load_pretrained(description, dtype=dtype, pretrained=pretrained,
                                                  init_seed=init_seed)
        # transformers 5.24 renamed forward's ``past_key_values`` to ``cache`` (the old name
        # warns, and goes in 5.40): pass the cache under the name this version takes
        parameters = inspect.signature(type(self.lm).forward).parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"
        if description.positions is not None and description.positions <= max_new_tokens:
            raise InvalidArgumentError(
                f"model {name!r} option 'max_new_tokens'", value=max_new_tokens,
                allowed=f"below the model's {description.positions} positions (room for a "
                "prompt)", fix="Lower max_new_tokens",
            )
        self.to(resolve_device(device))

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"lm": self.lm}

    @property
    def folder(self) -> Path:
        """The model folder the configuration and tokenizer were read from."""
        return self.description.folder

    def bytes_per_sample(self, **options: Any) -> int:
        config = self.lm.config
        width = int(getattr(config, "hidden_size", getattr(config, "n_embd", 1024)))
        layers = int(getattr(config, "num_hidden_layers", getattr(config, "n_layer", 12)))
        length = 64 + self.max_new_tokens
        cache = 2 * layers * width * length * 4
        logits = 6 * self.description.vocabulary * 8  # scores, softmax and running sum
        return cache + logits + 16 * width * length

    # -- persistence: tied weights are stored once -------------------------------------------

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Every weight once: a tied output layer (GPT-2's ``lm_head`` = ``wte``) is left
        out, as ``save_pretrained`` does, since safetensors refuses shared storage."""
        seen: set[tuple[int, tuple[int, ...]]] = set()
        out: dict[str, torch.Tensor] = {}
        for key, value in super().state_tensors().items():
            identity = (value.data_ptr(), tuple(value.shape))
            if value.numel() and identity in seen:
                continue
            seen.add(identity)
            out[key] = value
        return out

    def load_state_tensors(self, tensors: Mapping[str, torch.Tensor]) -> None:
        from genproto.checkpoint import check_tensors_fit

        check_tensors_fit(tensors, self.state_tensors(), model=self.name)
        state = {k.removeprefix("lm."): v for k, v in tensors.items()}
        missing, unexpected = self.lm.load_state_dict(state, strict=False)
        tied = set(super().state_tensors()) - set(self.state_tensors())
        if unexpected or {f"lm.{k}" for k in missing} - tied:
            raise CheckpointError(
                f"weights do not fit model {self.name!r}",
                value=sorted(unexpected) or sorted(missing),
                fix="Load the checkpoint with the options it was saved with",
            )
        self.lm.tie_weights()
        self.lm.to(self.device)

    # -- prompts -----------------------------------------------------------------------------

    def _prompt_ids(self, condition: BatchCondition, rows: int) -> list[list[int]]:
        """Each row's prompt ids (at least the BOS token)."""
        bos = [self.description.bos]
        if condition is None:
            return [bos] * rows
        if self.prompt_kind == "tokens":
            pad = self.description.pad
            lists = []
            for row in condition.tolist():
                while row and row[-1] == pad:
                    row.pop()
                lists.append(row or bos)
            return lists
        texts = [self._with_suffix(t) for t in condition]
        encoded = self.tokenizer(texts, add_special_tokens=True)["input_ids"]
        return [ids or bos for ids in encoded]

    def _with_suffix(self, text: str) -> str:
        if text and self.prompt_suffix and not text.endswith(self.prompt_suffix):
            return text + self.prompt_suffix
        return text

    def _left_padded(self, prompts: Sequence[Sequence[int]], extra: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts left-padded to one length: ids ``(B, P)`` and the attention mask."""
        longest = max(len(p) for p in prompts)
        limit = self.description.positions
        if limit is not None and longest + extra > limit:
            raise ConditionError(
                f"a prompt of {longest} tokens leaves no room for {extra} new tokens",
                value=longest, allowed=f"at most {limit - extra} prompt tokens "
                f"(the model has {limit} positions)",
                fix="Shorten the prompt or lower max_new_tokens",
            )
        pad = self.description.pad
        ids = torch.full((len(prompts), longest), pad, dtype=torch.int64)
        mask = torch.zeros((len(prompts), longest), dtype=torch.int64)
        for row, prompt in enumerate(prompts):
            if prompt:
                ids[row, longest - len(prompt):] = torch.tensor(prompt, dtype=torch.int64)
                mask[row, longest - len(prompt):] = 1
        return ids.to(self.device), mask.to(self.device)

    # -- sampling ----------------------------------------------------------------------------

    def sample_batch(
        self, streams: KeyedStreams, condition: BatchCondition, **options: Any
    ) -> torch.Tensor:
        from transformers import DynamicCache

        batch, length = len(streams), self.max_new_tokens
        eos, pad = self.description.eos, self.description.pad
        warp = Warper(options)
        ids, mask = self._left_padded(self._prompt_ids(condition, batch), length)
        history = neutral_history(ids, mask)
        out = torch.full((batch, length), pad, dtype=torch.int64, device=self.device)
        rows = torch.arange(batch, device=self.device)  # the batch rows still running
        step_ids, positions = ids, (mask.cumsum(1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.lm.config)
        for t in range(length):
            logits = self.lm(input_ids=step_ids, attention_mask=mask, position_ids=positions,
                             use_cache=True, logits_to_keep=1,
                             **{self._cache_argument: cache}).logits
            scores = warp(history, logits[:, -1, :])
            if warp.greedy:
                token = scores.argmax(dim=-1)
            else:  # one keyed uniform per batch row, running or not: draws never shift
                token = streams.select(rows).categorical(scores, method="inverse")
            out[rows, t] = token
            running = token != eos
            if t == length - 1 or not bool(running.any()):
                break
            if not bool(running.all()):  # finished rows leave the batch and its cache
                keep = running.nonzero().reshape(-1)
                rows, token, mask = rows[keep], token[keep], mask[keep]
                positions, history = positions[keep], history[keep]
                cache.batch_select_indices(keep)
            step_ids = token[:, None]
            positions = positions[:, -1:] + 1
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            if warp.uses_history:
                history = torch.cat([history, step_ids], dim=1)
        return out

    # -- likelihood --------------------------------------------------------------------------

    def check_likelihood_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        values = super().check_likelihood_options(options)
        if values["distribution"] == "model" and not is_identity(values):
            raise InvalidArgumentError(
                "likelihood options", value={k: values[k] for k in values if k != "distribution"},
                allowed="the defaults with distribution='model'",
                fix="Pass distribution='sampling' to score under the warped conditionals",
            )
        if values["distribution"] == "sampling" and values["temperature"] == 0.0:
            raise InvalidArgumentError(
                "likelihood option 'temperature'", value=0.0,
                allowed="a temperature > 0 (0 is argmax: no density)",
                fix="Score greedy samples with a small temperature, or with distribution='model'",
            )
        return values

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: BatchCondition, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor:
        rows = x.shape[0]
        warp = Warper(options) if options.get("distribution") == "sampling" else Warper({})
        lengths = self.capabilities.event.lengths(x).to(self.device)
        length = int(lengths.max())  # the padding after the longest row is never scored
        ids, mask = self._left_padded(self._prompt_ids(condition, rows), length)
        prompt = ids.shape[1]
        tokens = x[:, :length].to(device=self.device, dtype=torch.int64)
        full = torch.cat([ids, tokens], dim=1)
        full_mask = torch.cat([mask, mask.new_ones((rows, length))], dim=1)
        positions = (full_mask.cumsum(1) - 1).clamp(min=0)
        logits = self.lm(input_ids=full, attention_mask=full_mask, position_ids=positions,
                         use_cache=False, logits_to_keep=length + 1).logits[:, :length, :]
        if warp:
            history = neutral_history(full, full_mask)
            scores = torch.stack([warp(history[:, : prompt + t], logits[:, t, :])
                                  for t in range(length)], dim=1)
        else:
            scores = logits.float()
        per_token = scores.log_softmax(dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        counted = torch.arange(length, device=self.device) < lengths[:, None]
        return torch.where(counted, per_token, torch.zeros_like(per_token)).sum(dim=1)

    # -- text --------------------------------------------------------------------------------

    def to_text(self, x: torch.Tensor) -> list[str]:
        """Each row's tokens before its first stop, decoded without special tokens."""
        lengths = self.capabilities.event.lengths(x).tolist()
        tokens = x.to(torch.int64).tolist()
        eos = self.description.eos
        return [
            self.tokenizer.decode([t for t in row[:n] if t != eos], skip_special_tokens=True)
            for row, n in zip(tokens, lengths, strict=True)
        ]

    def from_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Events spelling ``texts``: the tokenizer's ids (no special tokens), then the stop;
        a text of exactly ``max_new_tokens`` tokens has no room for it and is encoded as a
        sample cut at that length is (so ``from_text(to_text(x)) == x`` for every sample)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise InputError("from_text() texts", value=type(texts).__name__,
                             allowed="a list of str", fix="Pass a list of strings")
        event = self.capabilities.event
        length, eos, pad = self.max_new_tokens, self.description.eos, self.description.pad
        out = torch.full((len(texts), length), pad, dtype=torch.int64)
        encoded = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        unknown = getattr(self.tokenizer, "unk_token_id", None)
        for row, (text, ids) in enumerate(zip(texts, encoded, strict=True)):
            if len(ids) > length:
                raise InputError(
                    f"text {text!r} is {len(ids)} tokens long", value=text,
                    allowed=f"at most {length} tokens (max_new_tokens)",
                    fix="Shorten it, or build the model with a larger max_new_tokens",
                )
            if unknown is not None and unknown in ids:
                raise InputError(f"text {text!r} has characters the vocabulary lacks",
                                 value=text, fix="Use only characters the tokenizer knows")
            out[row, : min(len(ids) + 1, length)] = torch.tensor([*ids, eos][:length],
                                                                  dtype=torch.int64)
        return out.to(event.dtype)

