"""The VAE's likelihood bounds, for any event shape: the Gaussian log-density and IWAE's L_k.

Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders" (ICLR), eq. 8::

    L_k(x) = E[ log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x) ],   z_i ~ q(z | x)

with a diagonal-Gaussian posterior q and the prior p(z) = N(0, I). What ``p(x | z)`` is -- a
pixel distribution (digits), a Gaussian (toy 2-D points), an autoregressive GRU over characters
(names) -- is the caller's ``log_px``; everything here is shared by every VAE configuration.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from genproto.streams import KeyedStreams

__all__ = ["DECODE_ROWS", "IWAE_CHUNK", "gauss_log_prob", "gauss_kl", "iwae_bound"]

IWAE_CHUNK = 32  # importance samples drawn per stream draw (fixed: results never depend on it)
DECODE_ROWS = 8192  # decoder rows per block while bounding (bounds memory, changes nothing)

#: ``log_px(z, rows)``: log p(x_rows | z) (N,) for latents z (N, d) and the batch row (N,) each
#: latent belongs to.
LogPx = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def gauss_log_prob(z: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Sum over the last dim of log N(z; mean, scale^2)."""
    return (-0.5 * ((z - mean) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def gauss_kl(mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, diag scale^2) || N(0, I)) per latent dimension, (B, d) (Kingma & Welling
    2014, appendix B)."""
    return 0.5 * (mean**2 + scale**2 - 1.0 - 2.0 * scale.log())


def iwae_bound(
    mean: torch.Tensor, scale: torch.Tensor, log_px: LogPx, streams: KeyedStreams, k: int
) -> torch.Tensor:
    """L_k per row, (B,), for posteriors N(mean, diag scale^2) (B, d) each.

    Importance samples are drawn ``IWAE_CHUNK`` at a time from each row's stream and decoded
    ``DECODE_ROWS`` rows at a time; neither changes a result.
    """
    batch, latent_dim = mean.shape
    log_w = []
    for first in range(0, k, IWAE_CHUNK):
        c = min(IWAE_CHUNK, k - first)
        # 1. z_i ~ q(z | x), i in this chunk: the next c * d normals of each row's stream
        z = mean[:, None] + scale[:, None] * streams.normal(c, latent_dim).to(mean.device)
        # 2. log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x)            (B, c) each
        log_q = gauss_log_prob(z, mean[:, None], scale[:, None])
        log_prior = gauss_log_prob(z, torch.zeros_like(z), torch.ones_like(z))
        z_flat = z.reshape(-1, latent_dim)  # (B c, d)
        owner = torch.arange(batch, device=mean.device).repeat_interleave(c)  # (B c,)
        parts = [log_px(z_flat[r:r + DECODE_ROWS], owner[r:r + DECODE_ROWS])
                 for r in range(0, z_flat.shape[0], DECODE_ROWS)]
        log_px_z = torch.cat(parts).reshape(-1, c)  # (B, c)
        log_w.append(log_px_z + log_prior - log_q)
    # 3. log (1/k) sum_i w_i, stably
    return torch.logsumexp(torch.cat(log_w, dim=1), dim=1) - math.log(k)  # (B,)
