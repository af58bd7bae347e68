"""Masked (absorbing-state) discrete diffusion of the Census names, class-conditional.

The event is the names codec's row (:mod:`genproto.data.names_text`): 16 tokens of 27, the
letters ``0 .. 25`` and the stop ``26`` that ends a name and pads the rest. The diffusion
adds an internal MASK token (id 27, never in an event).

The maths, and where it comes from:

* Forward process: D3PM's absorbing state (Austin, Johnson, Ho, Tarlow & van den Berg 2021,
  "Structured Denoising Diffusion Models in Discrete State-Spaces", section 3.1) in the
  continuous time of MDLM (Sahoo et al. 2024, "Simple and Effective Masked Diffusion Language
  Models", section 3; Shi et al. 2024, "Simplified and Generalized Masked Diffusion for
  Discrete Data", MD4): ``q(z_t | x)`` masks each token independently with probability
  ``1 - alpha_t``; here the linear ``alpha_t = 1 - t``.
* Denoiser: ``p_theta(x^i | z_t, c)``, a bidirectional transformer over the 16 positions
  (learned positions, a class embedding added to every position), with MDLM's "SUBS"
  parameterisation: zero mass on MASK (27 output logits, no MASK row) and carry-over of
  every unmasked token. No time input: with absorbing noise the posterior of a masked
  token given ``z_t`` does not depend on ``t`` (MDLM section 3.2.2; Ou et al. 2024,
  "Your Absorbing Discrete Diffusion Secretly Models the Conditional Distributions of Clean
  Data", RADD, theorem 1).
* Bound: the continuous-time NELBO (MDLM eq. 10, MD4 eq. 5), for the linear schedule
  (``-alpha'_t / (1 - alpha_t) = 1 / t``)::

      -log p(x | c) <= int_0^1 (1/t) E_{z_t ~ q(.|x)} sum_{i: z_t^i = MASK} -log p(x^i | z_t, c) dt

  Given the number k of masked tokens, the masked set is a uniform k-subset, and
  ``int_0^1 (1/t) C(L,k) t^k (1-t)^(L-k) dt = 1/k``; so the same bound reads (the
  any-order form of Hoogeboom et al. 2022, "Autoregressive Diffusion Models", eq. 6;
  RADD section 4)::

      NELBO(x) = E_{k ~ U{1..L}} E_{|S|=k} (L/k) sum_{i in S} -log p(x^i | x masked on S, c)   (*)

  (*) is the t-integral with t integrated out given k: the same expectation, but with
  finite variance, where the 1/t-weighted draw's second moment diverges like
  ``int dt / t``. Training and the likelihood both draw (*) with k stratified: in
  training across the batch, in the likelihood across ``bound_samples`` draws per row
  (a multiple of 16 visits every k equally often; only the masked sets are random).
* Likelihood: ``Likelihood.BOUND``, a Monte-Carlo estimate of ``-NELBO`` in nats of the
  whole 16-token row. It bounds the model's log-probability of the row in its
  continuous-time process (K -> infinity steps, unmasking one token at a time in a
  uniformly random order: RADD's any-order autoregressive reading, Jensen's inequality
  over the orders). The event is the row up to its first stop; the sampler makes the
  row canonical (stops after the first one), so the probability of a canonical row
  under the sampler is the sum over every raw row with that prefix, at least the raw
  canonical row's own: the bound on the row stays a lower bound on the event (the model
  learns stops after the first stop, so little is lost).
* Sampling: MDLM's ancestral update (Sahoo et al. eq. 7 with SUBS) on K evenly spaced
  steps ``t = j/K -> s = (j-1)/K``: each still-masked position is unmasked with
  probability ``(alpha_s - alpha_t) / (1 - alpha_t) = 1/j`` to a token drawn from
  ``p_theta(x^i | z_t, c)``; at ``s = 0`` every position is unmasked. One denoiser call
  per step (K counted evaluations), every uniform and every Gumbel from the keyed
  streams, so sample i depends only on (seed, i). The finite-K sampler unmasks several
  tokens at once from a factorised denoiser, an approximation of the process the bound
  is about that tightens as K grows (docs/plugins/diffusion.md measures it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genproto.data.dataset import Dataset
from genproto.data.names_text import (
    NAMES_MAX_LENGTH,
    NAMES_STOP,
    NAMES_VOCABULARY,
    NamesCodec,
    names_condition,
    names_event,
    names_training_draws,
)
from genproto.errors import InvalidArgumentError
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

__all__ = [
    "BOUND_SAMPLES",
    "Block",
    "DEFAULT_STEPS",
    "HIDDEN",
    "LAYERS",
    "MASK",
    "MaskedDenoiser",
    "NamesDiffusion",
    "capabilities",
    "masked_nelbo",
]

MASK = NAMES_VOCABULARY  # the absorbing state, id 27: internal, never in an event
LENGTH = NAMES_MAX_LENGTH  # L = 16 positions
CLASSES = 3  # female, male, surname
HIDDEN = 128  # default model width
LAYERS = 4  # default transformer blocks
HEADS = 4
DEFAULT_STEPS = 32  # K denoising steps by default (docs/plugins/diffusion.md: why)
BOUND_SAMPLES = 16  # draws of (*) per row by default: every k = 1..16 once
DRAWS_PER_LIST = 200_000  # frequency-weighted training rows per list
TRAIN_STEPS = 3000
MIN_ROWS = 8  # rows of every denoiser call when sampling (see NamesDiffusion._logits)
OBJECTIVE = ("continuous-time masked-diffusion NELBO (MDLM, linear schedule) in its any-order "
             "form, the number of masked tokens stratified across the batch")


def capabilities(steps: int = DEFAULT_STEPS) -> Capabilities:
    """What the names diffusion declares: a bound, K evaluations a sample, 3 classes."""
    return Capabilities(
        paradigms=(Paradigm.DIFFUSION,),
        likelihood=Likelihood.BOUND,
        cost=SampleCost.per_step(steps),
        event=names_event(),
        condition=names_condition(),
        objective=OBJECTIVE,
        sampling=f"MDLM ancestral unmasking, K={steps} steps by default (Sahoo et al. 2024)",
    )


# ---------------------------------------------------------------------------------------------
# The denoiser
# ---------------------------------------------------------------------------------------------


class Block(nn.Module):
    """A pre-norm transformer block without a causal mask (Vaswani et al. 2017; GPT-2's
    pre-norm order): bidirectional self-attention, then a 4x GELU MLP."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 4 * width)
        self.out = nn.Linear(4 * width, width)

    def forward(self, h: Tensor) -> Tensor:
        b, n, w = h.shape  # (B, L, W)
        q, k, v = self.qkv(self.norm1(h)).split(w, dim=2)  # (B, L, W) each
        q, k, v = (a.reshape(b, n, self.heads, w // self.heads).transpose(1, 2)
                   for a in (q, k, v))  # (B, heads, L, W/heads)
        att = F.scaled_dot_product_attention(q, k, v)  # (B, heads, L, W/heads)
        h = h + self.proj(att.transpose(1, 2).reshape(b, n, w))
        out: Tensor = h + self.out(F.gelu(self.fc(self.norm2(h))))  # (B, L, W)
        return out


class MaskedDenoiser(nn.Module):
    """``p_theta(x^i | z, c)``: logits over the 27 event tokens at each of the 16 positions.

    Input tokens ``0 .. 27`` (27 = MASK) and the class; token, learned position and class
    embeddings are summed (Devlin et al. 2019's BERT input), then ``layers`` blocks and a
    final norm. The output has no MASK logit: SUBS's zero mass on MASK.
    """

    def __init__(self, width: int = HIDDEN, layers: int = LAYERS, heads: int = HEADS) -> None:
        super().__init__()
        self.token = nn.Embedding(NAMES_VOCABULARY + 1, width)
        self.position = nn.Parameter(torch.randn(LENGTH, width) * 0.02)
        self.label = nn.Embedding(CLASSES, width)
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, NAMES_VOCABULARY)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        # z: (B, L) int64 tokens 0..27, y: (B,) int64 classes
        h = self.token(z) + self.position + self.label(y)[:, None, :]  # (B, L, W)
        for block in self.blocks:
            h = block(h)
        out: Tensor = self.head(self.norm(h))  # (B, L, 27)
        return out


