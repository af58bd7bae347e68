"""The probability-flow ODE log-likelihood of a VDM: the "via the score" route, an estimate.

Song, Sohl-Dickstein, Kingma, Kumar, Ermon & Poole 2021, "Score-Based Generative Modeling through
Stochastic Differential Equations", section 4.3 and appendix D.2: the deterministic flow that
shares the diffusion's marginals has a density given by the instantaneous change of variables
(Chen et al. 2018, "Neural ODEs", theorem 1). In DDIM's variables ``xbar = z / alpha`` and
``sigmabar^2 = exp(gamma)`` the flow reads ``d xbar / d sigmabar = eps_theta(z, gamma)`` (Song,
Meng & Ermon 2021, DDIM eq. 14); written in the log-SNR ``gamma`` (``d sigmabar = sigmabar/2
d gamma``) it is smooth over the whole range, and is integrated with fixed-step RK4 on equal
steps of ``gamma`` from ``gamma_0`` to ``gamma_1``::

    f(xbar, gamma)  = 1/2 exp(gamma / 2) eps_theta(alpha xbar, gamma)
    div_xbar f      = 1/2 exp(gamma / 2) alpha div_z eps_theta
    log p_0(xbar_0) = log p_1(xbar_1) + int_{gamma_0}^{gamma_1} div_xbar f d gamma

with ``p_1`` the prior ``z_1 ~ N(0, I)``. The divergence is Hutchinson's estimate ``v^T (d eps /
d z) v`` (Hutchinson 1989; FFJORD, Grathwohl et al. 2019) with keyed Rademacher probes ``v``,
the same ``v`` along one trajectory, averaged over ``probes`` trajectories' worth of probes.

The estimate goes through the model's own decoder ``p(x | z_0)`` (discrete levels or a Gaussian
density, :meth:`~genproto_vdm.model.VariationalDiffusion.reconstruction`): with ``z_0 ~ q(z_0 |
x) = N(alpha_0 x, sigma_0^2)``, ``log p(x) ~ log p(x | z_0) + log p_ODE(z_0) - log q(z_0 | x)``
(one importance sample of ``log int p(x | z_0) p_ODE(z_0) dz_0``; ``sigma_0 ~ 1e-3`` makes it
nearly exact). On the digits this is what makes the number a probability of the levels: the
model's ``t = 0`` marginal is concentrated within ``sigma_0`` of the 17 levels, so a uniform
dequantisation would measure the gaps between them. The flow's density is not the diffusion's,
and the trace is estimated: the number may fall on either side of ``log p(x)``, hence
:attr:`~genproto.protocol.Likelihood.ESTIMATE`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from genproto.options import Option
from genproto.streams import KeyedStreams

if TYPE_CHECKING:
    from genproto_vdm.model import VariationalDiffusion

__all__ = ["OPTIONS", "log_likelihood"]

OPTIONS = (
    Option("ode_steps", int, 32, "RK4 steps on equal steps of the log-SNR (4 network calls "
           "each, plus their vector-Jacobian products)", minimum=1, maximum=4096),
    Option("probes", int, 1, "Rademacher probes of the Hutchinson trace per trajectory",
           minimum=1, maximum=64),
)


def _field(model: VariationalDiffusion, xbar: Tensor, gamma: float, condition: Tensor | None,
           probes: Tensor) -> tuple[Tensor, Tensor]:
    """``f(xbar, gamma)`` and its Hutchinson divergence, (B, D) and (B,), float64."""
    alpha = math.sqrt(1.0 / (1.0 + math.exp(gamma)))  # sqrt(sigmoid(-gamma))
    scale = 0.5 * math.exp(gamma / 2)
    z = (alpha * xbar).float().detach().requires_grad_(True)
    g = torch.full((z.shape[0],), gamma, device=z.device)
    eps = model.net(z, g, condition)  # (B, D)
    div = torch.zeros(z.shape[0], dtype=torch.float64, device=z.device)
    for k in range(probes.shape[1]):
        v = probes[:, k]
        (vjp,) = torch.autograd.grad(eps, z, v, retain_graph=k + 1 < probes.shape[1])
        div += (vjp * v).sum(1).double()
    div /= probes.shape[1]
    return (scale * eps).detach().double(), scale * alpha * div


def log_likelihood(model: VariationalDiffusion, x: Tensor, condition: Tensor | None,
                   streams: KeyedStreams, **options: Any) -> Tensor:
    """The ODE estimate of ``log p(x | c)`` in nats, ``(B,)`` float32 (see the module)."""
    steps, n_probes = int(options["ode_steps"]), int(options["probes"])
    x0 = model.to_model_space(x).double()  # (B, D)
    d = x0.shape[1]
    probes = streams.fork("probes").rademacher(n_probes, d).to(model.device)  # (B, P, D)
    eps0 = streams.fork("z0").normal(d).to(model.device).double()
    with torch.no_grad():
        g0, g1 = (float(v) for v in model.schedule.endpoints())
    a0, s0 = math.sqrt(1 / (1 + math.exp(g0))), math.sqrt(1 / (1 + math.exp(-g0)))
    z0 = a0 * x0 + s0 * eps0  # z_0 ~ q(z_0 | x)
    log_q = (-0.5 * eps0**2 - math.log(s0) - 0.5 * math.log(2 * math.pi)).sum(1)
    with torch.inference_mode(False), torch.enable_grad():
        # Tensors made under the sampler's inference mode (the labels the class marginal makes)
        # cannot be saved for backward: the class embedding saves its indices. Normal copies.
        condition = None if condition is None else condition.clone()
        xbar = (z0 / a0).clone()
        logdet = torch.zeros(x0.shape[0], dtype=torch.float64, device=x0.device)
        h = (g1 - g0) / steps
        for i in range(steps):
            g = g0 + i * h
            k1, d1 = _field(model, xbar, g, condition, probes)
            k2, d2 = _field(model, xbar + h / 2 * k1, g + h / 2, condition, probes)
            k3, d3 = _field(model, xbar + h / 2 * k2, g + h / 2, condition, probes)
            k4, d4 = _field(model, xbar + h * k3, g + h, condition, probes)
            xbar = xbar + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            logdet = logdet + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)
    a1 = math.sqrt(1 / (1 + math.exp(g1)))
    z1 = a1 * xbar
    log_prior = (-0.5 * z1**2 - 0.5 * math.log(2 * math.pi)).sum(1) + d * math.log(a1)
    log_pz0 = log_prior + logdet - d * math.log(a0)  # density of z_0 = alpha_0 xbar_0
    decoder = -model.reconstruction(x, z0, torch.tensor(g0, dtype=torch.float64))
    out = decoder + log_pz0 - log_q + model.log_jacobian
    return out.float().detach()
