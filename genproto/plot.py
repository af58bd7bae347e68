"""A small chart for PNG reports: lines and points on linear or log axes, drawn with Pillow.

``genproto compare --plot`` needs one picture -- sample quality against sampling
cost, diffusion as a curve over its step counts -- and that does not justify a
plotting library as a dependency. This module draws exactly that kind of chart:

* :class:`Scale` maps data values to pixels on a linear or base-10 log axis and
  chooses the ticks: "nice" steps of 1, 2 or 5 times a power of ten on a linear
  axis (Heckbert 1990, "Nice numbers for graph labels", Graphics Gems I), the
  powers of ten on a log axis (with 2 and 5 times them when the axis spans less
  than two decades, and nice linear steps when it spans too little for those);
* :class:`Series` is one labelled set of points, optionally joined by a line and
  annotated point by point (``"K=5"``);
* :func:`chart` lays out the frame, grid, ticks, tick labels, axis labels,
  title, reference lines and a legend to the right of the plot area.

For ``genproto compare --data points --plot`` it also draws scatter panels of 2-D samples over
a density's contours: :class:`Box` is the region of the plane a panel shows,
:func:`contour_mask` marks the pixels a level set of a grid of values crosses, and
:func:`scatter_panel` / :func:`panel_grid` draw one panel and tile several.

Text uses Pillow's built-in scalable font, so no font file is needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import torch
from PIL import Image, ImageDraw, ImageFont

from genproto.errors import InvalidArgumentError

__all__ = [
    "PALETTE",
    "Box",
    "Layout",
    "Reference",
    "Scale",
    "Series",
    "Tick",
    "chart",
    "contour_mask",
    "panel_grid",
    "scatter_panel",
]

#: Colours of successive series (the "tab10" palette of Vega and matplotlib).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)
_INK = (0, 0, 0)
_GRID = (225, 225, 225)
_MUTED = (90, 90, 90)


@attrs.frozen
class Tick:
    """One tick: the data value and its label."""

    value: float
    label: str


def _label(value: float) -> str:
    """A short tick label: ``0.5``, ``20``, ``1000``, ``1e+05``."""
    if value == 0:
        return "0"
    text = f"{value:.6g}"
    return text


def _nice_step(span: float, target: int) -> float:
    """The step among 1, 2, 5 x 10^k that cuts ``span`` into about ``target`` intervals."""
    raw = span / max(1, target)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if raw <= factor * power * (1 + 1e-9):
            return factor * power
    return 10.0 * power  # unreachable: raw < 10 * power by construction


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(what, value=value, allowed="a finite number")
    return float(value)


@attrs.frozen
class Scale:
    """A data interval ``[low, high]`` drawn onto the pixel interval ``[start, end]``.

    ``end`` may be smaller than ``start`` (a y axis grows upwards, pixel rows
    downwards). On a log axis equal ratios take equal lengths: 1, 10 and 100
    are evenly spaced.

    Use :meth:`fit` to build one around data, with a margin on each side (a
    fraction of the span, in decades on a log axis).
    """

    low: float
    high: float
    start: float
    end: float
    log: bool = False

    def __attrs_post_init__(self) -> None:
        for name in ("low", "high", "start", "end"):
            _finite(getattr(self, name), f"Scale {name!r}")
        if not self.low < self.high:
            raise InvalidArgumentError(
                "Scale bounds", value=(self.low, self.high), allowed="low < high"
            )
        if self.log and self.low <= 0:
            raise InvalidArgumentError(
                "Scale 'low' on a log axis", value=self.low, allowed="a number > 0",
                fix="Use a linear axis for data that can be zero or negative",
            )

    @classmethod
    def fit(cls, values: Sequence[float], start: float, end: float, *, log: bool = False,
            margin: float = 0.06) -> Scale:
        """A scale covering ``values`` with a ``margin`` (fraction of the span) on each side.

        Raises ``InvalidArgumentError`` for no values, non-finite values, or
        values <= 0 on a log axis.
        """
        data = [_finite(v, "a plotted value") for v in values]
        if not data:
            raise InvalidArgumentError("values to plot", value=[], allowed="at least one number")
        if log:
            if min(data) <= 0:
                raise InvalidArgumentError(
                    "a value on a log axis", value=min(data), allowed="numbers > 0",
                    fix="Plot it on a linear axis (log=False)",
                )
            lo, hi = math.log10(min(data)), math.log10(max(data))
            pad = (hi - lo) * margin if hi > lo else 0.5
            return cls(10.0 ** (lo - pad), 10.0 ** (hi + pad), start, end, log=True)
        lo, hi = min(data), max(data)
        if hi == lo:
            pad = abs(lo) * 0.1 or 1.0
            lo, hi = lo - pad, hi + pad
        pad = (hi - lo) * margin
        lo, hi = lo - pad, hi + pad
        if min(data) >= 0 > lo:
            lo = 0.0  # a quantity that cannot be negative should not get a negative axis
        return cls(lo, hi, start, end, log=False)

    def _unit(self, value: float) -> float:
        if self.log:
            return (math.log10(value) - math.log10(self.low)) / (
                math.log10(self.high) - math.log10(self.low)
            )
        return (value - self.low) / (self.high - self.low)

    def position(self, value: float) -> float:
        """The pixel coordinate of ``value`` (values outside the interval extrapolate)."""
        if self.log and value <= 0:
            raise InvalidArgumentError(
                "a value on a log axis", value=value, allowed="a number > 0"
            )
        return self.start + (self.end - self.start) * self._unit(value)

    def ticks(self, target: int = 6) -> list[Tick]:
        """Tick values inside ``[low, high]`` with their labels, ascending."""
        eps = 1e-9
        if self.log:
            first = math.ceil(math.log10(self.low) - eps)
            last = math.floor(math.log10(self.high) + eps)
            values = [10.0**k for k in range(first, last + 1)]
            if len(values) < 3:  # under two decades: 1, 2 and 5 times each power of ten
                values = [
                    m * 10.0**k
                    for k in range(first - 1, last + 1)
                    for m in (1.0, 2.0, 5.0)
                    if self.low * (1 - eps) <= m * 10.0**k <= self.high * (1 + eps)
                ]
            if len(values) >= 2:
                return [Tick(v, _label(v)) for v in sorted(values)]
            # a narrow range (e.g. 30..45): evenly spaced values read better than none
        step = _nice_step(self.high - self.low, target)
        k = math.ceil(self.low / step - eps)
        out = []
        while k * step <= self.high + eps * step:
            value = round(k * step, 12) + 0.0  # no "-0"
            out.append(Tick(value, _label(value)))
            k += 1
        return out


def _floats(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(_finite(v, "a plotted coordinate") for v in values)


def _labels(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(str(v) for v in values)


@attrs.frozen
class Series:
    """Points ``(x[i], y[i])`` under one legend label.

    Attributes:
        label: the legend text.
        x, y: the coordinates (equal lengths, at least one point).
        line: join consecutive points with a line (a curve over a parameter).
        point_labels: a short annotation drawn next to each point, e.g. ``"K=5"``.
        colour: an RGB colour; ``None`` takes the next colour of :data:`PALETTE`.
    """

    label: str
    x: tuple[float, ...] = attrs.field(converter=_floats)
    y: tuple[float, ...] = attrs.field(converter=_floats)
    line: bool = False
    point_labels: tuple[str, ...] | None = attrs.field(default=None, converter=_labels)
    colour: tuple[int, int, int] | None = None

    def __attrs_post_init__(self) -> None:
        if len(self.x) != len(self.y) or not self.x:
            raise InvalidArgumentError(
                f"coordinates of series {self.label!r}",
                value=(len(self.x), len(self.y)),
                allowed="x and y of the same length >= 1",
            )
        if self.point_labels is not None and len(self.point_labels) != len(self.x):
            raise InvalidArgumentError(
                f"point_labels of series {self.label!r}",
                value=len(self.point_labels),
                allowed=f"one label per point ({len(self.x)})",
            )


@attrs.frozen
class Reference:
    """A dashed horizontal line at ``y`` with a label (e.g. the Frechet distance floor)."""

    y: float
    label: str


@attrs.frozen
class Layout:
    """Where :func:`chart` put the plot area and the axes (pixel coordinates), for tests."""

    left: int
    top: int
    right: int
    bottom: int
    x_scale: Scale
    y_scale: Scale


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Any) -> tuple[int, int]:
    box = draw.textbbox((0, 0), text, font=font)
    return int(box[2] - box[0]), int(box[3] - box[1])


def _dashed(draw: ImageDraw.ImageDraw, x0: float, x1: float, y: float,
            colour: tuple[int, int, int]) -> None:
    x = x0
    while x < x1:
        draw.line([(x, y), (min(x + 6, x1), y)], fill=colour, width=1)
        x += 10


def chart(
    series: Sequence[Series],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    x_log: bool = False,
    y_log: bool = False,
    references: Sequence[Reference] = (),
    size: tuple[int, int] = (900, 560),
    legend_width: int = 220,
) -> tuple[Image.Image, Layout]:
    """Draw ``series`` as an RGB image; return it with the :class:`Layout` used.

    The axes fit every point and reference line. The legend, one row per series
    (and per reference line), sits to the right of the plot area.

    Raises:
        InvalidArgumentError: no series, a non-finite coordinate, a value <= 0
            on a log axis, or a canvas too small for the margins.
    """
    if not series:
        raise InvalidArgumentError("series to plot", value=[], allowed="at least one Series")
    width, height = size
    left, top, bottom_margin = 78, 44 if title else 20, 58
    right = width - legend_width - 20
    bottom = height - bottom_margin
    if right - left < 100 or bottom - top < 100:
        raise InvalidArgumentError(
            "chart size", value=size, allowed="at least about (420 + legend_width) x 220 pixels"
        )
    xs = [v for s in series for v in s.x]
    ys = [v for s in series for v in s.y] + [r.y for r in references]
    x_scale = Scale.fit(xs, left, right, log=x_log)
    y_scale = Scale.fit(ys, bottom, top, log=y_log)

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    small, normal, large = _font(11), _font(13), _font(15)

    # 1. Grid and ticks (x below the frame, y left of it).
    for tick in x_scale.ticks():
        px = x_scale.position(tick.value)
        draw.line([(px, top), (px, bottom)], fill=_GRID)
        draw.line([(px, bottom), (px, bottom + 5)], fill=_INK)
        w, _ = _text_size(draw, tick.label, small)
        draw.text((px - w / 2, bottom + 8), tick.label, fill=_INK, font=small)
    for tick in y_scale.ticks():
        py = y_scale.position(tick.value)
        draw.line([(left, py), (right, py)], fill=_GRID)
        draw.line([(left - 5, py), (left, py)], fill=_INK)
        w, h = _text_size(draw, tick.label, small)
        draw.text((left - 8 - w, py - h / 2 - 2), tick.label, fill=_INK, font=small)

    # 2. The frame.
    draw.rectangle([left, top, right, bottom], outline=_INK, width=1)

    # 3. Reference lines, then the series (lines under markers), clipped to the frame.
    for ref in references:
        py = y_scale.position(ref.y)
        _dashed(draw, left, right, py, _MUTED)
    colours = []
    for k, s in enumerate(series):
        colour = s.colour or PALETTE[k % len(PALETTE)]
        colours.append(colour)
        points = [(x_scale.position(x), y_scale.position(y)) for x, y in zip(s.x, s.y,
                                                                             strict=True)]
        if s.line and len(points) > 1:
            draw.line(points, fill=colour, width=2, joint="curve")
        for i, (px, py) in enumerate(points):
            draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour, outline=_INK)
            if s.point_labels is not None and s.point_labels[i]:
                draw.text((px + 6, py - 15), s.point_labels[i], fill=colour, font=small)

    # 4. Axis labels and title.
    if x_label:
        w, _ = _text_size(draw, x_label, normal)
        draw.text(((left + right) / 2 - w / 2, bottom + 28), x_label, fill=_INK, font=normal)
    if y_label:
        w, h = _text_size(draw, y_label, normal)
        label = Image.new("RGB", (w + 4, h + 8), "white")
        ImageDraw.Draw(label).text((2, 0), y_label, fill=_INK, font=normal)
        rotated = label.rotate(90, expand=True)
        img.paste(rotated, (6, int((top + bottom) / 2 - rotated.height / 2)))
    if title:
        w, _ = _text_size(draw, title, large)
        draw.text(((left + right) / 2 - w / 2, 12), title, fill=_INK, font=large)

    # 5. Legend to the right of the frame.
    lx, ly = right + 18, top
    for s, colour in zip(series, colours, strict=True):
        if s.line:
            draw.line([(lx, ly + 7), (lx + 22, ly + 7)], fill=colour, width=2)
        draw.ellipse([lx + 7, ly + 3, lx + 15, ly + 11], fill=colour, outline=_INK)
        draw.text((lx + 30, ly), s.label, fill=_INK, font=normal)
        ly += 20
    for ref in references:
        _dashed(draw, lx, lx + 22, ly + 7, _MUTED)
        draw.text((lx + 30, ly), ref.label, fill=_INK, font=normal)
        ly += 20
    return img, Layout(left, top, right, bottom, x_scale, y_scale)


# --- scatter panels over contours ------------------------------------------------------------


@attrs.frozen
class Box:
    """The region ``[x_low, x_high] x [y_low, y_high]`` of the plane a panel shows."""

    x_low: float
    x_high: float
    y_low: float
    y_high: float

    def __attrs_post_init__(self) -> None:
        for name in ("x_low", "x_high", "y_low", "y_high"):
            _finite(getattr(self, name), f"Box {name!r}")
        if not (self.x_low < self.x_high and self.y_low < self.y_high):
            raise InvalidArgumentError("Box bounds", value=attrs.astuple(self),
                                       allowed="x_low < x_high and y_low < y_high")

    def pixel_centres(self, width: int, height: int) -> torch.Tensor:
        """The plane's coordinates of the centres of a ``height`` x ``width`` grid of pixels,
        row 0 at the top: shape ``(height, width, 2)``, float64."""
        xs = self.x_low + (torch.arange(width, dtype=torch.float64) + 0.5) * (
            (self.x_high - self.x_low) / width)  # (W,)
        ys = self.y_high - (torch.arange(height, dtype=torch.float64) + 0.5) * (
            (self.y_high - self.y_low) / height)  # (H,)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
        return torch.stack([grid_x, grid_y], dim=-1)  # (H, W, 2)


def contour_mask(values: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
    """Pixels a level set crosses: ``(H, W)`` bool, true where some level lies between a
    pixel's value and its right or lower neighbour's (a crossing marks the pixel before it).

    Raises:
        InvalidArgumentError: ``values`` is not a 2-D tensor.
    """
    if not isinstance(values, torch.Tensor) or values.dim() != 2:
        raise InvalidArgumentError("contour_mask() argument 'values'",
                                   value=getattr(values, "shape", values),
                                   allowed="a 2-D tensor (H, W)")
    mask = torch.zeros(values.shape, dtype=torch.bool)
    for level in levels:
        above = (values >= level).cpu()  # (H, W); -inf is below every level
        mask[:, :-1] |= above[:, :-1] != above[:, 1:]
        mask[:-1, :] |= above[:-1, :] != above[1:, :]
    return mask


def scatter_panel(
    points: torch.Tensor | None,
    box: Box,
    *,
    size: tuple[int, int] = (200, 200),
    contours: torch.Tensor | None = None,
    title: Sequence[str] = (),
    colour: tuple[int, int, int] = PALETTE[0],
    message: str = "",
) -> Image.Image:
    """One panel: ``points`` ``(N, 2)`` as 2x2-pixel dots over ``contours`` (a ``(H, W)`` mask
    of the plot area, :func:`contour_mask`), framed, with ``title`` lines above it; points
    outside ``box`` are left out. ``message`` is written across an empty panel.
    """
    width, height = size
    line = 14
    top = 4 + line * len(title)
    img = Image.new("RGB", (width + 8, height + top + 6), "white")
    draw = ImageDraw.Draw(img)
    font = _font(11)
    for i, text in enumerate(title):
        draw.text((4, 2 + line * i), text, fill=_INK if i == 0 else _MUTED, font=font)
    left = 4
    if contours is not None:
        if tuple(contours.shape) != (height, width):
            raise InvalidArgumentError("scatter_panel() argument 'contours'",
                                       value=tuple(contours.shape),
                                       allowed=f"a mask of the plot area, ({height}, {width})")
        rows, cols = torch.nonzero(contours, as_tuple=True)
        draw.point([(left + int(c), top + int(r)) for r, c in zip(rows.tolist(), cols.tolist(),
                                                                  strict=True)], fill=_MUTED)
    if points is not None and len(points):
        xy = points.detach().to("cpu", torch.float64)
        px = (xy[:, 0] - box.x_low) / (box.x_high - box.x_low) * width  # (N,)
        py = (box.y_high - xy[:, 1]) / (box.y_high - box.y_low) * height  # (N,)
        inside = (px >= 0) & (px < width - 1) & (py >= 0) & (py < height - 1)
        for x, y in zip(px[inside].floor().long().tolist(), py[inside].floor().long().tolist(),
                        strict=True):
            draw.rectangle([left + x, top + y, left + x + 1, top + y + 1], fill=colour)
    if message:
        w, h = _text_size(draw, message, font)
        x, y = left + (width - w) // 2, top + (height - h) // 2
        draw.rectangle([x - 4, y - 3, x + w + 4, y + h + 5], fill="white", outline=_MUTED)
        draw.text((x, y), message, fill=_INK, font=font)
    draw.rectangle([left - 1, top - 1, left + width, top + height], outline=_INK)
    return img


def panel_grid(panels: Sequence[Sequence[Image.Image]], *, title: str = "",
               gap: int = 6) -> Image.Image:
    """Tile rows of panels (each row left-aligned; cells as large as the largest panel) under
    a ``title``.

    Raises:
        InvalidArgumentError: no panels.
    """
    cells = [p for row in panels for p in row]
    if not cells:
        raise InvalidArgumentError("panels to tile", value=[], allowed="at least one panel")
    cell_w = max(p.width for p in cells)
    cell_h = max(p.height for p in cells)
    columns = max(len(row) for row in panels)
    head = 30 if title else 6
    img = Image.new("RGB", (gap + columns * (cell_w + gap), head + len(panels) * (cell_h + gap)),
                    "white")
    if title:
        ImageDraw.Draw(img).text((gap + 2, 8), title, fill=_INK, font=_font(15))
    for i, row in enumerate(panels):
        for j, panel in enumerate(row):
            img.paste(panel, (gap + j * (cell_w + gap), head + i * (cell_h + gap)))
    return img
