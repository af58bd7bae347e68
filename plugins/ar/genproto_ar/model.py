"""An autoregressive transformer over the 64 pixels of a digit: exact likelihood, KV-cache sampling.

The chain rule made runnable. A digit ``x`` is 64 grey levels (0..16) in raster order and

    log p(x | c) = sum_{t=0}^{63} log p(x_t | x_<t, c)                                      (1)

with every factor a softmax over the 17 levels, as in PixelRNN/PixelCNN (van den Oord,
Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural Networks", ICML), computed by a small
decoder-only transformer (Vaswani et al. 2017, "Attention Is All You Need"; the pre-LayerNorm
GPT-2 block of Radford et al. 2019; on pixels as in Chen et al. 2020, "Generative Pretraining
from Pixels"). The layout follows karpathy/nanoGPT's ``model.py``.

Sequence layout (one vocabulary of 27 tokens: levels 0..16, then classes as 17..26)::

    position   0        1      2     ...   63
    input      <c>      x_0    x_1   ...   x_62        (B, 64) tokens
    predicts   x_0      x_1    x_2   ...   x_63        (B, 64, 17) logits

* Training: next-pixel cross-entropy with teacher forcing, one forward pass per image (the
  negative of (1) averaged over pixels). Dropout masks are drawn from the batch's keyed streams.
* Likelihood: EXACT. One forward pass gives all 64 conditionals; ``log_likelihood`` is their sum
  (1) and :meth:`PixelAR.log_likelihood_per_position` returns them one by one ``(N, 64)``.
* Sampling: one pixel per step with a key/value cache, so step ``t`` feeds one token per sample
  through the network (64 network calls per sample: ``SampleCost.per_token(64)``). Each step
  draws one categorical per sample by Gumbel-max (Gumbel 1954; Maddison, Tarlow & Minka 2014,
  "A* Sampling"), ``argmax(logits + g)``, so sample ``i`` depends only on ``(seed, i)``. The
  Gumbel numbers of all 64 steps are drawn up front in one keyed draw, exactly the numbers 64
  successive ``streams.categorical`` calls would use (see :func:`pixel_noise`). Options warp
  the conditionals: temperature ``T`` divides the logits (``T = 0`` means argmax, no draw) and
  top-k keeps the k most likely levels (Fan, Lewis & Dauphin 2018, "Hierarchical Neural Story
  Generation"). ``kv_cache=False`` recomputes the whole prefix at every step instead (the
  baseline of ``benchmarks/bench_ar_kvcache.py``).
* The cached step loop (:class:`Decoder`) is the network's forward pass for one token written
  out over its weights: one preallocated cache written in place, the query/key/value projection
  as one matrix product with the attention scale folded into the query weights (exact: the
  scale 1/4 is a power of two), token and position embeddings summed once into a table, plain
  batched matrix products for attention over the cache (one query row: no mask, cheaper than
  ``scaled_dot_product_attention``), and on the CPU the batch decoded in passes
  (:func:`decode_rows`: 64 rows where the last-level cache holds a pass's cache across the 64
  steps, up to 1,024 where it cannot). ``benchmarks/bench_ar_vs_hf.py`` measures it against
  Hugging Face ``generate``.
* The likelihood option ``distribution`` says which distribution the numbers refer to:
  ``"model"`` (default; p itself) or ``"sampling"`` (the warped conditionals that ``sample``
  draws from with the same ``temperature``/``top_k``; at ``T = 0`` that is a point mass, so the
  value is 0 or -inf).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genproto import (
    Capabilities,
    ConditionSpec,
    EventSpace,
    Likelihood,
    Paradigm,
    SampleCost,
)
from genproto.data import load_digits
from genproto.data.dataset import Dataset
from genproto.errors import OptionError
from genproto.model import Model
from genproto.options import Option
from genproto.sampling import evaluate_rows
from genproto.streams import KeyedStreams
from genproto.training import (
    Batch,
    TrainSettings,
    held_out_bits_per_dim,
    require_setup,
    seeded_init,
    transformer_adamw,
    warmup_cosine,
)

__all__ = [
    "CLASSES",
    "DECODE_ROWS",
    "DEFAULTS",
    "WIDE_DECODE_ROWS",
    "Decoder",
    "Dropout",
    "LEVELS",
    "PIXELS",
    "KVCache",
    "PixelAR",
    "PixelTransformer",
    "StreamDropout",
    "capabilities",
    "check_warping",
    "decode_rows",
    "last_level_cache_bytes",
    "pixel_noise",
    "warp_logits",
]

LEVELS = 17  # grey levels 0..16
MIN_TEMPERATURE = 1e-6  # |logits| / t stays far inside float32 (logits are O(10))
MAX_TEMPERATURE = 1e3  # beyond this the conditionals are uniform to float32 precision
CLASSES = 10  # digit classes, tokens LEVELS .. LEVELS + CLASSES - 1
PIXELS = 64  # 8 x 8 in raster order
VOCAB = LEVELS + CLASSES

#: Rows decoded together in one pass of the 64-step loop on a CPU whose last-level cache holds
#: four such passes' key/value caches (:func:`decode_rows`). A pass's cache (2 x layers x rows x
#: 64 x width floats: 8 MiB for the shipped network at 64 rows) then stays in the processor's
#: caches across the steps instead of streaming from memory at every step; the measured optimum
#: of ``benchmarks/bench_ar_vs_hf.py``'s session-7 machine (AVX-512) lies at 32-64 rows (at batch
#: 1,024: about 1.2x the single pass). Rows are independent, so samples do not change.
DECODE_ROWS = 64

#: Rows a pass takes on a CPU whose last-level cache is too small for :data:`DECODE_ROWS`-row
#: passes to stay in it: there the cost of ~60 small operations a step is what a pass pays, so
#: the larger the pass the better (session 10, an AVX2 host reporting an 8 MiB L3, batch 1,024:
#: 64 rows 17.5k, 128 21.9k, 256 22.6k, 512 25.3k, 1,024 25.6k tokens/s). The cap bounds the
#: cache's memory (128 MiB for the shipped network).
WIDE_DECODE_ROWS = 1024

_SYS_CPU_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")


@functools.cache
def last_level_cache_bytes(root: Path = _SYS_CPU_CACHE) -> int | None:
    """The size of the CPU's last-level cache as Linux reports it (``index*/level`` and
    ``index*/size`` under ``root``), or ``None`` where it cannot be read."""
    best: tuple[int, int] | None = None
    try:
        for index in root.glob("index*"):
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip().upper()
            scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
            size = int(text.rstrip("KMG")) * scale
            if best is None or level > best[0]:
                best = (level, size)
    except (OSError, ValueError):
        return None
    return None if best is None else best[1]


def decode_rows(net: PixelTransformer, batch: int, device: torch.device) -> int:
    """The rows one pass of the cached decoder takes (rows are independent: any value gives
    the same samples).

    On an accelerator, the whole batch. On a CPU, :data:`DECODE_ROWS` when the last-level cache
    holds four passes' key/value caches, or when its size is unknown; else (a small cache, where
    no pass of a useful size stays in it) up to :data:`WIDE_DECODE_ROWS`.
    """
    if device.type != "cpu":
        return max(batch, 1)
    cache = last_level_cache_bytes()
    per_row = 2 * len(net.blocks) * PIXELS * net.width * 4  # float32 keys and values
    if cache is None or cache >= 4 * DECODE_ROWS * per_row:
        return DECODE_ROWS
    return max(1, min(batch, WIDE_DECODE_ROWS))

#: The configuration of the shipped weights (``weights/digits``; the registry loads them).
DEFAULTS: dict[str, Any] = {
    "dataset": "digits", "layers": 4, "width": 64, "heads": 4, "dropout": 0.1,
}


def capabilities() -> Capabilities:
    """What the model declares: exact likelihood, 64 evaluations per sample (one per pixel)."""
    return Capabilities(
        paradigms=(Paradigm.AUTOREGRESSIVE,),
        likelihood=Likelihood.EXACT,
        cost=SampleCost.per_token(PIXELS),
        event=EventSpace.discrete((8, 8), LEVELS),
        condition=ConditionSpec(CLASSES, "digit class"),
        objective="next-pixel cross-entropy over 17 grey levels (teacher forcing)",
        sampling="one pixel per step with a KV cache (64 steps), temperature / top-k",
    )


# -------------------------------------------------------------------------------------------
# The network: a decoder-only transformer with an optional key/value cache
# -------------------------------------------------------------------------------------------


class KVCache:
    """Keys and values of every layer for the positions seen so far (incremental decoding).

    One preallocated buffer ``kv`` ``(layers, 2, B, H, PIXELS, D)`` written in place;
    ``k[l]`` and ``v[l]`` are its ``(B, H, PIXELS, D)`` views; ``length`` positions are
    filled. With a :class:`Decoder` (``net.new_cache(..., decoder=...)``) the network takes
    one-token calls through the decoder's step.
    """

    def __init__(self, layers: int, batch: int, heads: int, head_dim: int,
                 device: torch.device, dtype: torch.dtype = torch.float32,
                 decoder: Decoder | None = None) -> None:
        shape = (layers, 2, batch, heads, PIXELS, head_dim)
        self.kv = torch.empty(shape, device=device, dtype=dtype)  # (L, 2, B, H, 64, D)
        self.k = self.kv[:, 0]  # (L, B, H, 64, D)
        self.v = self.kv[:, 1]  # (L, B, H, 64, D)
        self.length = 0
        self.decoder = decoder
        self.probs: torch.Tensor | None = None  # the decoder's zero-padded attention weights


class StreamDropout:
    """Dropout whose masks come from keyed streams (so training randomness is per example).

    Each call takes ``ceil(numel / 8)`` 64-bit words per example and reads them as bytes: an
    element is dropped when its byte is below ``round(256 p)``, i.e. with probability
    ``round(256 p) / 256`` (``p`` to within 1/512), and the kept ones are scaled up.
    """

    def __init__(self, streams: KeyedStreams, p: float) -> None:
        self.streams = streams
        self.threshold = round(256 * p)
        self.scale = 1.0 / (1.0 - self.threshold / 256)
        self._shifts: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.threshold == 0:
            return x
        n = math.prod(x.shape[1:])
        words = self.streams.words(-(-n // 8)).to(x.device)  # (B, n/8) int64
        if self._shifts is None:
            self._shifts = torch.arange(0, 64, 8, device=x.device)  # (8,)
        bytes_ = ((words.unsqueeze(-1) >> self._shifts) & 255).flatten(1)[:, :n]  # (B, n)
        mask = (bytes_ >= self.threshold).to(x.dtype).mul_(self.scale)  # (B, n): 0 or 1/(1-p)
        return x * mask.view_as(x)


Dropout = Callable[[torch.Tensor], torch.Tensor]


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, layer: int, cache: KVCache | None) -> torch.Tensor:
        B, T, C = x.shape
        H = self.heads
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, D)
        v = v.view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, D)
        start = 0
        if cache is not None:
            # 1. Write this call's keys/values after the cached ones and attend to all of them.
            start = cache.length
            cache.k[layer, :, :, start:start + T] = k
            cache.v[layer, :, :, start:start + T] = v
            k = cache.k[layer, :, :, :start + T]  # (B, H, start+T, D)
            v = cache.v[layer, :, :, :start + T]  # (B, H, start+T, D)
        if T == 1:  # one new token sees every earlier one: no mask
            y = F.scaled_dot_product_attention(q, k, v)
        elif start == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # query i sits at position start + i and sees keys 0 .. start + i
            rows = torch.arange(T, device=x.device).unsqueeze(1) + start  # (T, 1)
            mask = torch.arange(start + T, device=x.device).unsqueeze(0) <= rows  # (T, start+T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        out: torch.Tensor = self.proj(y)
        return out


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, layer: int, cache: KVCache | None,
                drop: Dropout) -> torch.Tensor:
        x = x + drop(self.attn(self.ln1(x), layer, cache))  # (B, T, C)
        x = x + drop(self.mlp(self.ln2(x)))  # (B, T, C)
        return x


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class PixelTransformer(nn.Module):
    """Tokens ``(B, T)`` at positions ``cache.length ..`` (or 0 ..) -> level logits ``(B, T, 17)``.

    One forward call is one counted network evaluation. With a cache, the call appends its
    tokens' keys/values and advances ``cache.length`` by ``T``.
    """

    def __init__(self, layers: int, width: int, heads: int) -> None:
        super().__init__()
        self.layers, self.width, self.heads = layers, width, heads
        self.tok = nn.Embedding(VOCAB, width)
        self.pos = nn.Embedding(PIXELS, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, LEVELS)
        # GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 layers).
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("proj.weight", "2.weight")) \
                    else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def new_cache(self, batch: int, device: torch.device, *,
                  decoder: Decoder | None = None) -> KVCache:
        return KVCache(self.layers, batch, self.heads, self.width // self.heads, device,
                       decoder=decoder)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None,
                drop: Dropout | None = None) -> torch.Tensor:
        # One token on a cache that carries a Decoder (sampling): the decoder's step.
        T = tokens.shape[1]
        if cache is not None and cache.decoder is not None and T == 1 and drop is None:
            stepped = cache.decoder.step(tokens[:, 0], cache)  # (B, 17)
            cache.length += 1
            return stepped.unsqueeze(1)  # (B, 1, 17)
        drop = drop or _identity
        start = 0 if cache is None else cache.length
        pos = torch.arange(start, start + T, device=tokens.device)  # (T,)
        x = drop(self.tok(tokens) + self.pos(pos))  # (B, T, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, layer, cache, drop)  # (B, T, C)
        if cache is not None:
            cache.length += T
        logits: torch.Tensor = self.head(self.ln_f(x))  # (B, T, 17)
        return logits


class Decoder:
    """:class:`PixelTransformer`'s cached forward pass for one token, written out over its weights.

    The same arithmetic as the general forward pass with a cache (the samples of the shipped
    weights agree with it bit for bit on the tests' seeds), with fewer operations a step: the
    summed token + position embeddings are one table lookup; the query/key/value projection is
    one matrix product whose query rows carry the attention scale ``1/sqrt(D)`` (exact when
    ``D`` is a power of four, as the shipped ``D = 16``; otherwise within a rounding); the new
    keys and values go into the preallocated cache with one copy; attention of the single
    query over the ``t + 1`` cached positions is two batched matrix products and a softmax, no
    mask (the weighted sum padded with zero weights over zero values to at least
    ``400 / D`` positions, where torch's CPU ``bmm`` switches from a plain loop to the BLAS).
    Built from the network's current weights once per ``sample_batch``; the network uses it
    for one-token calls on a cache made with ``net.new_cache(..., decoder=...)``, so every
    step is still one counted call of the network.
    """

    def __init__(self, net: PixelTransformer) -> None:
        C, H = net.width, net.heads
        self.width, self.heads = C, H
        self.table = net.tok.weight[:, None] + net.pos.weight[None]  # (27, 64, C)
        scale = torch.ones(3 * C, device=self.table.device)
        scale[:C] = 1.0 / math.sqrt(C // H)
        self.blocks: list[tuple[Any, ...]] = []
        for block in net.blocks:
            assert isinstance(block, Block)
            attn, up, down = block.attn, block.mlp[0], block.mlp[2]
            self.blocks.append((
                block.ln1.weight, block.ln1.bias, block.ln1.eps,
                attn.qkv.weight * scale[:, None], attn.qkv.bias * scale,
                attn.proj.weight, attn.proj.bias,
                block.ln2.weight, block.ln2.bias, block.ln2.eps,
                up.weight, up.bias, down.weight, down.bias,
            ))
        self.final = (net.ln_f.weight, net.ln_f.bias, net.ln_f.eps, net.head.weight,
                      net.head.bias)
        # torch's CPU bmm multiplies matrices of fewer than 400 multiply-adds in a plain loop
        # (measured 3-8x slower than its BLAS call for the (1 x keys) @ (keys x D) weighted
        # sum); padding the weights with zeros to 400 / D keys takes the BLAS path.
        self.padded_keys = min(PIXELS, -(-400 // (C // H)))

    def step(self, token: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Level logits ``(B, 17)`` of the token ``(B,)`` at position ``cache.length``; writes
        its keys and values into ``cache`` (the caller advances ``cache.length``)."""
        B, C, H = token.shape[0], self.width, self.heads
        D, t, shape = C // H, cache.length, (C,)
        kv = cache.kv  # (L, 2, B, H, 64, D)
        keys = self.padded_keys
        if cache.probs is None:  # a fresh cache: zero the padding's values and weights
            kv[:, 1, :, :, :keys] = 0.0
            cache.probs = torch.zeros(B * H, 1, keys, device=kv.device)
        padded = cache.probs  # (BH, 1, keys): weights 0 past position t
        x = self.table[token, t]  # (B, C) token + position embedding
        for layer, (w1, b1, eps1, wqkv, bqkv, wo, bo, w2, b2, eps2, wu, bu, wd, bd) in \
                enumerate(self.blocks):
            # 1. x + attn(ln1(x)): write this step's keys/values, attend to all t + 1 of them.
            qkv = F.linear(F.layer_norm(x, shape, w1, b1, eps1), wqkv, bqkv)  # (B, 3C)
            kv[layer, :, :, :, t] = qkv[:, C:].view(B, 2, H, D).transpose(0, 1)
            q = qkv[:, :C].reshape(B * H, 1, D)  # (BH, 1, D), already scaled
            k = kv[layer, 0, :, :, :t + 1].reshape(B * H, t + 1, D)  # (BH, t+1, D) a view
            v = kv[layer, 1, :, :, :t + 1].reshape(B * H, t + 1, D)  # (BH, t+1, D) a view
            att = torch.bmm(q, k.transpose(1, 2)).softmax(dim=-1)  # (BH, 1, t+1)
            if t + 1 < keys:  # pad to `keys` positions of weight 0 (their values are 0)
                padded[:, :, :t + 1] = att
                att, v = padded, kv[layer, 1, :, :, :keys].reshape(B * H, keys, D)
            x = x + F.linear(torch.bmm(att, v).view(B, C), wo, bo)  # (B, C)
            # 2. x + mlp(ln2(x))
            h = F.gelu(F.linear(F.layer_norm(x, shape, w2, b2, eps2), wu, bu))  # (B, 4C)
            x = x + F.linear(h, wd, bd)  # (B, C)
        ln_w, ln_b, ln_eps, head_w, head_b = self.final
        return F.linear(F.layer_norm(x, shape, ln_w, ln_b, ln_eps), head_w, head_b)


# -------------------------------------------------------------------------------------------
# Warping the conditionals (temperature, top-k)
# -------------------------------------------------------------------------------------------


def warp_logits(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """The sampling distribution's logits ``(..., 17)`` for ``temperature > 0``.

    Top-k keeps the levels whose logit is at least the k-th largest (ties kept), the rest get
    ``-inf``; then the logits are divided by the temperature.
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits / temperature if temperature != 1.0 else logits


def pixel_noise(streams: KeyedStreams) -> torch.Tensor:
    """The Gumbel numbers of all 64 pixel draws, ``(B, 64, 17)``, in one keyed draw.

    ``streams.categorical(logits)`` on ``(B, 17)`` logits takes ``gumbel(17)``: 9 words per
    sample, of whose 18 float32 halves it uses the first 17. ``gumbel(64, 18)`` takes the same
    64 x 9 words in the same order, so row ``t`` sliced to 17 holds exactly the numbers of the
    ``t``-th of 64 successive categorical draws, and ``argmax(logits + noise[:, t])`` is that
    draw, bit for bit (tested). One draw instead of 64 saves the per-call work of the streams.
    """
    halves = LEVELS + LEVELS % 2  # the float32 halves of the words one draw takes
    return streams.gumbel(PIXELS, halves)[:, :, :LEVELS]  # (B, 64, 17)


def _option_error(message: str, option: str, value: Any, allowed: str, fix: str) -> OptionError:
    return OptionError(message, option=option, value=value, allowed=allowed, fix=fix)


def check_warping(values: dict[str, Any], where: str, *, likelihood: bool = False
                  ) -> dict[str, Any]:
    """Validated ``temperature``/``top_k`` options, checked further: a temperature is 0 or at
    least MIN_TEMPERATURE (logits divided by less overflow to inf, then NaN); for the likelihood
    (``likelihood=True``), warping only with ``distribution='sampling'``."""
    t = values["temperature"]
    if 0.0 < t < MIN_TEMPERATURE:
        raise _option_error(
            f"'ar' {where} option 'temperature'", "temperature", t,
            f"0 (argmax) or a float in [{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]",
            "Use temperature=0 for greedy decoding",
        )
    if likelihood and values["distribution"] == "model" and (
        values["temperature"] != 1.0 or values["top_k"] is not None
    ):
        raise _option_error(
            "'ar' likelihood options 'temperature'/'top_k'", "distribution", "model",
            "temperature=1 and top_k=None with distribution='model'",
            "Pass distribution='sampling' for the log-probability under the warped "
            "sampling distribution",
        )
    return values


# -------------------------------------------------------------------------------------------
# The genproto model
# -------------------------------------------------------------------------------------------


class PixelAR(Model):
    """Class-conditional autoregressive transformer over digit pixels (see the module docstring)."""

    sample_options = (
        Option("temperature", float, 1.0,
               f"divides the logits; 0 means argmax (greedy, no random draw); else in "
               f"[{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]", minimum=0.0,
               maximum=MAX_TEMPERATURE),
        Option("top_k", int, None, "draw among the k most likely levels only",
               minimum=1, maximum=LEVELS, nullable=True),
        Option("kv_cache", bool, True,
               "reuse keys/values (one token per step); False recomputes the prefix"),
    )
    likelihood_options = (
        Option("distribution", str, "model",
               "'model': log p(x); 'sampling': log-prob under the temperature/top-k warped "
               "conditionals that sample() draws from", choices=("model", "sampling")),
        Option("temperature", float, 1.0, "with distribution='sampling'", minimum=0.0,
               maximum=MAX_TEMPERATURE),
        Option("top_k", int, None, "with distribution='sampling'",
               minimum=1, maximum=LEVELS, nullable=True),
    )

    def __init__(self, *, dataset: str = "digits", layers: int = 4, width: int = 64,
                 heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__(capabilities(), name="ar")
        config = {"dataset": dataset, "layers": layers, "width": width, "heads": heads,
                  "dropout": dropout}
        if width % heads:
            raise _option_error("model 'ar' option 'width'", "width", width,
                                f"a multiple of heads={heads}", "Pick width = heads * head size")
        self.config = config
        self.dropout = dropout
        with seeded_init(0):
            self.net = PixelTransformer(layers, width, heads)
        self._optimizer: torch.optim.Optimizer | None = None
        self._settings: TrainSettings | None = None

    def networks(self) -> Mapping[str, nn.Module]:
        return {"net": self.net}

    def bytes_per_sample(self, **options: Any) -> int:
        # KV cache (2 x layers x 64 x width floats) plus the activations of a full-prefix pass.
        width = self.net.width
        return 4 * (2 * self.net.layers * PIXELS * width + 12 * PIXELS * width)

    # -- sampling --------------------------------------------------------------------------

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        assert condition is not None  # the base draws classes for condition=None
        temperature: float = options["temperature"]
        top_k: int | None = options["top_k"]
        B = len(streams)
        first = condition.to(self.device) + LEVELS  # (B,) the class token at position 0
        # 1. The Gumbel numbers of all 64 draws at once (none at temperature 0: argmax).
        noise = None if temperature == 0.0 else pixel_noise(streams.fork("pixels")).to(
            self.device)  # (B, 64, 17)

        def pick(logits: torch.Tensor, t: int, rows: slice) -> torch.Tensor:
            # 3. Pixel t: argmax at temperature 0, else Gumbel-max on the warped logits.
            if noise is None:
                return logits.argmax(dim=-1)
            return (warp_logits(logits, temperature, top_k) + noise[rows, t]).argmax(dim=-1)

        # 2. One network call per step: the newest token with the cache (in passes of
        #    DECODE_ROWS rows on the CPU), or the whole prefix again (kv_cache=False).
        tokens = torch.empty(B, PIXELS + 1, dtype=torch.int64, device=self.device)  # (B, 65)
        tokens[:, 0] = first
        if not options["kv_cache"]:
            everyone = slice(0, B)
            for t in range(PIXELS):
                tokens[:, t + 1] = pick(self.net(tokens[:, :t + 1])[:, -1], t, everyone)
            return tokens[:, 1:].reshape(B, 8, 8)
        decoder = Decoder(self.net)
        step = decode_rows(self.net, B, self.device)
        for start in range(0, B, step):
            rows = slice(start, min(start + step, B))
            part = tokens[rows]  # (R, 65) a view: writes land in tokens
            cache = self.net.new_cache(part.shape[0], self.device, decoder=decoder)
            for t in range(PIXELS):
                logits = self.net(part[:, t:t + 1], cache)[:, -1]  # (R, 17)
                part[:, t + 1] = pick(logits, t, rows)
        return tokens[:, 1:].reshape(B, 8, 8)

    # -- likelihood ------------------------------------------------------------------------

    def check_sample_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The declared options, plus: a temperature is 0 or at least MIN_TEMPERATURE."""
        return check_warping(super().check_sample_options(options), "sample")

    def check_likelihood_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The declared options, plus: warping options only with ``distribution='sampling'``."""
        return check_warping(super().check_likelihood_options(options), "likelihood",
                             likelihood=True)

    def _conditionals(self, x: torch.Tensor, labels: torch.Tensor,
                      options: Mapping[str, Any]) -> torch.Tensor:
        """``log p(x_t | x_<t, c)`` of every pixel, (B, 64), in one forward pass."""
        pixels = x.reshape(x.shape[0], PIXELS)  # (B, 64)
        tokens = torch.cat([(labels + LEVELS).unsqueeze(1), pixels[:, :-1]], dim=1)  # (B, 64)
        logits = self.net(tokens)  # (B, 64, 17)
        target = pixels.unsqueeze(-1)  # (B, 64, 1)
        if options["distribution"] == "sampling":
            if options["temperature"] == 0.0:  # a point mass on the argmax
                hit = logits.argmax(dim=-1, keepdim=True) == target  # (B, 64, 1)
                zero = torch.zeros(hit.shape, dtype=logits.dtype, device=logits.device)
                return zero.masked_fill(~hit, float("-inf")).squeeze(-1)
            logits = warp_logits(logits, options["temperature"], options["top_k"])
        return F.log_softmax(logits, dim=-1).gather(-1, target).squeeze(-1)  # (B, 64)

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        assert condition is not None  # the engine composes the marginal for condition=None
        return self._conditionals(x, condition, options).sum(dim=1)  # (B,) equation (1)

    def log_likelihood_per_position(self, x: torch.Tensor, condition: Any = None, *,
                                    batch_size: int | None = None,
                                    **options: Any) -> torch.Tensor:
        """``log p(x_t | x_<t [, c])`` for every pixel ``t`` in raster order, ``(N, 64)`` nats.

        Rows sum to :meth:`log_likelihood`. With ``condition=None`` the conditionals are
        those of the class marginal: with ``S_c(t) = log p(c) + sum_{s<=t} log p(x_s | x_<s, c)``,
        ``log p(x_t | x_<t) = logsumexp_c S_c(t) - logsumexp_c S_c(t - 1)``.
        """
        values = self.check_likelihood_options(options)

        def per_batch(x: torch.Tensor, labels: torch.Tensor | None,
                      streams: KeyedStreams) -> torch.Tensor:
            if labels is not None:
                return self._conditionals(x, labels, values)
            per_class = torch.stack([  # (B, 10, 64) cumulative log p(x_<=t, c)
                self._conditionals(
                    x, torch.full((x.shape[0],), c, device=x.device), values,
                ).cumsum(dim=1) - math.log(CLASSES)
                for c in range(CLASSES)
            ], dim=1)
            joint = torch.logsumexp(per_class, dim=1)  # (B, 64) log p(x_<=t)
            prev = F.pad(joint[:, :-1], (1, 0))  # (B, 64) log p(x_<t), 0 at t = 0
            # After a prefix of probability 0 (possible under top-k) every term is -inf.
            return torch.where(prev.isneginf(), float("-inf"), joint - prev)

        return evaluate_rows(self, x, condition, per_batch, batch_size=batch_size,
                             trailing=(PIXELS,))

    # -- training (genproto.training.Trainable) ---------------------------------------------

    def training_data(self) -> Dataset:
        return load_digits("train")

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=1500, batch_size=64, lr=2e-3, seed=0, save_every=500,
                             report_every=250)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        # Training starts from a fresh initialisation seeded by the run's seed (never from the
        # shipped weights), so `genproto train ar` reproduces them from scratch.
        with seeded_init(settings.seed):
            fresh = PixelTransformer(self.net.layers, self.net.width, self.net.heads)
        self.net.load_state_dict(fresh.state_dict())
        self.net.train()
        self._optimizer = transformer_adamw(self.net, lr=settings.lr)
        self._settings = settings
        return {"adamw": self._optimizer}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizer = require_setup(self._optimizer, model=self.name)
        settings = require_setup(self._settings, model=self.name)
        assert batch.y is not None
        # Linear warm-up over 100 steps, then cosine decay to a tenth of the peak.
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps, warmup=100,
                           floor=0.1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        pixels = batch.x.reshape(-1, PIXELS)  # (B, 64)
        tokens = torch.cat([(batch.y + LEVELS).unsqueeze(1), pixels[:, :-1]], dim=1)  # (B, 64)
        drop = StreamDropout(batch.streams.fork("dropout"), self.dropout)
        logits = self.net(tokens, drop=drop)  # (B, 64, 17)
        loss = F.cross_entropy(logits.reshape(-1, LEVELS), pixels.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        optimizer.step()
        return {"nll_bits_per_dim": loss.item() / math.log(2)}

    def training_report(self) -> Mapping[str, float]:
        return {"test_bits_per_dim": held_out_bits_per_dim(self, load_digits("test"))}
