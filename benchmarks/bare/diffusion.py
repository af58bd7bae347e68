"""The diffusion plugin's sampling written by hand over its own denoisers (see :mod:`bare`).

Three configurations, each at its default sample options:

* digits (class-conditional) and the toy 2-D densities (unconditional): deterministic DDIM
  (Song, Meng & Ermon 2021, eq. 12) on K = 50 evenly spaced timesteps from ``x_T`` drawn from
  the keyed streams, classifier-free guidance w = 2 on the digits (Ho & Salimans 2022) as
  one network call on the conditional and null rows together, predicted ``x_0`` clipped;
* names: MDLM's ancestral unmasking (Sahoo et al. 2024) on K = 32 steps, each still-masked
  position revealed with probability 1/j to a keyed Gumbel-max draw from the denoiser.

The loops do what a user writing the sampler over ``model.net`` would do, with the two things
the plugin does so that sample i depends only on (seed, i) bit for bit: the time embedding is
computed once per batch on the K timesteps (every row of a step shares it), and a denoiser
call is padded to a multiple of 8 rows with copies of its first row (CPU matrix kernels round
a call of a few rows differently from a large one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from genproto.model import Model
from genproto.streams import KeyedStreams
from genproto_diffusion.model import (
    CLASSES,
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    Denoiser,
    Diffusion,
    padded_rows,
)
from genproto_diffusion.names import DEFAULT_STEPS as NAMES_STEPS
from genproto_diffusion.names import LENGTH, MASK, NamesDiffusion, canonical
from genproto_diffusion.names import MIN_ROWS as NAMES_MIN_ROWS

#: ``network(x, t, embedding)``: the denoiser call of one step; the benchmark swaps in a
#: ``torch.compile``-d one to measure what fusing the elementwise work would give.
Network = Callable[[Tensor, Tensor, Tensor], Tensor]


def _pad(x: Tensor, rows: int) -> Tensor:
    """``x`` with copies of its first row appended up to ``rows`` rows."""
    extra = rows - x.shape[0]
    return x if extra <= 0 else torch.cat([x, x[:1].expand(extra, *x.shape[1:])])


def ddim_batch(model: Diffusion, streams: KeyedStreams, condition: Tensor | None,
               network: Network | None = None) -> Tensor:
    """Deterministic DDIM with the defaults (50 steps, guidance 2 if conditional). (B, *event)"""
    net = model.net
    assert isinstance(net, Denoiser)
    call: Network = network or (lambda x, t, e: net(x, t, embedding=e))
    T, steps = model.timesteps, DEFAULT_STEPS
    taus = [round(i * T / steps) for i in range(1, steps + 1)]
    abar = model.alphas_cumprod
    x = streams.normal(*model.shape)  # (B, *shape) x_T
    b = x.shape[0]
    guided = condition is not None and net.label is not None
    rows = 2 * b if guided else b
    padded = padded_rows(rows)
    time = net.time_embedding(torch.tensor(taus, dtype=torch.float32))  # (K, H)
    labels = None
    if condition is not None and net.label is not None:  # guided
        labels = net.label(_pad(torch.cat([condition, torch.full_like(condition, CLASSES)]),
                                padded))  # (R, H): conditional rows, then null rows
    for i in reversed(range(steps)):
        t, t_prev = taus[i], (taus[i - 1] if i > 0 else 0)
        a_t, a_prev = float(abar[t]), float(abar[t_prev])
        e = time[i:i + 1] if labels is None else labels + time[i:i + 1]
        out = call(_pad(torch.cat([x, x]) if guided else x, padded),
                   torch.full((padded,), float(t)), e)[:rows]
        if guided:
            eps_c, eps_u = out.chunk(2)
            eps = eps_u + DEFAULT_GUIDANCE * (eps_c - eps_u)
        else:
            eps = out
        x0 = ((x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)).clamp(-model.clip, model.clip)
        eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
        x = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - 0.0, 0.0)) * eps  # eta = 0
    return model.to_events(x)


def names_batch(model: NamesDiffusion, streams: KeyedStreams, condition: Tensor | None) -> Tensor:
    """MDLM ancestral unmasking with the default K = 32 steps. (B, 16) uint8 name rows."""
    net = model.net
    b = len(streams)
    y = torch.zeros(b, dtype=torch.int64) if condition is None else condition
    padded_y = _pad(y, NAMES_MIN_ROWS)
    z = torch.full((b, LENGTH), MASK, dtype=torch.int64)  # every position masked
    for j in range(NAMES_STEPS, 0, -1):
        u = streams.uniform(LENGTH)  # (B, L)
        logits = net(_pad(z, NAMES_MIN_ROWS), padded_y)[:b]  # (B, L, 27)
        draw = streams.categorical(logits.float())  # (B, L) keyed Gumbel-max
        z = torch.where((z == MASK) & (u < 1.0 / j), draw, z)
    return canonical(z).to(torch.uint8)


def bare_batch(model: Model, streams: KeyedStreams, condition: Any) -> torch.Tensor:
    if isinstance(model, NamesDiffusion):
        return names_batch(model, streams, condition)
    assert isinstance(model, Diffusion)
    return ddim_batch(model, streams, condition)
