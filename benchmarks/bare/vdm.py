"""The VDM's sampling written by hand: z_1 ~ N(0, I), the default number of ancestral steps
over the shipped network and schedule (unguided), then one keyed draw of the discrete decoder.
See :mod:`bare` for the contract."""

from __future__ import annotations

import math
from typing import Any

import torch
from genproto_vdm import bound
from genproto_vdm.model import DEFAULT_STEPS, VDM

from genproto.model import Model
from genproto.streams import KeyedStreams


def bare_batch(model: Model, streams: KeyedStreams, condition: Any) -> torch.Tensor:
    assert isinstance(model, VDM)
    net, steps = model.net, DEFAULT_STEPS
    gamma = net.schedule(torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64).float())[0]
    a2, s2 = torch.sigmoid(-gamma.double()).tolist(), torch.sigmoid(gamma.double()).tolist()
    z = streams.normal(64)
    noise = streams.fork("step-noise")
    for i in range(steps, 0, -1):
        s = i - 1
        eps = net(z, gamma[i].float().expand(z.shape[0]), condition)
        x_hat = ((z - math.sqrt(s2[i]) * eps) / math.sqrt(a2[i])).clamp(-1, 1)
        a_ts2 = a2[i] / a2[s]
        var_ts = s2[i] - a_ts2 * s2[s]
        z = (math.sqrt(a_ts2) * s2[s] / s2[i]) * z + (math.sqrt(a2[s]) * var_ts / s2[i]) * x_hat
        z = z + math.sqrt(max(var_ts * s2[s] / s2[i], 0.0)) * noise.normal(64)
    log_probs = bound.decoder_log_probs(z, gamma[0].double(), model.values)
    return streams.fork("decoder").categorical(log_probs).reshape(-1, 8, 8)
