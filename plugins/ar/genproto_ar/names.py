"""A character-level autoregressive model of the 1990 US Census names, given the list.

A name is at most 15 letters and a stop, in the shared codec of :mod:`genproto.data.names_text`
(tokens 0..25 the letters, 26 the stop, which also pads a row of 16). Given the list ``c``
(0 female, 1 male, 2 surname) the chain rule is exact:

    log p(x | c) = sum_{t=0}^{T} log p(x_t | x_<t, c),   x_T the first stop            (1)

each factor a softmax over the 27 tokens computed by a gated recurrent network: a character-level
language model as in Graves 2013 ("Generating Sequences With Recurrent Neural Networks",
arXiv:1308.0850) and Karpathy's char-rnn (2015), with GRU cells (Cho et al. 2014, "Learning Phrase
Representations using RNN Encoder-Decoder for Statistical Machine Translation", EMNLP).

Sequence layout (one input vocabulary of 30: the 27 tokens, then the lists as 27..29)::

    position   0      1     2    ...   15
    input      <c>    x_0   x_1  ...   x_14          (B, 16) tokens
    predicts   x_0    x_1   x_2  ...   x_15          (B, 16, 27) logits

Position 15 is the 16th token: the codec holds at most 15 letters, so the model puts all of that
position's probability on the stop (``p(x_15 = stop | x_<15, c) = 1``, no network call). Its
support is then exactly what :meth:`from_text` can encode, every sample round-trips, and (1) still
sums to one over the event space: a row of 16 letters has probability 0.

* Likelihood: EXACT, one teacher-forced pass: the sum (1) over the tokens up to and including the
  first stop (padding carries no probability). ``condition=None`` is the uniform mixture of the
  three lists, ``log sum_c p(c) p(x | c)``, composed by the engine.
* Sampling: one token a step, the recurrent state carrying the prefix (the GRU's counterpart of a
  key/value cache). Step ``t`` calls the network on the rows still running only: a row that drew
  the stop leaves the batch and costs nothing more, so a sample costs at most 15 evaluations
  (``SampleCost.per_token(15, bound=True)``, counted by the engine). The draw of step ``t`` is a
  keyed categorical (Gumbel-max) on the running rows' streams (``streams.select``), so sample ``i``
  depends only on ``(seed, i)``. ``temperature`` and ``top_k`` warp the conditionals as
  :class:`~genproto_ar.model.PixelAR`'s do (temperature 0 is argmax, no draw).
* Training: maximum likelihood, the negative of (1) averaged over frequency-weighted draws of the
  train names (:func:`~genproto.data.names_text.names_training_draws`), AdamW with warm-up and
  cosine decay. The test names are never seen, so what decides the test cross-entropy is how
  well the model generalises between names at the character level: dropout on the non-recurrent
  connections (Zaremba, Sutskever & Vinyals 2014, "Recurrent Neural Network Regularization"),
  masks drawn from the batch's keyed streams, and a size and length picked on a validation slice
  of the train names (docs/plugins/ar.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genproto.data.dataset import Dataset
from genproto.data.names import NAMES_LISTS, load_names
from genproto.data.names_text import (
    NAMES_MAX_LENGTH,
    NAMES_STOP,
    NAMES_VOCABULARY,
    NamesCodec,
    encode_names,
    names_condition,
    names_event,
    names_training_draws,
)
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import Capabilities, Likelihood, Paradigm, SampleCost
from genproto.streams import KeyedStreams
from genproto.training import (
    Batch,
    TrainSettings,
    require_setup,
    seeded_init,
    transformer_adamw,
    warmup_cosine,
)
from genproto_ar.model import (
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    Dropout,
    StreamDropout,
    check_warping,
    warp_logits,
)

__all__ = [
    "DRAWS_PER_LIST",
    "HIDDEN",
    "NamesAR",
    "NamesRNN",
    "capabilities",
    "with_type_draws",
]

#: Default GRU width (docs/plugins/ar.md: picked on the validation slice).
HIDDEN = 256
LAYERS = 1  # stacked GRU layers
EMBED = 32  # input embedding width
DROPOUT = 0.25  # on the embeddings and the GRU's outputs while training, rounded to 1/256
#: Frequency-weighted training draws per list (the shared ``names_training_draws``).
DRAWS_PER_LIST = 200_000
#: Draws per list uniform over the list's train names (each name as a type), added to the
#: frequency draws: the share of the training rows that teach spelling rather than popularity
#: (docs/plugins/ar.md: picked on the validation slice).
TYPE_DRAWS_PER_LIST = 200_000
TYPE_SEED = 1  # the type draws' generator (the frequency draws use seed 0)
CLASSES = len(NAMES_LISTS)
#: Network calls a sample can need: the 16th token is always the stop (see the docstring).
STEPS = NAMES_MAX_LENGTH - 1
WARMUP = 200  # learning-rate warm-up steps


def capabilities() -> Capabilities:
    """What the names model declares: exact likelihood, at most 15 evaluations a sample."""
    return Capabilities(
        paradigms=(Paradigm.AUTOREGRESSIVE,),
        likelihood=Likelihood.EXACT,
        cost=SampleCost.per_token(STEPS, bound=True),
        event=names_event(),
        condition=names_condition(),
        objective="next-character cross-entropy (teacher forcing) on frequency-weighted draws "
        "of the Census train names, given the list",
        sampling="one character per step with a GRU state, on the rows still running "
        "(at most 15 steps), temperature / top-k",
    )


class NamesRNN(nn.Module):
    """Tokens ``(B, T)`` and a state ``(layers, B, H)`` -> logits ``(B, T, 27)`` and the new state.

    One forward call is one counted network evaluation (its rows: the first argument's). Input
    tokens are the 27 of the codec and the list tokens ``27 + c``.
    """

    def __init__(self, hidden: int, layers: int = LAYERS) -> None:
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.tok = nn.Embedding(NAMES_VOCABULARY + CLASSES, EMBED)
        # One nn.GRU per layer, so dropout between layers can use keyed masks (nn.GRU's own
        # inter-layer dropout draws from the global generator).
        self.grus = nn.ModuleList(
            nn.GRU(EMBED if i == 0 else hidden, hidden, batch_first=True) for i in range(layers))
        self.head = nn.Linear(hidden, NAMES_VOCABULARY)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor | None = None,
                drop: Dropout | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.tok(tokens)  # (B, T, E)
        states = []
        for i, gru in enumerate(self.grus):
            h = drop(h) if drop is not None else h
            h, last = gru(h, None if state is None else state[i:i + 1].contiguous())  # (B, T, H)
            states.append(last)  # (1, B, H)
        h = drop(h) if drop is not None else h
        logits: torch.Tensor = self.head(h)  # (B, T, 27)
        return logits, torch.cat(states)  # (B, T, 27), (layers, B, H)


def _inputs(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Teacher forcing's inputs ``(B, 16)``: the list token, then ``x_0 .. x_14``."""
    return torch.cat([(labels + NAMES_VOCABULARY).unsqueeze(1), x[:, :-1]], dim=1)


def _stop_only(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` ``(B, 16, 27)`` with the last position a point mass on the stop."""
    last = torch.full_like(logits[:, -1:], float("-inf"))
    last[..., NAMES_STOP] = 0.0
    return torch.cat([logits[:, :-1], last], dim=1)


class NamesAR(NamesCodec, Model):
    """The class-conditional character model of the Census names (see the module docstring)."""

    sample_options = (
        Option("temperature", float, 1.0,
               f"divides the logits; 0 means argmax (greedy, no random draw); else in "
               f"[{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]", minimum=0.0,
               maximum=MAX_TEMPERATURE),
        Option("top_k", int, None, "draw among the k most likely tokens only",
               minimum=1, maximum=NAMES_VOCABULARY, nullable=True),
    )
    likelihood_options = (
        Option("distribution", str, "model",
               "'model': log p(x); 'sampling': log-prob under the temperature/top-k warped "
               "conditionals that sample() draws from", choices=("model", "sampling")),
        Option("temperature", float, 1.0, "with distribution='sampling'", minimum=0.0,
               maximum=MAX_TEMPERATURE),
        Option("top_k", int, None, "with distribution='sampling'",
               minimum=1, maximum=NAMES_VOCABULARY, nullable=True),
    )

    def __init__(self, *, hidden: int | None = None) -> None:
        super().__init__(capabilities(), name="ar")
        self.hidden = HIDDEN if hidden is None else hidden
        self.dropout = DROPOUT
        self.type_draws = TYPE_DRAWS_PER_LIST
        with seeded_init(0):
            self.net = NamesRNN(self.hidden)
        self._optimizer: torch.optim.Optimizer | None = None
        self._settings: TrainSettings | None = None

    def networks(self) -> Mapping[str, nn.Module]:
        return {"net": self.net}

    def bytes_per_sample(self, **options: Any) -> int:
        # The state and the step's gate activations, and the 16 tokens.
        return 4 * (8 * self.hidden * self.net.layers + 2 * NAMES_VOCABULARY) + 8 * 17

    # -- sampling --------------------------------------------------------------------------

    def check_sample_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The declared options, plus: a temperature is 0 or at least MIN_TEMPERATURE."""
        return check_warping(super().check_sample_options(options), "sample")

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        assert condition is not None  # the engine draws the lists for condition=None
        temperature: float = options["temperature"]
        top_k: int | None = options["top_k"]
        B = len(streams)
        draws = streams.fork("tokens")
        x = torch.full((B, NAMES_MAX_LENGTH), NAMES_STOP, dtype=torch.int64, device=self.device)
        running = torch.arange(B, device=self.device)  # rows that have not drawn the stop
        previous = condition.to(self.device) + NAMES_VOCABULARY  # (B,) the list token first
        state: torch.Tensor | None = None
        for t in range(STEPS):
            # 1. One network call on the running rows: their newest token and their state.
            logits, state = self.net(previous.unsqueeze(1), state)  # (R, 1, 27), (layers, R, H)
            logits = logits[:, -1]  # (R, 27)
            # 2. Draw token t: argmax at temperature 0, else Gumbel-max on the warped logits
            #    from the running rows' own streams (one draw per row per step).
            if temperature == 0.0:
                token = logits.argmax(dim=-1)
            else:
                token = draws.select(running).categorical(
                    warp_logits(logits, temperature, top_k))  # (R,)
            x[running, t] = token
            # 3. Rows that drew the stop leave the batch (the row is already stop-padded).
            going = token != NAMES_STOP  # (R,)
            if not bool(going.any()):
                break
            running, previous, state = running[going], token[going], state[:, going]
        # Position 15 is the stop for every row (a point mass: no call), already written.
        return x

    # -- likelihood ------------------------------------------------------------------------

    def check_likelihood_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The declared options, plus: warping options only with ``distribution='sampling'``."""
        return check_warping(super().check_likelihood_options(options), "likelihood",
                             likelihood=True)

    def _conditionals(self, x: torch.Tensor, labels: torch.Tensor,
                      options: Mapping[str, Any]) -> torch.Tensor:
        """``log p(x_t | x_<t, c)`` of every position ``(B, 16)`` in one forward pass, 0 past
        the first stop."""
        logits, _ = self.net(_inputs(x, labels))  # (B, 16, 27)
        target = x.unsqueeze(-1)  # (B, 16, 1)
        if options["distribution"] == "sampling":
            if options["temperature"] == 0.0:  # a point mass on the argmax
                logits = _stop_only(logits)
                hit = logits.argmax(dim=-1, keepdim=True) == target  # (B, 16, 1)
                zero = torch.zeros(hit.shape, dtype=logits.dtype, device=logits.device)
                log_p = zero.masked_fill(~hit, float("-inf")).squeeze(-1)
            else:
                warped = warp_logits(logits, options["temperature"], options["top_k"])
                log_p = F.log_softmax(_stop_only(warped), dim=-1).gather(-1, target).squeeze(-1)
        else:
            log_p = F.log_softmax(_stop_only(logits), dim=-1).gather(-1, target).squeeze(-1)
        counted = torch.arange(NAMES_MAX_LENGTH, device=x.device) < \
            self.capabilities.event.lengths(x)[:, None]  # (B, 16) up to and including the stop
        return torch.where(counted, log_p, torch.zeros_like(log_p))

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        assert condition is not None  # the engine composes the marginal for condition=None
        return self._conditionals(x, condition, options).sum(dim=1)  # (B,) equation (1)

    # -- training (genproto.training.Trainable) ---------------------------------------------

    def training_data(self) -> Dataset:
        """The shared frequency draws of the train names and, as many again, draws uniform
        over the train names (see :func:`with_type_draws`)."""
        tables = [encode_names(load_names("train", which).names) for which in NAMES_LISTS]
        return with_type_draws(names_training_draws(DRAWS_PER_LIST, seed=0), tables,
                               self.type_draws)

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=3000, batch_size=256, lr=3e-3, seed=0, save_every=1000,
                             report_every=3000)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        # A fresh initialisation seeded by the run's seed (never the shipped weights), so
        # `genproto train ar -M dataset=names -M pretrained=false` reproduces them from scratch.
        with seeded_init(settings.seed):
            fresh = NamesRNN(self.hidden, self.net.layers)
        self.net.load_state_dict(fresh.state_dict())
        self.net.train()
        self._optimizer = transformer_adamw(self.net, lr=settings.lr, weight_decay=0.01)
        self._settings = settings
        return {"adamw": self._optimizer}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizer = require_setup(self._optimizer, model=self.name)
        settings = require_setup(self._settings, model=self.name)
        assert batch.y is not None
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps, warmup=WARMUP,
                           floor=0.02)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x = batch.x  # (B, 16) int64
        drop = StreamDropout(batch.streams.fork("dropout"), self.dropout)
        logits, _ = self.net(_inputs(x, batch.y), drop=drop)  # (B, 16, 27)
        # -(1) per name: the tokens up to and including the first stop (never position 15's
        # forced stop, which no training name reaches: the longest has 13 letters).
        counted = torch.arange(NAMES_MAX_LENGTH, device=x.device) < \
            self.capabilities.event.lengths(x)[:, None]  # (B, 16)
        nll = F.cross_entropy(logits[counted], x[counted], reduction="sum") / x.shape[0]
        optimizer.zero_grad(set_to_none=True)
        nll.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        optimizer.step()
        return {"nll_nats_per_name": nll.item()}

    def training_report(self) -> Mapping[str, float]:
        """Per list, cross-entropy in nats per name on the test names minus the truth's (the
        final measurement; docs/plugins/ar.md), printed once at the end of the run."""
        was_training = self.net.training
        report: dict[str, float] = {}
        for c, which in enumerate(NAMES_LISTS):
            test = load_names("test", which)
            q = test.probs / test.probs.sum()
            log_m = self.log_likelihood(self.from_text(test.names), c).double()
            report[f"{which}_excess_nats"] = float((q * (test.probs.log() - log_m)).sum())
        self.net.train(was_training)
        return report


def with_type_draws(draws: Dataset, tables: list[torch.Tensor], per_list: int) -> Dataset:
    """``draws`` followed by ``per_list`` rows of each list drawn uniformly from its ``tables``
    entry (the list's names as token rows, each name once), labelled with the list.

    Frequency draws alone teach a model the popular names by heart: the test names are names
    never seen, and their probability comes from how the model spells, not from what it
    memorised. Names counted as types carry that: the number of distinct names a pattern
    occurs in predicts novel names better than its frequency, the idea behind Kneser-Ney's
    continuation counts (Kneser & Ney 1995, "Improved backing-off for M-gram language
    modeling", ICASSP; Chen & Goodman 1998, section 2.7). Training on the mixture is maximum
    likelihood of ``(p + u) / 2``, ``u`` uniform over the train names; the validation slice
    measured its held-out cross-entropy against frequency draws alone (docs/plugins/ar.md).
    """
    if per_list == 0:
        return draws
    generator = torch.Generator().manual_seed(TYPE_SEED)
    rows = [table[torch.randint(len(table), (per_list,), generator=generator)]
            for table in tables]
    labels = torch.arange(len(tables)).repeat_interleave(per_list)
    assert draws.y is not None
    return Dataset(torch.cat([draws.x, *rows]), torch.cat([draws.y, labels]),
                   f"{draws.name} + {per_list} type draws a list", draws.event,
                   num_classes=draws.num_classes)


def per_name_nats(model: NamesAR, names: list[str], probs: torch.Tensor, label: int) -> float:
    """``-sum_x q(x) log m(x | label)`` with ``q`` the truth renormalised over ``names``: the
    cross-entropy :func:`genproto.metrics.text.cross_entropy` reports, on any set of names."""
    q = probs / probs.sum()
    log_m = model.log_likelihood(model.from_text(names), label).double()
    return -float((q * log_m).sum()) if bool(torch.isfinite(log_m).all()) else math.inf
