"""The noise predictor ``eps_theta(z_t, gamma_t, y)`` of the variational diffusion model.

A residual MLP on the flattened data (64 pixels of the digits, or 2 coordinates), with two
choices that matter for likelihood rather than for samples:

* **Fourier features of the input** (VDM section 3.2 and appendix C): ``sin(2^n pi z)`` and
  ``cos(2^n pi z)`` for a few ``n`` are concatenated to ``z``. At low noise the bound is decided
  by how well the network sees the fine structure of ``z`` -- how far each value is from the
  nearest level of the 17 (spacing 1/8 in the scaled units) -- which a plain MLP of ``z`` picks up
  slowly. ``n = 3, 4, 5`` give periods of two, one and half a level spacing.
* **Conditioning by modulation**: the embedding of the log-SNR ``gamma_t`` (and of the class, with
  a null row for classifier-free guidance) gives every block a scale and a shift of its normalised
  input (FiLM, Perez et al. 2018; adaLN in Peebles & Xie 2023, "Scalable Diffusion Models with
  Transformers"), each block's output layer starting at zero so the network starts as the identity
  path (predicting ``eps = 0``).

The network sees ``gamma_t`` normalised to ``[0, 1]`` over the declared endpoint ranges, through
a sinusoidal embedding (Vaswani et al. 2017), so it works for any learned schedule.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Denoiser", "discrete_eps", "fourier_features", "log_snr_embedding"]

#: The log-SNR interval the embedding spans (the union of the endpoint ranges).
GAMMA_LOW, GAMMA_HIGH = -20.0, 15.0
#: Width of the condition (log-SNR and class) that modulates every block: small, since it only
#: has to carry a number and a class, and each block's modulation costs COND x 2 hidden weights.
COND = 64


def fourier_features(z: Tensor, exponents: tuple[int, ...]) -> Tensor:
    """``[z, sin(2^n pi z), cos(2^n pi z) for n in exponents]`` along the last dim.

    ``z`` is ``(B, D)``; the result is ``(B, D (1 + 2 len(exponents)))``.
    """
    if not exponents:
        return z
    freqs = torch.tensor([2.0**n * math.pi for n in exponents], dtype=z.dtype, device=z.device)
    angles = (z[:, None, :] * freqs[None, :, None]).flatten(1)  # (B, F D)
    return torch.cat([z, angles.sin(), angles.cos()], dim=1)


def log_snr_embedding(gamma: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of ``gamma`` rescaled from ``[GAMMA_LOW, GAMMA_HIGH]`` to
    ``[0, 1000]`` (the timestep range such embeddings are usually tuned for). ``(B, dim)``"""
    t = (gamma.float() - GAMMA_LOW) / (GAMMA_HIGH - GAMMA_LOW) * 1000.0  # (B,)
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
    angles = t[:, None] * freqs[None, :]  # (B, half)
    out = torch.cat([angles.sin(), angles.cos()], dim=1)
    return F.pad(out, (0, dim - 2 * half))


def discrete_eps(z: Tensor, gamma: Tensor, logits: Tensor, values: Tensor) -> Tensor:
    """``eps_hat`` of data on a known grid of levels, from the network's per-value logits.

    For data whose values lie on the levels ``v_k``, the best denoiser is ``E[x | z_t]``, and
    since ``z_t,i`` depends on ``x`` only through ``x_i``, its posterior over ``x_i`` factorises
    exactly as ``p(x_i = k | z_t) ∝ N(z_t,i; alpha_t v_k, sigma_t^2) p(x_i = k | z_t,-i)``. The
    Gaussian factor is known in closed form; the network supplies the other as ``logits``
    (the context's belief about pixel ``i``, as in CDCD's score interpolation, Dieleman et al.
    2022, "Continuous diffusion for categorical data"). At low noise the known factor rounds
    ``z`` to the nearest level by itself, which a network of ``z`` alone learns slowly and
    overfits (measured: the train/test gap of a plain eps-network on the digits sat at
    log-SNR 3..6). Returns ``(z - alpha x_hat) / sigma`` with ``x_hat = sum_k p_k v_k``.

    Shapes: ``z`` (B, D), ``gamma`` (B,), ``logits`` (B, D, K), ``values`` (K,).
    """
    alpha = torch.sigmoid(-gamma).sqrt()[:, None]  # (B, 1)
    sigma = torch.sigmoid(gamma).sqrt()[:, None]
    gauss = -0.5 * ((z[..., None] - alpha[..., None] * values) / sigma[..., None]) ** 2
    post = torch.softmax(logits + gauss, dim=-1)  # (B, D, K)
    x_hat = post @ values.to(post.dtype)  # (B, D)
    out: Tensor = (z - alpha * x_hat) / sigma
    return out


