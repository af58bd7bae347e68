"""The GAN's sampling written by hand: latents from the keyed streams, one pass of the EMA
generator, back to events (levels, points or name tokens). See :mod:`bare` for the contract."""

from __future__ import annotations

from typing import Any

import torch

from genproto.model import Model
from genproto.streams import KeyedStreams
from genproto_gan.model import GAN, LEVELS
from genproto_gan.names import NamesGAN, canonical_rows


def bare_batch(model: Model, streams: KeyedStreams, condition: Any) -> torch.Tensor:
    if isinstance(model, NamesGAN):
        z = streams.normal(model.latent_dim)  # (B, Z)
        return canonical_rows(model.generator(z, condition).argmax(dim=-1))  # (B, 16)
    assert isinstance(model, GAN)
    z = streams.normal(model.latent_dim)  # (B, Z)
    g = model.generator(z, condition)  # (B, D)
    if not model.digits:
        return g  # (B, 2) points
    levels = ((g + 1) * (LEVELS / 2)).to(torch.int64).clamp_(max=LEVELS - 1)  # g's cell
    return levels.view(-1, 8, 8)