def masked_nelbo(logits: Tensor, x: Tensor, masked: Tensor) -> Tensor:
    """One draw of (*): ``(L / k) sum_{i masked} -log p(x^i | z)`` per row, nats. (B,)

    ``logits`` ``(B, L, 27)`` of the denoiser on ``z`` (``x`` masked where ``masked``),
    ``x`` ``(B, L)`` int64 the clean row, ``masked`` ``(B, L)`` bool with k >= 1 per row.
    """
    nll = F.cross_entropy(logits.transpose(1, 2), x, reduction="none")  # (B, L)
    k = masked.sum(1)  # (B,)
    per_row: Tensor = (nll * masked).sum(1) * (x.shape[1] / k)
    return per_row


def _mask_draw(v: Tensor, scores: Tensor) -> Tensor:
    """Masks with ``k = 1 + floor(L v)`` tokens, the k of smallest score. (B, L) bool.

    ``v`` ``(B,)`` in (0, 1) (stratified by the caller), ``scores`` ``(B, L)`` uniforms: their
    order is a uniform random permutation, so the masked set is a uniform k-subset.
    """
    k = (1 + torch.floor(v * LENGTH)).long().clamp(1, LENGTH)  # (B,)
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, L) each position's rank
    return rank < k[:, None].to(rank.device)