class ModulatedBlock(nn.Module):
    """``h + W2 silu(W1 (LN(h) (1 + scale) + shift))`` with (scale, shift) from the condition."""

    def __init__(self, hidden: int, cond: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False)
        self.modulation = nn.Linear(cond, 2 * hidden)
        self.lin1 = nn.Linear(hidden, 2 * hidden)
        self.lin2 = nn.Linear(2 * hidden, hidden)
        for layer in (self.modulation, self.lin2):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        scale, shift = self.modulation(c).chunk(2, dim=1)  # (B, H) each
        inner = self.norm(h) * (1 + scale) + shift
        out: Tensor = h + self.lin2(self.dropout(F.silu(self.lin1(inner))))
        return out


class LocalBranch(nn.Module):
    """Per-pixel logits from each pixel's neighbourhood: 3x3 convolutions on the 8x8 grid of
    ``z`` and its Fourier features, modulated by the condition; weights shared across positions,
    the inductive bias a global MLP lacks on 1,438 training images."""

    def __init__(self, channels_in: int, channels: int, layers: int, cond: int, outputs: int
                 ) -> None:
        super().__init__()
        self.inp = nn.Conv2d(channels_in, channels, 3, padding=1)
        self.convs = nn.ModuleList([nn.Conv2d(channels, channels, 3, padding=1)
                                    for _ in range(layers)])
        self.modulation = nn.Linear(cond, 2 * channels * layers)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.out = nn.Conv2d(channels, outputs, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)  # type: ignore[arg-type]  # Conv2d's bias is Optional

    def forward(self, features: Tensor, c: Tensor) -> Tensor:
        # features: (B, F, 8, 8); c: (B, COND) -> (B, 64, outputs)
        h = self.inp(features)
        mods = self.modulation(c).reshape(c.shape[0], len(self.convs), 2, -1, 1, 1)
        for i, conv in enumerate(self.convs):
            scale, shift = mods[:, i, 0], mods[:, i, 1]
            h = h + conv(F.silu(F.group_norm(h, 1) * (1 + scale) + shift))
        out: Tensor = self.out(F.silu(h))  # (B, outputs, 8, 8)
        return out.flatten(2).transpose(1, 2)


class Denoiser(nn.Module):
    """``eps_theta(z, gamma, y)`` on ``(B, dim)`` data.

    Args:
        dim: data dimensions (64 digits, 2 points).
        hidden: width of the residual stream.
        blocks: residual blocks.
        classes: number of classes (a null class ``classes`` is added), or None.
        outputs: outputs per dimension: 1 for ``eps`` itself, K for the logits of K levels
            (:func:`discrete_eps`).
        fourier: the exponents ``n`` of the input's Fourier features (empty: none).
        dropout: dropout rate inside every block while training (Srivastava et al. 2014):
            1,438 training images overfit a likelihood-trained denoiser within minutes.
    """

    def __init__(self, dim: int, hidden: int, blocks: int, classes: int | None,
                 fourier: tuple[int, ...] = (3, 4, 5), dropout: float = 0.0,
                 outputs: int = 1, local: int = 0) -> None:
        super().__init__()
        self.local = None if not local else LocalBranch(
            1 + 2 * len(tuple(fourier)), local, 3, COND, outputs)
        self.dim, self.hidden, self.fourier, self.outputs = dim, hidden, tuple(fourier), outputs
        self.inp = nn.Linear(dim * (1 + 2 * len(self.fourier)), hidden)
        self.cond = nn.Sequential(nn.Linear(COND, COND), nn.SiLU(), nn.Linear(COND, COND))
        self.label = None if classes is None else nn.Embedding(classes + 1, COND)
        self.blocks = nn.ModuleList([ModulatedBlock(hidden, COND, dropout) for _ in range(blocks)])
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, dim * outputs)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, z: Tensor, gamma: Tensor, y: Tensor | None = None) -> Tensor:
        # z: (B, D); gamma: (B,) log-SNR values; y: (B,) labels (``classes`` = null) or None
        c = self.cond(log_snr_embedding(gamma, COND))  # (B, COND)
        if self.label is not None and y is not None:
            c = c + self.label(y)
        c = F.silu(c)
        features = fourier_features(z, self.fourier)  # (B, D (1 + 2F))
        h = self.inp(features)  # (B, H)
        for block in self.blocks:
            h = block(h, c)
        out: Tensor = self.out(F.silu(self.out_norm(h)))  # (B, D * outputs)
        if self.outputs > 1:
            out = out.reshape(-1, self.dim, self.outputs)
        if self.local is not None:  # the D values as an 8x8 grid, F feature planes
            planes = features.reshape(z.shape[0], -1, 8, 8)
            out = out + self.local(planes, c).reshape(out.shape)
        return out
