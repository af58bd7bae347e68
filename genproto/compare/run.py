"""``compare()``: every model of a registry built, measured and judged, with a progress bar.

The one function that uses the package's three parts together:
:func:`~genproto.compare.measure.evaluate` for each model, then
:func:`~genproto.compare.claims.judge`, into a :class:`~genproto.compare.report.Comparison`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from genproto.compare.claims import judge
from genproto.compare.measure import (
    DEFAULT_N,
    DEFAULT_PER_CLASS,
    DEFAULT_STEPS,
    check_count,
    check_steps,
    evaluate,
    failed_report,
    planned_stages,
)
from genproto.compare.report import Comparison

if TYPE_CHECKING:
    from genproto.registry import Registry

__all__ = ["compare"]


class _Stages:
    """A tqdm bar over every model's stages; the total grows as models are built."""

    def __init__(self, models: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=models * 3, disable=not enabled, desc="compare", unit="stage",
                         dynamic_ncols=True)
        self._open = False
        self.model = ""

    def add(self, count: int) -> None:
        self._bar.total += count
        self._bar.refresh()

    def start(self, label: str) -> None:
        if self._open:
            self._bar.update(1)
        self._open = True
        self._bar.set_description(f"{self.model}: {label}")

    def close(self) -> None:
        if self._open:
            self._bar.update(1)
        self._bar.total = self._bar.n
        self._bar.refresh()
        self._bar.close()


def compare(
    names: Sequence[str] | None = None,
    *,
    registry: Registry | None = None,
    n: int = DEFAULT_N,
    per_class: int = DEFAULT_PER_CLASS,
    seed: int = 0,
    steps: Sequence[int] = DEFAULT_STEPS,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> Comparison:
    """Build and :func:`evaluate` every model of ``registry`` (or those named), then :func:`judge`.

    Args:
        names: registry names; ``None`` compares every registered model, in name
            order. An unknown name raises ``UnknownModelError`` before any work.
        registry: where the models come from (default: the process-wide one).
        progress: a progress bar over the models' stages on stderr; ``None``
            shows it when stderr is a terminal.

    A model whose factory fails is reported with the error and its declared
    capabilities; the others are still measured.
    """
    import sys

    from genproto import registry as registry_module
    from genproto.metrics import frechet_floor

    reg = registry if registry is not None else registry_module.default()
    entries = reg.entries() if names is None else [reg.entry(name) for name in names]
    n = check_count(n, "compare() argument 'n'", 2)
    per_class = check_count(per_class, "compare() argument 'per_class'", 1)
    steps = check_steps(steps)
    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    began = time.perf_counter()
    bar = _Stages(len(entries), enabled)
    reports = []
    try:
        for entry in entries:
            bar.model = entry.name
            bar.start("build")
            try:
                model = reg.get(entry.name)
            except Exception as exc:
                reports.append(failed_report(entry, exc, n=n, per_class=per_class, seed=seed))
                bar.add(-2)
                continue
            bar.add(len(planned_stages(model, steps)) - 2)
            reports.append(evaluate(model, n=n, per_class=per_class, seed=seed, steps=steps,
                                    batch_size=batch_size, entry=entry, on_stage=bar.start))
    finally:
        bar.close()
    floor = frechet_floor() if any(r.digits for r in reports) else None
    failures = tuple(f"{p.label()}: {p.error}" for p in reg.failures())
    return Comparison(tuple(reports), judge(reports), floor, n, per_class, seed,
                      time.perf_counter() - began, failures)

