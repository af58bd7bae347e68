"""The picture of a comparison: Frechet distance against counted evaluations per sample.

:func:`comparison_chart` draws it with :mod:`genproto.plot` (Pillow);
:func:`save_chart` writes it as a PNG with the comparison's settings in its text chunks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from genproto.errors import InvalidArgumentError

if TYPE_CHECKING:
    from PIL import Image

    from genproto.compare.report import Comparison

__all__ = ["comparison_chart", "save_chart"]


def comparison_chart(comparison: Comparison, *, size: tuple[int, int] = (900, 560)) -> Image.Image:
    """Frechet distance against counted evaluations per sample, log-scaled cost axis.

    Each model with both numbers is a point labelled with its name; a model
    measured at several step counts (diffusion) is a curve through its step
    counts, labelled ``K=...``.
    The Frechet floor is a dashed line. The quality axis is log-scaled when the
    distances span more than a factor of 20.

    Raises:
        InvalidArgumentError: no model has both a Frechet distance and a counted cost.
    """
    from genproto.plot import Reference, Series, chart

    series = []
    for r in comparison.reports:
        points = [(p.counted_evaluations, p.frechet, f"K={p.steps}") for p in r.sweep
                  if p.counted_evaluations and p.frechet is not None]
        if len(points) >= 2:
            xs, ys, labels = zip(*points, strict=True)
            series.append(Series(r.name, xs, ys, line=True, point_labels=labels))
        elif r.counted_evaluations and r.frechet is not None:
            series.append(Series(r.name, (r.counted_evaluations,), (r.frechet,),
                                 point_labels=(r.name,)))
    if not series:
        raise InvalidArgumentError(
            "models to plot", value=[r.name for r in comparison.reports],
            allowed="at least one digits model with a Frechet distance and counted evaluations",
            fix="Compare a model of the 8x8 digits (genproto list shows each event space)",
        )
    references = []
    if comparison.floor is not None:
        references.append(Reference(comparison.floor, f"floor {comparison.floor:.2f}"))
    heights = [y for s in series for y in s.y] + [r.y for r in references]
    y_log = min(heights) > 0 and max(heights) / min(heights) > 20
    image, _ = chart(
        series,
        title=f"Sample quality against sampling cost (n = {comparison.n}, seed {comparison.seed})",
        x_label="network evaluations per sample (counted; log scale)",
        y_label="Frechet distance to the test digits" + (" (log)" if y_log else "")
        + ", lower is better",
        x_log=True,
        y_log=y_log,
        references=references,
        size=size,
    )
    return image


def save_chart(comparison: Comparison, path: str | Path) -> Path:
    """Draw :func:`comparison_chart` and save it as PNG (settings in the PNG's text chunks)."""
    from genproto.pictures import save_png

    return save_png(comparison_chart(comparison), path, {
        "genproto:comparison": {"n": comparison.n, "per_class": comparison.per_class,
                                "seed": comparison.seed,
                                "models": [r.name for r in comparison.reports]},
    })
