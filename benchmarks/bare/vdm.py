"""The VDM's sampling written by hand: z_1 ~ N(0, I), the default number of ancestral steps
over the shipped network and schedule (unguided), then one keyed draw of the decoder -- the
discrete levels of the digits, or the Gaussian of a toy 2-D density. See :mod:`bare` for the
contract."""

from __future__ import annotations

import math
from typing import Any

import torch
from genproto_vdm import bound, digits, points

from genproto.model import Model
from genproto.streams import KeyedStreams


def bare_batch(model: Model, streams: KeyedStreams, condition: Any) -> torch.Tensor:
    is_digits = isinstance(model, digits.VDM)
    assert is_digits or isinstance(model, points.PointsVDM)
    net = model.net
    steps, dim = (digits.DEFAULT_STEPS, 64) if is_digits else (points.DEFAULT_STEPS, 2)
    gamma = net.schedule(torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64).float())[0]
    a2, s2 = torch.sigmoid(-gamma.double()).tolist(), torch.sigmoid(gamma.double()).tolist()
    z = streams.normal(dim)
    noise = streams.fork("step-noise")
    for i in range(steps, 0, -1):
        s = i - 1
        eps = net(z, gamma[i].float().expand(z.shape[0]), condition)
        x_hat = (z - math.sqrt(s2[i]) * eps) / math.sqrt(a2[i])
        if is_digits:
            x_hat = x_hat.clamp(-1, 1)
        a_ts2 = a2[i] / a2[s]
        var_ts = s2[i] - a_ts2 * s2[s]
        z = (math.sqrt(a_ts2) * s2[s] / s2[i]) * z + (math.sqrt(a2[s]) * var_ts / s2[i]) * x_hat
        z = z + math.sqrt(max(var_ts * s2[s] / s2[i], 0.0)) * noise.normal(dim)
    decoder = streams.fork("decoder")
    if is_digits:
        log_probs = bound.decoder_log_probs(z, gamma[0].double(), model.values)
        return decoder.categorical(log_probs).reshape(-1, 8, 8)
    g0 = float(gamma[0])
    x = z / math.sqrt(1 / (1 + math.exp(g0))) + math.exp(g0 / 2) * decoder.normal(2)
    return (x * points.SCALE).float()
