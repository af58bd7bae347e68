"""The VAE's sampling written by hand: z ~ N(0, I) from the keyed streams, one decoder pass and
each pixel's level drawn from it (digits), a Gaussian draw (points), or the names decoder one
token at a time on the rows still running. See :mod:`bare` for the contract."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from genproto.model import Model
from genproto.streams import KeyedStreams
from genproto_vae.model import CLASSES, VAE
from genproto_vae.names import BOS, NAMES_MAX_LENGTH, NAMES_STOP, NamesVAE


def _names(model: NamesVAE, streams: KeyedStreams, condition: torch.Tensor) -> torch.Tensor:
    onehot = F.one_hot(condition, 3).float()  # (B, 3)
    z = streams.normal(model.latent_dim)  # (B, d)
    draws = streams.fork("tokens")
    batch = z.shape[0]
    x = torch.full((batch, NAMES_MAX_LENGTH), NAMES_STOP, dtype=torch.int64)
    prev = torch.full((batch, 1), BOS, dtype=torch.int64)
    state: torch.Tensor | None = None
    running = torch.arange(batch)
    for t in range(NAMES_MAX_LENGTH):
        if running.numel() == 0:
            break
        logits, state = model.decoder(prev, z[running], onehot[running], state)
        token = draws.select(running).categorical(logits[:, 0])  # (R,)
        x[running, t] = token
        going = token != NAMES_STOP
        running, prev, state = running[going], token[going, None], state[:, going]
    return x


def bare_batch(model: Model, streams: KeyedStreams, condition: Any) -> torch.Tensor:
    if isinstance(model, NamesVAE):
        return _names(model, streams, condition)
    assert isinstance(model, VAE)
    z = streams.normal(model.latent_dim)  # (B, d)
    if not model.digits:
        mean, log_scale = model.decoder(z, None).unbind(-1)  # (B, 2) each
        return mean + log_scale.clamp(-7.0, 5.0).exp() * streams.normal(2)
    params = model.decoder(z, F.one_hot(condition, CLASSES).float())  # (B, 64, P)
    logits = model._level_logits(params)  # (B, 64, 17): the decoder's distribution per pixel
    return streams.categorical(logits).view(-1, 8, 8)
