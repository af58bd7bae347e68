"""Small honest text models of the Census names, for the text metrics and ``genproto compare``.

Each is a :class:`genproto.Model` with a variable-length sequence event (27 tokens: 0 is the
stop and the padding, 1..26 the letters a..z; at most 14 tokens, room for the longest name
and its stop), a text condition (the list's name: ``"female"``, ``"male"``, ``"surname"``),
the :class:`~genproto.protocol.TextCodec` methods, and an exact likelihood where it has one:

* :class:`NamesBigram` -- a per-list character bigram model fit on the train split (each
  name weighted by its probability, add-``alpha`` smoothed): a plausible, imperfect model.
* :class:`TruthSampler` -- the truth itself, written autoregressively: ``p(next | prefix)``
  from the list's names below that prefix, so its samples are names drawn from ``p(name |
  list)`` and its likelihood is :func:`~genproto.data.names.names_log_prob`.
* :class:`OneName` -- always the same name, no likelihood: a collapsed model.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from genproto import Capabilities, ConditionSpec, EventSpace, Likelihood, Paradigm, SampleCost
from genproto.data.names import NAMES_LISTS, load_names, names_log_prob
from genproto.errors import InputError
from genproto.model import Model
from genproto.streams import KeyedStreams

STOP = PAD = 0
VOCABULARY = 27  # the stop, then a..z
MAX_LENGTH = 14
EVENT = EventSpace.sequence(MAX_LENGTH, VOCABULARY, stop=STOP, pad=PAD)
CONDITION = ConditionSpec.text(max_length=7, description="Census list", required=True)


def _list_index(texts: Sequence[str]) -> torch.Tensor:
    """(B,) int64: the index in NAMES_LISTS of each row's prompt."""
    try:
        return torch.tensor([NAMES_LISTS.index(t) for t in texts], dtype=torch.int64)
    except ValueError:
        bad = next(t for t in texts if t not in NAMES_LISTS)
        raise InputError("condition", value=bad, allowed=" | ".join(NAMES_LISTS)) from None


