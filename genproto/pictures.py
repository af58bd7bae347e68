"""Pictures of samples: a grid of images, or a scatter plot of 2-D points, as PNG.

What is drawn follows the event's declared :class:`~genproto.protocol.Layout`: an image
event (``(H, W)`` or ``(C, H, W)`` with 1 or 3 channels) is a grid in grey or colour, a
2-D point a scatter; an event of no declared layout is drawn as protocol 1 drew it (a 2-D
discrete event as the digits' grey "ink" grid, a 2-D vector as a scatter).

Pillow draws both, so showing samples needs no plotting library. The PNG
carries the seed and the run's provenance as text chunks, so a picture can be
traced back to the exact command that made it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, PngImagePlugin

from genproto._atomic import atomic_open, check_target
from genproto.errors import InvalidArgumentError
from genproto.protocol import EventKind, EventSpace, Layout

__all__ = ["color_grid", "image_grid", "save_png", "scatter_plot", "to_picture"]


def _tile(tiles: np.ndarray, columns: int | None, scale: int, pad: int) -> Image.Image:
    """Tile ``tiles`` (N, H, W) grey or (N, H, W, 3) RGB uint8 on a light grey canvas."""
    n, h, w = tiles.shape[:3]
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    cell_h, cell_w = h * scale + pad, w * scale + pad
    canvas = np.full((rows * cell_h + pad, cols * cell_w + pad, *tiles.shape[3:]), 200,
                     dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        tile = tiles[k].repeat(scale, axis=0).repeat(scale, axis=1)  # each pixel a square
        top, left = pad + r * cell_h, pad + c * cell_w
        canvas[top : top + h * scale, left : left + w * scale] = tile
    return Image.fromarray(canvas, mode="L" if tiles.ndim == 3 else "RGB")


def image_grid(
    images: torch.Tensor, *, levels: int, columns: int | None = None, scale: int = 4, pad: int = 1
) -> Image.Image:
    """Tile ``images`` (N, H, W) of integer levels ``0..levels-1`` into one grey image.

    Dark strokes on white, like ink: level 0 is white, the top level black.
    """
    if images.ndim != 3:
        raise InvalidArgumentError("images shape", value=tuple(images.shape), allowed="(N, H, W)")
    pixels = images.detach().to("cpu", torch.float32).numpy()
    grey = (255.0 * (1.0 - np.clip(pixels, 0, levels - 1) / (levels - 1))).astype(np.uint8)
    return _tile(grey, columns, scale, pad)


def color_grid(
    images: torch.Tensor, *, columns: int | None = None, scale: int | None = None, pad: int = 1
) -> Image.Image:
    """Tile ``images`` (N, C, H, W), C = 1 (grey) or 3 (RGB), of intensities in [0, 1].

    0 is black and 1 white, as in a photograph; ``scale`` (pixels per image pixel)
    defaults to about 32 screen pixels per image side.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise InvalidArgumentError("images shape", value=tuple(images.shape),
                                   allowed="(N, C, H, W) with C = 1 or 3")
    h, w = images.shape[2:]
    pixels = images.detach().to("cpu", torch.float32).clamp(0, 1).numpy()
    rgb = np.rint(255.0 * pixels).astype(np.uint8).transpose(0, 2, 3, 1)  # (N, H, W, C)
    tiles = rgb[..., 0] if rgb.shape[-1] == 1 else rgb
    return _tile(tiles, columns, scale or max(1, 32 // max(h, w)), pad)


def _intensities(samples: torch.Tensor, event: EventSpace) -> torch.Tensor:
    """An image event's samples as (N, C, H, W) intensities in [0, 1].

    Discrete: level / (levels - 1). Continuous: ``(x - low) / (high - low)`` over the
    declared range; a side without a declared bound takes the samples' own extreme.
    """
    x = samples.detach().to("cpu", torch.float64)
    if x.ndim == 3:
        x = x[:, None]  # (N, H, W) -> (N, 1, H, W)
    if x.shape[1] not in (1, 3):
        raise InvalidArgumentError(
            "no picture for an image event of this many channels", value=event.describe(),
            allowed="1 (grey) or 3 (RGB) channels", fix="Save the samples as .npy instead",
        )
    if event.kind is EventKind.DISCRETE:
        return x / ((event.levels or 2) - 1)
    finite = x[torch.isfinite(x)]
    low = event.low if event.low is not None else float(finite.min()) if finite.numel() else 0.0
    high = (event.high if event.high is not None
            else float(finite.max()) if finite.numel() else 1.0)
    return (x - low) / (high - low) if high > low else torch.full_like(x, 0.5)


def scatter_plot(
    points: torch.Tensor, *, size: int = 512, extent: float | None = None
) -> Image.Image:
    """Draw 2-D ``points`` (N, 2) as dots on a square canvas with axes through 0."""
    if points.ndim != 2 or points.shape[1] != 2:
        raise InvalidArgumentError("points shape", value=tuple(points.shape), allowed="(N, 2)")
    xy = points.detach().to("cpu", torch.float64).numpy()
    finite = xy[np.isfinite(xy).all(axis=1)]
    lim = extent or (float(np.abs(finite).max()) * 1.05 if finite.size else 1.0) or 1.0
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    mid = size // 2
    draw.line([(0, mid), (size, mid)], fill=(210, 210, 210))
    draw.line([(mid, 0), (mid, size)], fill=(210, 210, 210))
    px = (finite[:, 0] / lim + 1) * (size - 1) / 2
    py = (1 - finite[:, 1] / lim) * (size - 1) / 2
    for x, y in zip(px.tolist(), py.tolist(), strict=True):
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(31, 119, 180))
    return img


def to_picture(samples: torch.Tensor, event: EventSpace) -> Image.Image:
    """The natural picture of ``samples``: an image grid, or a scatter for 2-D points."""
    if event.layout is Layout.IMAGE:
        return color_grid(_intensities(samples, event))
    unspecified = event.layout is Layout.UNSPECIFIED
    if unspecified and event.kind is EventKind.DISCRETE and len(event.shape) == 2 \
            and event.levels:
        return image_grid(samples, levels=event.levels)  # protocol 1: the digits' ink
    if event.shape == (2,) and (unspecified or event.layout is Layout.POINTS):
        return scatter_plot(samples)
    raise InvalidArgumentError(
        "no picture for this event space",
        value=event.describe(),
        allowed="image events ((H, W) or (C, H, W), 1 or 3 channels), 2-D discrete "
        "images or 2-D points",
        fix="Save the samples as .npy instead",
    )


def save_png(image: Image.Image, path: str | Path, text: Mapping[str, Any]) -> Path:
    """Save ``image`` as PNG with ``text`` chunks, atomically (temp file, then rename).

    A bad ``path`` or a failed write is an :class:`OutputError`; nothing is left behind.
    """
    target = check_target(path, what="picture")  # before drawing anything
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value if isinstance(value, str) else json.dumps(value))
    with atomic_open(target, what="picture") as fh:
        image.save(fh, format="PNG", pnginfo=info)
    return target
