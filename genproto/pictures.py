"""Pictures of samples: a grid of images, or a scatter plot of 2-D points, as PNG.

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
from genproto.protocol import EventKind, EventSpace

__all__ = ["image_grid", "save_png", "scatter_plot", "to_picture"]


def image_grid(
    images: torch.Tensor, *, levels: int, columns: int | None = None, scale: int = 4, pad: int = 1
) -> Image.Image:
    """Tile ``images`` (N, H, W) of integer levels ``0..levels-1`` into one grey image.

    Dark strokes on white, like ink: level 0 is white, the top level black.
    """
    if images.ndim != 3:
        raise InvalidArgumentError("images shape", value=tuple(images.shape), allowed="(N, H, W)")
    n, h, w = images.shape
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    cell_h, cell_w = h * scale + pad, w * scale + pad
    canvas = np.full((rows * cell_h + pad, cols * cell_w + pad), 200, dtype=np.uint8)
    pixels = images.detach().to("cpu", torch.float32).numpy()
    grey = (255.0 * (1.0 - np.clip(pixels, 0, levels - 1) / (levels - 1))).astype(np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        tile = np.kron(grey[k], np.ones((scale, scale), dtype=np.uint8))
        top, left = pad + r * cell_h, pad + c * cell_w
        canvas[top : top + h * scale, left : left + w * scale] = tile
    return Image.fromarray(canvas, mode="L")


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
    if event.kind is EventKind.DISCRETE and len(event.shape) == 2 and event.levels:
        return image_grid(samples, levels=event.levels)
    if event.shape == (2,):
        return scatter_plot(samples)
    raise InvalidArgumentError(
        "no picture for this event space",
        value=event.describe(),
        allowed="2-D discrete images or 2-D points",
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
