"""Sampling options as Hugging Face logits processors, applied the way ``generate`` does.

``temperature``, ``top_k``, ``top_p``, ``min_p`` and ``repetition_penalty`` are
transformers' own processors (``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ...),
built in the order ``GenerationMixin._get_logits_processor`` uses (the penalty first,
then temperature, top-k, top-p, min-p), so a setting means here what it means in
``generate``. All are deterministic functions of the logits and the tokens so far; the
random draw that follows is genproto's keyed one.

The penalty looks at every token of a row so far. A left-padded row carries pad ids
that ``generate`` would show it; here they are replaced by the row's first real token
(already in the row, so the penalised set is unchanged), which keeps a row's draws
independent of how much padding its batch needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from genproto.options import Option

__all__ = ["IDENTITY", "WARP_OPTIONS", "Warper", "is_identity", "neutral_history"]

MAX_TEMPERATURE = 1e3
MIN_TEMPERATURE = 1e-6

WARP_OPTIONS = (
    Option("temperature", float, 1.0,
           f"divides the logits; 0 means argmax (greedy, no draw); else in "
           f"[{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]", minimum=0.0, maximum=MAX_TEMPERATURE),
    Option("top_k", int, None, "draw among the k most likely tokens only", minimum=1,
           maximum=2**31 - 1, nullable=True),
    Option("top_p", float, 1.0, "nucleus: the smallest set of tokens holding this much "
           "probability (1: all)", minimum=1e-6, maximum=1.0),
    Option("min_p", float, None, "drop tokens below min_p times the top probability",
           minimum=0.0, maximum=1.0, nullable=True),
    Option("repetition_penalty", float, 1.0, "CTRL's penalty on tokens already in the row "
           "(1: none)", minimum=1e-3, maximum=1e3),
)

#: The option values under which the warper changes nothing (the model's own distribution).
IDENTITY: Mapping[str, Any] = {o.name: o.default for o in WARP_OPTIONS}


def is_identity(options: Mapping[str, Any]) -> bool:
    """Whether these warp options leave the model's distribution as it is."""
    return all(options.get(k, v) == v for k, v in IDENTITY.items())


class Warper:
    """The processors for one set of warp options; ``greedy`` when temperature is 0."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        from transformers.generation.logits_process import (
            LogitsProcessorList,
            MinPLogitsWarper,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        values = {**IDENTITY, **{k: v for k, v in options.items() if k in IDENTITY}}
        temperature = float(values["temperature"])
        self.greedy = temperature == 0.0
        self.uses_history = values["repetition_penalty"] != 1.0
        processors = LogitsProcessorList()
        if self.uses_history:
            processors.append(RepetitionPenaltyLogitsProcessor(values["repetition_penalty"]))
        if temperature not in (0.0, 1.0):
            processors.append(TemperatureLogitsWarper(temperature))
        if values["top_k"] is not None:
            processors.append(TopKLogitsWarper(values["top_k"]))
        if values["top_p"] < 1.0:
            processors.append(TopPLogitsWarper(values["top_p"]))
        if values["min_p"] is not None and values["min_p"] > 0.0:
            processors.append(MinPLogitsWarper(values["min_p"]))
        self._processors = processors

    def __bool__(self) -> bool:
        return bool(self._processors)

    def __call__(self, history: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Warped float32 scores ``(R, V)`` for logits ``(R, V)`` after tokens ``history``."""
        scores = logits.float()
        if not self._processors:
            return scores
        processors: Any = self._processors  # transformers annotates input_ids as LongTensor
        out: torch.Tensor = processors(history, scores)
        return out


def neutral_history(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``ids`` with every masked (padding) position replaced by its row's first real token."""
    first = mask.to(torch.int64).argmax(dim=1, keepdim=True)  # the first real position
    return torch.where(mask.bool(), ids, ids.gather(1, first))