class _Table(torch.nn.Module):
    """A lookup: row indices (R,) -> rows of a fixed table (R, V). A 'network' so the
    sampler counts its calls."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.get_buffer("table")[index]


class _NamesText(Model):
    """The shared codec: letters <-> tokens 1..26, the stop 0 after the last letter."""

    def to_text(self, x: torch.Tensor) -> list[str]:
        lengths = EVENT.lengths(x)  # (N,) up to and including the stop
        out = []
        for row, n in zip(x.tolist(), lengths.tolist(), strict=True):
            out.append("".join(chr(96 + t) for t in row[:n] if t != STOP))
        return out

    def from_text(self, texts: Sequence[str]) -> torch.Tensor:
        x = torch.full((len(texts), MAX_LENGTH), PAD, dtype=torch.int64)
        for i, text in enumerate(texts):
            if len(text) >= MAX_LENGTH or not (text.isascii() and text.isalpha()
                                               and text.islower()):
                raise InputError(f"text {i}", value=text,
                                 allowed=f"at most {MAX_LENGTH - 1} letters a-z")
            x[i, : len(text)] = torch.tensor([ord(c) - 96 for c in text], dtype=torch.int64)
            x[i, len(text)] = STOP
        return x.to(EVENT.dtype)


class NamesBigram(_NamesText):
    """p(name + stop | list) = prod_t p(s_t | s_{t-1}, list), s_0 = the stop (start)."""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__(
            Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT,
                         SampleCost.per_token(MAX_LENGTH, bound=True), EVENT, CONDITION),
            name="names_bigram")
        # Counts of (list, previous, next) over the train names, each weighted by its p.
        train = load_names("train")
        lids, prev, nxt, weights = [], [], [], []
        for name, lid, p in zip(train.names, train.list_ids.tolist(), train.probs.tolist(),
                                strict=True):
            s = [STOP, *(ord(c) - 96 for c in name), STOP]
            lids += [lid] * (len(s) - 1)
            prev += s[:-1]
            nxt += s[1:]
            weights += [p] * (len(s) - 1)
        counts = np.full((len(NAMES_LISTS), VOCABULARY, VOCABULARY), alpha / 1000)
        np.add.at(counts, (np.array(lids), np.array(prev), np.array(nxt)), np.array(weights))
        log_probs = torch.from_numpy(np.log(counts / counts.sum(-1, keepdims=True)))  # (3, V, V)
        self.net = _Table(log_probs.reshape(-1, VOCABULARY).float())  # (3 V, V)

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        rows = len(streams)
        lists = _list_index(condition)  # (B,)
        out = torch.full((rows, MAX_LENGTH), PAD, dtype=torch.int64)
        previous = torch.full((rows,), STOP, dtype=torch.int64)
        running = torch.ones(rows, dtype=torch.bool)
        for t in range(MAX_LENGTH):
            logits = torch.zeros(rows, VOCABULARY)
            if running.any():
                logits[running] = self.net(lists[running] * VOCABULARY + previous[running])
            token = streams.categorical(logits)  # a draw for every row at every step
            out[running, t] = token[running]
            running = running & (token != STOP)
            previous = token
        return out

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        x = x.long()
        lists = _list_index(condition)[:, None]  # (B, 1)
        previous = torch.cat([torch.full((len(x), 1), STOP), x[:, :-1]], 1)  # (B, L)
        logp = self.net((lists * VOCABULARY + previous).reshape(-1)).reshape(
            *x.shape, VOCABULARY).double()  # (B, L, V)
        per_token = logp.gather(-1, x.unsqueeze(-1)).squeeze(-1)  # (B, L)
        counted = torch.arange(MAX_LENGTH) < EVENT.lengths(x)[:, None]
        nats: torch.Tensor = (per_token * counted).sum(1)
        return nats


@functools.cache
def _prefix_tables(list_index: int) -> tuple[dict[str, int], torch.Tensor]:
    """For one list: prefix -> row, and (P, V) float64 log p(next symbol | prefix) under the
    truth (the mass of the names extending prefix + symbol over that of the prefix)."""
    data = load_names("all", NAMES_LISTS[list_index])
    mass: dict[str, np.ndarray] = {}
    for name, p in zip(data.names, data.probs.tolist(), strict=True):
        for i in range(len(name) + 1):
            row = mass.setdefault(name[:i], np.zeros(VOCABULARY))
            row[STOP if i == len(name) else ord(name[i]) - 96] += p
    prefixes = {prefix: i for i, prefix in enumerate(mass)}
    table = torch.from_numpy(np.stack(list(mass.values())))  # (P, V)
    return prefixes, (table / table.sum(1, keepdim=True)).log()


class TruthSampler(_NamesText):
    """The truth: samples are names drawn from p(name | list); the likelihood is exact."""

    def __init__(self) -> None:
        super().__init__(
            Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT,
                         SampleCost.per_token(MAX_LENGTH, bound=True), EVENT, CONDITION),
            name="names_truth")
        self.net = _Table(torch.zeros(1, VOCABULARY))  # counts the steps; the tables are data

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        rows = len(streams)
        lists = _list_index(condition).tolist()
        prefixes = [""] * rows
        out = torch.full((rows, MAX_LENGTH), PAD, dtype=torch.int64)
        running = torch.ones(rows, dtype=torch.bool)
        for t in range(MAX_LENGTH):
            logits = torch.zeros(rows, VOCABULARY, dtype=torch.float64)
            if running.any():
                index = running.nonzero().squeeze(1)
                logits[running] += self.net(torch.zeros_like(index)).double()  # zeros: counted
                for i in index.tolist():
                    table_rows, table = _prefix_tables(lists[i])
                    logits[i] = table[table_rows[prefixes[i]]]
            token = streams.categorical(logits, method="inverse")
            for i in running.nonzero().squeeze(1).tolist():
                out[i, t] = token[i]
                if int(token[i]) != STOP:
                    prefixes[i] += chr(96 + int(token[i]))
            running = running & (token != STOP)
        return out

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        stopped = (x == STOP).any(1)
        texts = self.to_text(x)
        out = torch.full((len(x),), -float("inf"), dtype=torch.float64)
        for i, (text, name) in enumerate(zip(texts, condition, strict=True)):
            if stopped[i] and text:
                out[i] = names_log_prob([text], name)[0]
        return out


class OneName(_NamesText):
    """Always ``name``, whatever the list: a collapsed model without a likelihood."""

    def __init__(self, name: str = "mary") -> None:
        super().__init__(
            Capabilities(Paradigm.ADVERSARIAL, Likelihood.NONE, SampleCost.single_pass(),
                         EVENT, CONDITION),
            name="one_name")
        self.row = self.from_text([name])[0].long()
        self.net = _Table(torch.zeros(1, 1))

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        self.net(torch.zeros(len(streams), dtype=torch.int64))
        return self.row.expand(len(streams), -1).clone()
