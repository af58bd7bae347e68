"""The learned noise schedule of a variational diffusion model: a monotone log-SNR curve.

Kingma, Salimans, Poole & Ho 2021, "Variational Diffusion Models" (VDM), section 3 and
appendix H. The forward process is ``z_t = alpha_t x + sigma_t eps`` with the variance-preserving
``alpha_t^2 = sigmoid(-gamma(t))``, ``sigma_t^2 = sigmoid(gamma(t))``, so the signal-to-noise
ratio is ``SNR(t) = exp(-gamma(t))``, and ``gamma`` must increase with ``t`` on ``[0, 1]``.

VDM parameterises ``gamma`` by a monotone network and normalises it, so that its *shape* and its
*endpoints* are separate parameters::

    g(t)     = l1(t) + l3(sigmoid(l2(l1(t))))          # every weight positive: g increases
    gamma(t) = gamma_0 + (gamma_1 - gamma_0) (g(t) - g(0)) / (g(1) - g(0))

The continuous-time diffusion loss depends on the schedule only through its endpoints (VDM
eq. 16, the invariance of section 5.1); the endpoints are trained on the bound, the shape on the
*variance* of the bound's Monte Carlo estimate (VDM section 5.2). Here the endpoints are kept inside
declared ranges by construction (a sigmoid onto each range), so a trained schedule can never leave
them, and ``g'(t)`` is computed in closed form, so the loss needs no second autograd pass.
"""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genproto.errors import InvalidArgumentError

__all__ = ["EndpointRange", "LearnedSchedule"]


@attrs.frozen
class EndpointRange:
    """Where ``gamma(0)`` and ``gamma(1)`` may lie: ``low < high`` (log-SNR units)."""

    low: float
    high: float

    def __attrs_post_init__(self) -> None:
        if not self.low < self.high:
            raise InvalidArgumentError("schedule endpoint range", value=(self.low, self.high),
                                       allowed="low < high", fix="Swap or widen the range")

    def inside(self, raw: Tensor) -> Tensor:
        """A raw parameter mapped onto ``(low, high)`` by a sigmoid."""
        return self.low + (self.high - self.low) * torch.sigmoid(raw)

    def raw(self, value: float) -> float:
        """The raw parameter that :meth:`inside` maps to ``value`` (strictly inside)."""
        if not self.low < value < self.high:
            raise InvalidArgumentError("schedule endpoint", value=value,
                                       allowed=f"strictly inside ({self.low}, {self.high})",
                                       fix="Start the schedule inside its declared range")
        p = (value - self.low) / (self.high - self.low)
        return float(torch.logit(torch.tensor(p, dtype=torch.float64)))


#: VDM's initial endpoints on images (gamma_0 = -13.3, gamma_1 = 5.0); the ranges let training
#: move them by several nats either way while keeping the bound's reconstruction and prior terms
#: finite.
GAMMA_0 = EndpointRange(-20.0, -5.0)
GAMMA_1 = EndpointRange(1.0, 15.0)


class LearnedSchedule(nn.Module):
    """``gamma(t)``, increasing on ``[0, 1]``, with learned endpoints and shape (VDM appendix H).

    Args:
        hidden: units of the monotone network's sigmoid layer (VDM: 1024).
        gamma_0, gamma_1: the initial endpoints; the schedule starts (nearly) linear between them.
    """

    def __init__(self, hidden: int = 1024, gamma_0: float = -13.3, gamma_1: float = 5.0) -> None:
        super().__init__()
        self.hidden = hidden
        self.start = nn.Parameter(torch.tensor(GAMMA_0.raw(gamma_0)))
        self.end = nn.Parameter(torch.tensor(GAMMA_1.raw(gamma_1)))
        # Raw weights; softplus makes them positive. l1: 1 -> 1, l2: 1 -> H, l3: H -> 1.
        self.w1 = nn.Parameter(torch.tensor(1.0))
        self.b1 = nn.Parameter(torch.tensor(0.0))
        self.w2 = nn.Parameter(torch.randn(hidden) * 0.1)
        self.b2 = nn.Parameter(torch.randn(hidden) * 0.1)
        self.w3 = nn.Parameter(torch.full((hidden,), -4.0))  # softplus(-4) ~ 0.018: near linear

    def shape_parameters(self) -> list[nn.Parameter]:
        """The parameters of the shape (trained on the bound's variance)."""
        return [self.w1, self.b1, self.w2, self.b2, self.w3]

    def endpoint_parameters(self) -> list[nn.Parameter]:
        """The parameters of the endpoints (trained on the bound itself)."""
        return [self.start, self.end]

    def endpoints(self) -> tuple[Tensor, Tensor]:
        """``(gamma(0), gamma(1))`` as 0-d tensors, each inside its declared range."""
        return GAMMA_0.inside(self.start), GAMMA_1.inside(self.end)

    def _unnormalised(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """``g(t)`` and ``g'(t)`` of the monotone network, both ``t.shape``."""
        w1, w2, w3 = F.softplus(self.w1), F.softplus(self.w2), F.softplus(self.w3)
        h = w1 * t + self.b1  # l1(t)
        s = torch.sigmoid(h[..., None] * w2 + self.b2)  # (..., H)
        g = h + (s * w3).sum(-1)
        dg = w1 * (1 + (s * (1 - s) * w2 * w3).sum(-1))  # chain rule through l2, l3
        return g, dg

    def forward(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """``gamma(t)`` and ``gamma'(t)`` for ``t`` in ``[0, 1]`` (any shape)."""
        g0, g1 = self.endpoints()
        ends, _ = self._unnormalised(torch.tensor([0.0, 1.0], dtype=t.dtype, device=t.device))
        g, dg = self._unnormalised(t)
        span = (g1 - g0) / (ends[1] - ends[0])
        return g0 + span * (g - ends[0]), span * dg
