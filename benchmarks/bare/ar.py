"""The ``ar`` plugin's sampling written by hand over its networks, for every shipped config.

* digits (:class:`~genproto_ar.model.PixelAR`): the Gumbel numbers of all 64 pixels in one keyed
  draw, then 64 one-token steps of the network's decoder over a cache, in passes of
  ``decode_rows`` rows, each pixel ``argmax(logits + g)``. Each step calls the network as a
  user would, ``net(tokens, cache)`` (a cache that carries the decoder takes its step).
* names (:class:`~genproto_ar.names.NamesAR`): the GRU one character a step on the rows still
  running, a keyed Gumbel-max draw from those rows' streams, rows leaving at their stop.
* toy 2-D points (:class:`~genproto_ar.points.PointsAR`): x1 from p(x1), then x2 from
  p(x2 | x1), each mixture drawn from its own fork by :func:`genproto.distributions.draw`.

Default sampling options (temperature 1, no top-k, the KV cache). See :mod:`bare` for the
contract: the same samples as ``model.sample``, bit for bit on the CPU.
"""

from __future__ import annotations

from typing import Any

import torch

from genproto.data.names_text import NAMES_MAX_LENGTH, NAMES_STOP, NAMES_VOCABULARY
from genproto.distributions import draw
from genproto.model import Model
from genproto.streams import KeyedStreams
from genproto_ar.model import LEVELS, PIXELS, Decoder, PixelAR, decode_rows, pixel_noise
from genproto_ar.names import NamesAR
from genproto_ar.points import COORDINATES, PointsAR, mixture, network_inputs


def _digits(model: PixelAR, streams: KeyedStreams, condition: torch.Tensor) -> torch.Tensor:
    B = len(streams)
    noise = pixel_noise(streams.fork("pixels"))  # (B, 64, 17)
    decoder = Decoder(model.net)
    out = torch.empty(B, PIXELS, dtype=torch.int64)  # (B, 64)
    rows = decode_rows(model.net, B, model.device)
    for start in range(0, B, rows):
        stop = min(start + rows, B)
        cache = model.net.new_cache(stop - start, model.device, decoder=decoder)
        token = condition[start:stop] + LEVELS  # (R,) the class token
        for t in range(PIXELS):
            logits = model.net(token.unsqueeze(1), cache)[:, -1]  # (R, 17)
            token = (logits + noise[start:stop, t]).argmax(dim=-1)  # (R,)
            out[start:stop, t] = token
    return out.view(B, 8, 8)


def _names(model: NamesAR, streams: KeyedStreams, condition: torch.Tensor) -> torch.Tensor:
    B = len(streams)
    draws = streams.fork("tokens")
    x = torch.full((B, NAMES_MAX_LENGTH), NAMES_STOP, dtype=torch.int64)  # (B, 16)
    running = torch.arange(B)  # rows that have not drawn the stop
    previous = condition + NAMES_VOCABULARY  # (B,) the list token
    state: torch.Tensor | None = None
    for t in range(NAMES_MAX_LENGTH - 1):
        logits, state = model.net(previous.unsqueeze(1), state)  # (R, 1, 27), (1, R, H)
        token = draws.select(running).categorical(logits[:, -1])  # (R,)
        x[running, t] = token
        going = token != NAMES_STOP
        if not bool(going.any()):
            break
        running, previous, state = running[going], token[going], state[:, going]
    return x


def _points(model: PointsAR, streams: KeyedStreams) -> torch.Tensor:
    x = torch.zeros(len(streams), COORDINATES)  # (B, 2)
    for t in range(COORDINATES):
        conditional = mixture(*model.net(network_inputs(t, x[:, max(t - 1, 0)])))
        x[:, t] = draw(streams.fork(f"x{t + 1}"), conditional)
    return x


def bare_batch(model: Model, streams: KeyedStreams, condition: Any) -> torch.Tensor:
    """One batch of ``model``'s default sampling, by hand (see the module docstring)."""
    if isinstance(model, PixelAR):
        return _digits(model, streams, condition)
    if isinstance(model, NamesAR):
        return _names(model, streams, condition)
    if isinstance(model, PointsAR):
        return _points(model, streams)
    raise TypeError(f"bare/ar.py has no loop for {type(model).__name__}")
