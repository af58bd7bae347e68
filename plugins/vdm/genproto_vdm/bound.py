"""The continuous-time variational bound of a diffusion model, term by term (nats per example).

Kingma, Salimans, Poole & Ho 2021, "Variational Diffusion Models" (VDM), section 4 and eq. 17.
With ``z_t = alpha_t x + sigma_t eps``, ``alpha_t^2 = sigmoid(-gamma_t)``,
``sigma_t^2 = sigmoid(gamma_t)``, the negative bound ``-log p(x) <= L(x)`` is the sum of

* the **prior** term ``KL(q(z_1 | x) || N(0, I))`` in closed form;
* the **reconstruction** term ``E_{q(z_0 | x)} [-log p(x | z_0)]``: a discrete decoder over the
  levels for discrete data,
  ``p(x_i = k | z_0) ∝ exp(-(z_0,i / alpha_0 - v_k)^2 / (2 exp(gamma_0)))``
  (VDM appendix C: the factorised decoder puts all of its mass on the data's levels ``v_k``, so
  it sums to one over them), or the density ``N(x; z_0 / alpha_0, exp(gamma_0))`` for continuous
  data (``exp(gamma_0) = sigma_0^2 / alpha_0^2``);
* the **diffusion** term in the limit of infinitely many steps (VDM eq. 17)
  ``L_inf(x) = 1/2 E_{t ~ U(0, 1), eps} [gamma'(t) ||eps - eps_theta(z_t, t)||^2]``,
  estimated without bias by Monte Carlo over ``t`` and ``eps``.

Every function takes per-example tensors and returns ``(B,)`` nats, float64 where it sums.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor

from genproto.streams import KeyedStreams

__all__ = [
    "Terms",
    "alpha_sigma",
    "negative_bound",
    "diffusion_term",
    "discrete_reconstruction",
    "gaussian_reconstruction",
    "prior_term",
]


def alpha_sigma(gamma: Tensor) -> tuple[Tensor, Tensor]:
    """``(alpha, sigma)`` of the variance-preserving process at log-SNR ``-gamma``."""
    return torch.sigmoid(-gamma).sqrt(), torch.sigmoid(gamma).sqrt()


def prior_term(x: Tensor, gamma_1: Tensor) -> Tensor:
    """``KL(N(alpha_1 x, sigma_1^2 I) || N(0, I))`` summed over the dimensions of ``x`` (B, D)."""
    x = x.double()
    g = gamma_1.double()
    var = torch.sigmoid(g)  # sigma_1^2
    mean_sq = torch.sigmoid(-g) * x**2  # alpha_1^2 x^2
    kl = 0.5 * (var + mean_sq - 1 - F.logsigmoid(g))
    return kl.sum(1)


def discrete_reconstruction(levels: Tensor, z0: Tensor, gamma_0: Tensor, values: Tensor
                            ) -> Tensor:
    """``-log p(x | z_0)`` of the discrete decoder, summed over dimensions.

    Args:
        levels: ``(B, D)`` int64 level indices of ``x``.
        z0: ``(B, D)`` the latent at ``t = 0``.
        gamma_0: 0-d log-SNR at ``t = 0``.
        values: ``(K,)`` the levels' values in the diffusion's units.
    """
    log_probs = decoder_log_probs(z0, gamma_0, values)  # (B, D, K)
    return -log_probs.gather(-1, levels[..., None]).squeeze(-1).sum(1)


def decoder_log_probs(z0: Tensor, gamma_0: Tensor, values: Tensor) -> Tensor:
    """``log p(x_i = k | z_0)`` of the discrete decoder, ``(B, D, K)`` float64."""
    g = gamma_0.double()
    scaled = z0.double() / torch.sigmoid(-g).sqrt()  # z_0 / alpha_0, ~ x + exp(gamma_0 / 2) eps
    logits = -0.5 * (scaled[..., None] - values.double()) ** 2 / torch.exp(g)
    return torch.log_softmax(logits, dim=-1)


def gaussian_reconstruction(x: Tensor, z0: Tensor, gamma_0: Tensor) -> Tensor:
    """``-log N(x; z_0 / alpha_0, exp(gamma_0) I)`` summed over dimensions (continuous data)."""
    g = gamma_0.double()
    scaled = z0.double() / torch.sigmoid(-g).sqrt()
    var = torch.exp(g)
    nll = 0.5 * ((x.double() - scaled) ** 2 / var + torch.log(2 * math.pi * var))
    return nll.sum(1)


def diffusion_term(eps: Tensor, eps_hat: Tensor, dgamma: Tensor) -> Tensor:
    """One Monte Carlo term of ``L_inf``: ``1/2 gamma'(t) ||eps - eps_hat||^2`` per example."""
    return 0.5 * dgamma.double() * ((eps.double() - eps_hat.double()) ** 2).sum(1)


@attrs.frozen
class Terms:
    """The negative bound of each row and its three terms, ``(B,)`` float64 nats each."""

    prior: Tensor
    reconstruction: Tensor
    diffusion: Tensor

    @property
    def total(self) -> Tensor:
        """``-log p(x) <= total``."""
        out: Tensor = self.prior + self.reconstruction + self.diffusion
        return out


Schedule = Callable[[Tensor], tuple[Tensor, Tensor]]
"""``t -> (gamma(t), gamma'(t))``."""


def negative_bound(
    x0: Tensor,
    endpoints: tuple[Tensor, Tensor],
    schedule: Schedule,
    eps_fn: Callable[[Tensor, Tensor], Tensor],
    reconstruction: Callable[[Tensor, Tensor], Tensor],
    streams: KeyedStreams,
    samples: int,
) -> Terms:
    """The continuous-time bound of rows ``x0`` (B, D), estimated with ``samples`` times.

    ``t`` is stratified, one uniform time in each of ``samples`` equal strata of ``[0, 1]``,
    each with its own ``eps`` (an unbiased estimate of ``L_inf``; VDM eq. 17), and one
    ``z_0 ~ q(z_0 | x)`` for the reconstruction term. ``eps_fn(z_t, gamma_t)`` is the noise
    prediction, ``reconstruction(z_0, gamma_0)`` the decoder's ``-log p(x | z_0)``. Draws, in
    order: ``samples`` float64 uniforms, ``samples x D`` normals, ``D`` normals.
    """
    gamma_0, gamma_1 = endpoints
    b, d = x0.shape
    dev = x0.device
    x0 = x0.double()
    u = streams.uniform(samples, dtype=torch.float64).to(dev)  # (B, K)
    t = (torch.arange(samples, device=dev) + u) / samples  # (B, K): one t per stratum
    eps = streams.normal(samples, d).to(dev)  # (B, K, D)
    eps0 = streams.normal(d).to(dev)  # (B, D)
    diffusion = torch.zeros(b, dtype=torch.float64, device=dev)
    for j in range(samples):
        gamma, dgamma = schedule(t[:, j].float())
        alpha, sigma = alpha_sigma(gamma.double())
        z = (alpha[:, None] * x0 + sigma[:, None] * eps[:, j].double()).float()
        diffusion += diffusion_term(eps[:, j], eps_fn(z, gamma), dgamma)
    a0, s0 = alpha_sigma(gamma_0.double())
    z0 = a0 * x0 + s0 * eps0.double()
    return Terms(prior_term(x0, gamma_1), reconstruction(z0, gamma_0), diffusion / samples)
