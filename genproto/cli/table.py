"""Plain-text tables with wrapped cells, for terminal output."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

__all__ = ["render_table"]


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, widths: Sequence[int] | None = None
) -> str:
    """Render ``rows`` under ``headers``; cells wider than ``widths[i]`` wrap onto more lines."""
    limits = list(widths) if widths is not None else [60] * len(headers)
    natural = [
        min(limits[i], max([len(headers[i]), *(len(r[i]) for r in rows)]))
        for i in range(len(headers))
    ]
    lines = []

    def emit(cells: Sequence[str]) -> None:
        wrapped = [textwrap.wrap(c, natural[i]) or [""] for i, c in enumerate(cells)]
        for k in range(max(len(w) for w in wrapped)):
            parts = [(w[k] if k < len(w) else "").ljust(natural[i]) for i, w in enumerate(wrapped)]
            lines.append("  ".join(parts).rstrip())

    emit(headers)
    lines.append("  ".join("-" * w for w in natural))
    for row in rows:
        emit(row)
    return "\n".join(lines)