def canonical(x: Tensor) -> Tensor:
    """Stops after the first stop (the names event's canonical row). (B, L)"""
    stopped = (x == NAMES_STOP).long().cummax(dim=1).values.bool()  # (B, L) at or after it
    return torch.where(stopped, torch.full_like(x, NAMES_STOP), x)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class NamesDiffusion(NamesCodec, Model):
    """Class-conditional masked diffusion of the names (see the module docstring)."""

    sample_options: tuple[Option, ...] = (
        Option("steps", int, DEFAULT_STEPS, "denoising steps K (ancestral MDLM unmasking)",
               minimum=1, maximum=1024),
    )
    likelihood_options: tuple[Option, ...] = (
        Option("bound_samples", int, BOUND_SAMPLES,
               "draws per row of the bound's Monte-Carlo estimate (masked-token counts "
               "stratified; a multiple of 16 visits every count equally)", minimum=1,
               maximum=4096),
    )

    def __init__(self, hidden: int = HIDDEN, blocks: int = LAYERS, init_seed: int = 0) -> None:
        super().__init__(capabilities(), name="diffusion")
        self.init_seed = init_seed
        with seeded_init(init_seed):
            self.net = MaskedDenoiser(hidden, blocks, HEADS if hidden % HEADS == 0 else 1)
        self._settings: TrainSettings | None = None
        self._optimizer: torch.optim.Optimizer | None = None

    def networks(self) -> Mapping[str, nn.Module]:
        return {"denoiser": self.net}

    def cost(self, **options: Any) -> SampleCost:
        """K evaluations: one denoiser call per step."""
        return SampleCost.per_step(int(self.check_sample_options(options)["steps"]))

    def bytes_per_sample(self, **options: Any) -> int:
        return 256 * 1024

    # -- sampling -------------------------------------------------------------------------

    def _logits(self, z: Tensor, y: Tensor) -> Tensor:
        """The denoiser on at least :data:`MIN_ROWS` rows (copies of row 0 pad a smaller
        batch): CPU matrix kernels for a few rows round differently from larger batches,
        and a Gumbel draw at a near tie would flip. Padding is never counted (the sampler
        counts a call's rows up to the batch's)."""
        rows = z.shape[0]
        if rows >= MIN_ROWS:
            out: Tensor = self.net(z, y)
            return out
        pad = MIN_ROWS - rows
        padded: Tensor = self.net(torch.cat([z, z[:1].expand(pad, -1)]),
                                  torch.cat([y, y[:1].expand(pad)]))
        return padded[:rows]

    def sample_batch(self, streams: KeyedStreams, condition: Tensor | None,
                     **options: Any) -> Tensor:
        steps = int(options["steps"])  # checked once per run by the sampler
        dev = self.device
        b = len(streams)
        y = (torch.zeros(b, dtype=torch.int64) if condition is None else condition).to(dev)
        # 1. z_1: every position masked.
        z = torch.full((b, LENGTH), MASK, dtype=torch.int64, device=dev)
        for j in range(steps, 0, -1):
            # 2. From t = j/K to s = (j-1)/K: unmask with probability (t - s) / t = 1/j.
            u = streams.uniform(LENGTH).to(dev)  # (B, L)
            logits = self._logits(z, y)  # (B, L, 27)
            draw = streams.categorical(logits.float())  # (B, L) Gumbel-max, keyed
            reveal = (z == MASK) & (u < 1.0 / j)
            z = torch.where(reveal, draw.to(z.dtype), z)
        # 3. At s = 0 no MASK is left; stops after the first stop make the row canonical.
        return canonical(z).to(torch.uint8)

    # -- the bound --------------------------------------------------------------------------

    def log_likelihood_batch(self, x: Tensor, condition: Tensor | None, streams: KeyedStreams,
                             **options: Any) -> Tensor:
        """``-NELBO``, a lower bound on ``log p(x | c)`` in nats, estimated by (*) with
        ``bound_samples`` draws per row: draw j has ``k = 1 + floor(16 (j + u_j) / S)``
        masked tokens (stratified) on a uniform k-subset, all from the keyed streams."""
        draws = int(options["bound_samples"])
        dev = self.device
        x = x.to(dev, torch.int64)
        b = x.shape[0]
        y = (torch.zeros(b, dtype=torch.int64) if condition is None else condition).to(dev)
        u = streams.uniform(draws, dtype=torch.float64)  # (B, S)
        scores = streams.uniform(draws * LENGTH).reshape(b, draws, LENGTH)  # (B, S, L)
        v = (torch.arange(draws, dtype=torch.float64) + u.cpu()) / draws  # (B, S) stratified
        total = torch.zeros(b, dtype=torch.float64, device=dev)
        for j in range(draws):
            masked = _mask_draw(v[:, j], scores[:, j].cpu()).to(dev)  # (B, L)
            z = torch.where(masked, torch.full_like(x, MASK), x)
            total = total + masked_nelbo(self.net(z, y), x, masked).double()
        out: Tensor = (-total / draws).float()
        return out

    # -- training (genproto.training.Trainable) ----------------------------------------------

    def training_data(self) -> Dataset:
        return names_training_draws(DRAWS_PER_LIST, seed=0)

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=TRAIN_STEPS, batch_size=128, lr=2e-3, seed=0,
                             save_every=1000, report_every=1000)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        self._settings = settings
        self.net.train()
        self._optimizer = transformer_adamw(self.net, lr=settings.lr, weight_decay=0.01)
        return {"adamw": self._optimizer}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizer = require_setup(self._optimizer, model=self.name)
        settings = require_setup(self._settings, model=self.name)
        x = batch.x.to(self.device, torch.int64)  # (B, L)
        y = batch.y
        if y is None:
            raise InvalidArgumentError("names diffusion train_step() batch labels", value=None,
                                       allowed="the list of each row, int64 (B,)",
                                       fix="Train on names_training_draws(), which has labels")
        b = x.shape[0]
        # 1. k stratified across the batch: row r gets v = (r + u_r) / B, k = 1 + floor(L v).
        u = batch.streams.uniform(dtype=torch.float64).reshape(b)
        v = (torch.arange(b, dtype=torch.float64) + u.cpu()) / b
        masked = _mask_draw(v, batch.streams.uniform(LENGTH).cpu()).to(self.device)
        # 2. z: x with the k-subset masked; the NELBO draw (*) per row, in nats per token.
        z = torch.where(masked, torch.full_like(x, MASK), x)
        self.net.train()
        nelbo = masked_nelbo(self.net(z, y.to(self.device)), x, masked)  # (B,)
        loss = nelbo.mean() / LENGTH
        # 3. AdamW, warmed up over 200 steps, then cosine-decayed to 0.
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps, warmup=200)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        optimizer.step()
        return {"nelbo": float(nelbo.detach().mean())}

    def training_report(self) -> Mapping[str, float]:
        return {}


def build(hidden: int | None = None, blocks: int | None = None,
          init_seed: int = 0) -> NamesDiffusion:
    """The names configuration at its sizes (``None``: width 128, 4 blocks)."""
    return NamesDiffusion(hidden=hidden or HIDDEN, blocks=blocks or LAYERS, init_seed=init_seed)


