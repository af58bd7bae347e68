"""The coupling flow's sampling written by hand: eps ~ N(0, I) from the keyed streams, one
inverse pass at the default latent scale, and (digits) the logit map back to levels. See
:mod:`bare` for the contract."""

from __future__ import annotations

from typing import Any

import torch
from genproto_flow.model import ALPHA, DIGITS_LATENT_SCALE, LEVELS, CouplingFlow

from genproto.model import Model
from genproto.streams import KeyedStreams


def bare_batch(model: Model, streams: KeyedStreams, condition: Any) -> torch.Tensor:
    assert isinstance(model, CouplingFlow)
    eps = streams.normal(model.dims)  # (B, D)
    if not model.digits:
        return model.flow(eps, None, 1.0)  # (B, 2) points
    h = model.flow(eps, condition, DIGITS_LATENT_SCALE)  # (B, 64)
    y = (torch.sigmoid(h) - ALPHA) / (1 - 2 * ALPHA)  # back through the logit map, in [0, 1)
    return torch.floor(y * LEVELS).clamp(0, LEVELS - 1).long().view(-1, 8, 8)
