"""genproto.plot: scales put values and ticks where they belong, and the chart draws them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genproto.errors import InvalidArgumentError
from genproto.plot import PALETTE, Layout, Reference, Scale, Series, chart

# --- scales ------------------------------------------------------------------------------


def test_log_scale_spaces_equal_ratios_equally() -> None:
    scale = Scale(1.0, 1000.0, 100.0, 400.0, log=True)
    assert scale.position(1.0) == pytest.approx(100.0)
    assert scale.position(10.0) == pytest.approx(200.0)
    assert scale.position(100.0) == pytest.approx(300.0)
    assert scale.position(1000.0) == pytest.approx(400.0)
    assert scale.position(math.sqrt(10.0)) == pytest.approx(150.0)


def test_linear_scale_can_run_upwards() -> None:
    scale = Scale(0.0, 10.0, 500.0, 100.0)  # a y axis: pixel rows grow downwards
    assert scale.position(0.0) == pytest.approx(500.0)
    assert scale.position(2.5) == pytest.approx(400.0)
    assert scale.position(10.0) == pytest.approx(100.0)


def test_log_ticks_are_the_decades_when_the_axis_spans_several() -> None:
    scale = Scale.fit([1.0, 1000.0], 0.0, 300.0, log=True)
    assert [t.value for t in scale.ticks()] == pytest.approx([1.0, 10.0, 100.0, 1000.0])
    assert [t.label for t in scale.ticks()] == ["1", "10", "100", "1000"]
    positions = [scale.position(t.value) for t in scale.ticks()]
    gaps = np.diff(positions)
    assert gaps == pytest.approx([gaps[0]] * 3)  # decades equally far apart


def test_log_ticks_add_two_and_five_on_a_short_axis() -> None:
    scale = Scale.fit([1.0, 64.0], 0.0, 300.0, log=True)
    assert [t.label for t in scale.ticks()] == ["1", "2", "5", "10", "20", "50"]


def test_log_ticks_on_a_narrow_axis_fall_back_to_even_steps() -> None:
    ticks = Scale.fit([30.0, 45.0], 0.0, 300.0, log=True).ticks()
    assert len(ticks) >= 3
    assert all(30 <= t.value <= 46 for t in ticks)


def test_linear_ticks_are_nice_numbers_covering_the_data() -> None:
    scale = Scale.fit([0.0, 9.3], 0.0, 300.0)
    values = [t.value for t in scale.ticks()]
    assert values == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert scale.low == 0.0  # a non-negative quantity gets no negative axis
    assert scale.high > 9.3


def test_fit_keeps_every_value_inside_the_axis() -> None:
    for values, log in (([3.0, 7.0], False), ([0.02, 500.0], True), ([5.0, 5.0], True)):
        scale = Scale.fit(values, 0.0, 100.0, log=log)
        assert all(scale.low < v < scale.high for v in values)


@pytest.mark.parametrize(
    ("values", "log", "phrase"),
    [([], False, "at least one number"), ([0.0, 1.0], True, "numbers > 0"),
     ([1.0, math.nan], False, "finite")],
)
def test_fit_rejects_values_it_cannot_draw(values: list[float], log: bool, phrase: str) -> None:
    with pytest.raises(InvalidArgumentError, match=phrase):
        Scale.fit(values, 0.0, 100.0, log=log)


def test_series_needs_matching_coordinates() -> None:
    with pytest.raises(InvalidArgumentError, match="same length"):
        Series("s", (1.0, 2.0), (1.0,))
    with pytest.raises(InvalidArgumentError, match="one label per point"):
        Series("s", (1.0, 2.0), (1.0, 2.0), point_labels=("a",))


# --- the chart ---------------------------------------------------------------------------


def _dark(pixels: np.ndarray) -> np.ndarray:
    return pixels.sum(-1) < 200  # near-black


@pytest.fixture(scope="module")
def drawn() -> tuple[np.ndarray, Layout]:
    series = [Series("curve", (1.0, 10.0, 100.0), (200.0, 20.0, 4.0), line=True,
                     point_labels=("K=1", "K=10", "K=100")),
              Series("point", (64.0,), (8.0,))]
    image, layout = chart(series, title="Title", x_label="cost", y_label="quality",
                          x_log=True, y_log=True, references=[Reference(3.0, "floor")])
    assert image.size == (900, 560)
    return np.asarray(image.convert("RGB")).astype(int), layout


def test_chart_draws_the_frame_of_the_axes(drawn: tuple[np.ndarray, Layout]) -> None:
    pixels, layout = drawn
    dark = _dark(pixels)
    assert dark[layout.bottom, layout.left + 5 : layout.right - 5].mean() > 0.95  # x axis
    assert dark[layout.top + 5 : layout.bottom - 5, layout.left].mean() > 0.95  # y axis


def test_chart_puts_log_ticks_where_the_scale_says(drawn: tuple[np.ndarray, Layout]) -> None:
    pixels, layout = drawn
    dark = _dark(pixels)
    ticks = layout.x_scale.ticks()
    assert [t.label for t in ticks] == ["1", "10", "100"]
    for tick in ticks:
        column = round(layout.x_scale.position(tick.value))
        # the tick mark: dark pixels just below the axis, at (or beside) its column
        assert dark[layout.bottom + 2 : layout.bottom + 5, column - 1 : column + 2].any()
    between = round((layout.x_scale.position(1.0) + layout.x_scale.position(10.0)) / 2)
    assert not dark[layout.bottom + 2 : layout.bottom + 5, between].any()  # no tick halfway


def test_chart_writes_tick_labels_axis_labels_title_and_legend(
    drawn: tuple[np.ndarray, Layout],
) -> None:
    pixels, layout = drawn
    dark = _dark(pixels)
    assert dark[layout.bottom + 8 : layout.bottom + 24, layout.left : layout.right].any()
    assert dark[layout.bottom + 28 :, layout.left : layout.right].any()  # x label
    assert dark[layout.top : layout.bottom, :20].any()  # rotated y label
    assert dark[layout.top : layout.bottom, 25 : layout.left - 6].any()  # y tick labels
    assert dark[: layout.top - 4, layout.left : layout.right].any()  # title
    assert dark[layout.top : layout.top + 60, layout.right + 40 :].any()  # legend text


def test_chart_draws_each_series_in_its_colour_at_its_points(
    drawn: tuple[np.ndarray, Layout],
) -> None:
    pixels, layout = drawn
    for colour, (x, y) in ((PALETTE[0], (10.0, 20.0)), (PALETTE[1], (64.0, 8.0))):
        px, py = round(layout.x_scale.position(x)), round(layout.y_scale.position(y))
        patch = pixels[py - 2 : py + 3, px - 2 : px + 3]
        assert (np.abs(patch - np.array(colour)).sum(-1) < 30).any(), (colour, px, py)
    # the line of the curve runs between its points
    mid_x = (layout.x_scale.position(1.0) + layout.x_scale.position(10.0)) / 2
    mid_y = (layout.y_scale.position(200.0) + layout.y_scale.position(20.0)) / 2
    patch = pixels[round(mid_y) - 3 : round(mid_y) + 4, round(mid_x) - 3 : round(mid_x) + 4]
    assert (np.abs(patch - np.array(PALETTE[0])).sum(-1) < 30).any()


def test_chart_without_series_is_an_error() -> None:
    with pytest.raises(InvalidArgumentError, match="at least one Series"):
        chart([])
