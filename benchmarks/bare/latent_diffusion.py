"""Latent diffusion's sampling written by hand (see :mod:`bare`): deterministic DDIM (Song et al.
2021, eq. 12) on K = 50 steps over the prior's denoiser in the 16-d latent space, conditional
and unguided (the hybrid's default guidance is 1), predicted z_0 clipped to the prior's bound;
then one pass of the VAE's decoder and each pixel's level drawn from it. As the plugin does for
bit-for-bit batch invariance, the time embedding is computed once per batch and a denoiser
call is padded to a multiple of 8 rows with copies of its first row."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from genproto_latent_diffusion.model import LatentDiffusion

from genproto.model import Model
from genproto.streams import KeyedStreams
from genproto_diffusion.model import DEFAULT_STEPS, Denoiser, padded_rows
from genproto_vae.model import CLASSES


def bare_batch(model: Model, streams: KeyedStreams, condition: Any) -> torch.Tensor:
    assert isinstance(model, LatentDiffusion)
    prior, net = model.prior, model.prior.net
    assert isinstance(net, Denoiser)
    assert net.label is not None
    draws = streams.fork("prior")
    taus = [round(i * prior.timesteps / DEFAULT_STEPS) for i in range(1, DEFAULT_STEPS + 1)]
    abar = prior.alphas_cumprod
    z = draws.normal(model.latent_dim)  # (B, d) z_T
    b = z.shape[0]
    pad = padded_rows(b) - b
    time = net.time_embedding(torch.tensor(taus, dtype=torch.float32))  # (K, H)
    labels = net.label(torch.cat([condition, condition[:1].expand(pad)]) if pad else condition)
    for i in reversed(range(DEFAULT_STEPS)):
        t, t_prev = taus[i], (taus[i - 1] if i > 0 else 0)
        a_t, a_prev = float(abar[t]), float(abar[t_prev])
        zin = torch.cat([z, z[:1].expand(pad, -1)]) if pad else z
        eps = net(zin, torch.full((zin.shape[0],), float(t)), embedding=labels + time[i:i + 1])
        eps = eps[:b] if pad else eps
        z0 = ((z - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)).clamp(-prior.clip, prior.clip)
        eps = (z - math.sqrt(a_t) * z0) / math.sqrt(1 - a_t)
        z = math.sqrt(a_prev) * z0 + math.sqrt(max(1 - a_prev, 0.0)) * eps
    vae = model.vae
    params = vae.decoder(z, F.one_hot(condition, CLASSES).float())  # (B, 64, P)
    logits = vae._level_logits(params)  # (B, 64, 17): the decoder's distribution per pixel
    return streams.fork("decoder").categorical(logits).view(-1, 8, 8)
