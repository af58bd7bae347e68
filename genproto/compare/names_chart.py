"""The picture of a names comparison: real names against counted evaluations per sample.

:func:`names_chart` draws, for each model, the share of its samples that are names of the
requested list (mean over the three lists) against the network evaluations one sample cost
(counted by the sampler, log scale); a model with a ``steps`` option is a curve through its
step counts. The truth's own share (its draws are all real names) is the dashed line.
:func:`save_names_chart` writes the PNG with the comparison's settings in its text chunks. The
same comparison gives the same bytes: nothing random or timed is drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from genproto.errors import InvalidArgumentError

if TYPE_CHECKING:
    from PIL import Image

    from genproto.compare.names_report import NamesComparison

__all__ = ["names_chart", "save_names_chart"]


def names_chart(comparison: NamesComparison, *, size: tuple[int, int] = (900, 560)
                ) -> Image.Image:
    """Real-name share against counted evaluations per sample (see the module docstring).

    Raises:
        InvalidArgumentError: no model has both numbers.
    """
    from genproto.plot import Reference, Series, chart

    series = []
    references = []
    for r in comparison.reports:
        if r.is_truth:
            references.append(Reference(r.mean("text.real"), "truth's draws"))
            continue
        points = [(p.counted_evaluations, p.real, f"K={p.steps}") for p in r.sweep
                  if p.counted_evaluations]
        if len(points) >= 2:
            xs, ys, labels = zip(*points, strict=True)
            series.append(Series(r.name, xs, ys, line=True, point_labels=labels))
            continue
        cost, real = r.mean("counted_evaluations"), r.mean("text.real")
        if math.isfinite(cost) and cost > 0 and math.isfinite(real):
            series.append(Series(r.name, (cost,), (real,), point_labels=(r.name,)))
    if not series:
        raise InvalidArgumentError(
            "models to plot", value=[r.name for r in comparison.reports],
            allowed="at least one names model with samples and counted evaluations",
            fix="Compare a names model (genproto compare --data names)")
    image, _ = chart(
        series,
        title=f"Real names against sampling cost (n = {comparison.n} a list, seed "
              f"{comparison.seed})",
        x_label="network evaluations per sample (counted; log scale)",
        y_label="share of samples that are names of the list, higher is better",
        x_log=True, references=references, size=size)
    return image


def save_names_chart(comparison: NamesComparison, path: str | Path) -> Path:
    """Draw :func:`names_chart` and save it as PNG (settings in the PNG's text chunks)."""
    from genproto.pictures import save_png

    return save_png(names_chart(comparison), path, {
        "genproto:comparison": {"data": "names", "n": comparison.n, "seed": comparison.seed,
                                "models": [r.name for r in comparison.reports]},
    })
