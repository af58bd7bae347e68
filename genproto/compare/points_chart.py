"""The picture of a points comparison: samples over the true density's contours.

:func:`points_chart` draws one row per dataset: first the truth's own held-out points, then one
panel per model measured on it, each with up to
:data:`~genproto.compare.points.SCATTER_N` of its samples as dots over the exact density's
contours (where ``log p`` falls 0.5, 2 and 4.5 nats below its peak on the panel: 1, 2 and 3
standard deviations of a lone Gaussian component) and its KL and coverage above it.
:func:`save_points_chart` writes it as a PNG, atomically, with the settings in its text chunks.
The same comparison always gives the same bytes: nothing random or timed is drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from genproto.compare.points_claims import kl
from genproto.compare.points_records import PointsReport, PointsStatus

if TYPE_CHECKING:
    from PIL import Image

    from genproto.compare.points_report import PointsComparison
    from genproto.data.toy import Toy2D
    from genproto.metrics.points import ComponentCoverage
    from genproto.plot import Box

__all__ = ["CONTOUR_DROPS", "PANEL", "points_chart", "save_points_chart"]

#: Nats below the panel's peak log-density at which contours are drawn.
CONTOUR_DROPS = (0.5, 2.0, 4.5)
#: The plot area of a panel, pixels.
PANEL = (200, 200)
_TRUTH_COLOUR = (60, 60, 60)


def _box(density: Toy2D, held_out: torch.Tensor) -> Box:
    """A square around the density's components (or its held-out points), with a margin."""
    from genproto.data.toy import GaussianMixture2D
    from genproto.plot import Box

    if isinstance(density, GaussianMixture2D):
        centres = torch.tensor(density.means, dtype=torch.float64)  # (K, 2)
        spread = 3 * math.sqrt(max(density.covariance[0][0], density.covariance[1][1]))
    else:
        centres, spread = held_out.double(), 0.0
    low, high = centres.min(0).values, centres.max(0).values  # (2,)
    middle = (low + high) / 2
    half = float((high - low).max()) / 2 * 1.15 + spread + 0.1
    return Box(float(middle[0]) - half, float(middle[0]) + half,
               float(middle[1]) - half, float(middle[1]) + half)


def _contours(density: Toy2D, box: Box) -> torch.Tensor:
    from genproto.plot import contour_mask

    width, height = PANEL
    log_p = density.log_prob(box.pixel_centres(width, height).reshape(-1, 2))  # (H * W,)
    log_p = log_p.reshape(height, width)
    peak = float(log_p.max())
    return contour_mask(log_p, [peak - d for d in CONTOUR_DROPS])


def _coverage_line(c: ComponentCoverage | None) -> str:
    if c is None:
        return "coverage —"
    return f"{c.covered}/{c.components} covered, precision {c.precision:.2f}"


def _caption(r: PointsReport) -> tuple[list[str], str]:
    """The panel's title lines and, for a panel without samples, its message."""
    head = f"{r.name} · {r.dataset}"
    if r.status is not PointsStatus.MEASURED:
        return [head], r.status.value
    if r.kl is None:
        middle = "no likelihood" if r.likelihood.value == "none" else "KL —"
    else:
        middle = kl(r.iwae if r.iwae is not None else r.kl)
        if r.iwae is not None:
            middle = f"IWAE {middle}"
    if r.broken:
        middle = f"BROKEN: {middle}"
    message = "" if r.scatter is not None else "no samples"
    return [head, middle, _coverage_line(r.coverage)], message


def points_chart(comparison: PointsComparison) -> Image.Image:
    """One row per dataset: the truth's points, then each model's samples, over the contours."""
    from genproto.compare.points import SCATTER_N, measure_truth
    from genproto.data import toy2d
    from genproto.plot import PALETTE, panel_grid, scatter_panel

    names = sorted({r.name for r in comparison.reports})
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    rows = []
    for truth in comparison.truths:
        density = toy2d(truth.dataset)
        _, held_out = measure_truth(truth.dataset, n=2, held_out=truth.held_out,
                                    seed=comparison.seed)
        box = _box(density, held_out)
        contours = _contours(density, box)
        shown = held_out[:SCATTER_N]
        row = [scatter_panel(shown, box, size=PANEL, contours=contours, colour=_TRUTH_COLOUR,
                             title=[f"truth · {truth.dataset}",
                                    f"{len(shown)} held-out points",
                                    _coverage_line(truth.coverage)])]
        for r in comparison.reports:
            if r.dataset != truth.dataset:
                continue
            title, message = _caption(r)
            title += [""] * (3 - len(title))  # every frame at the same height
            row.append(scatter_panel(r.scatter, box, size=PANEL, contours=contours,
                                     colour=colours[r.name], title=title, message=message))
        rows.append(row)
    return panel_grid(rows, title=f"Samples over the true density's contours (up to "
                                  f"{SCATTER_N} a panel; n = {comparison.n}, seed "
                                  f"{comparison.seed})")


def save_points_chart(comparison: PointsComparison, path: str | Path) -> Path:
    """Draw :func:`points_chart` and save it as PNG (settings in the PNG's text chunks)."""
    from genproto.pictures import save_png

    return save_png(points_chart(comparison), path, {
        "genproto:points-comparison": {
            "n": comparison.n, "held_out": comparison.held_out, "seed": comparison.seed,
            "datasets": list(comparison.datasets),
            "models": sorted({r.name for r in comparison.reports})},
    })
