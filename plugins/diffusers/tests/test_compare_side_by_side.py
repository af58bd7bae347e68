"""genproto compare puts two implementations of pixel-space diffusion side by side at equal
steps, and an implementation that offers no likelihood does not decide the paradigm's claim."""

from __future__ import annotations

from typing import Any

import attrs

from genproto.compare import Comparison, judge
from genproto.compare.claims import Status
from genproto.compare.records import ModelReport, SweepPoint
from genproto.compare.report import implementations


def _report(**changes: Any) -> ModelReport:
    base = ModelReport(
        name="m", distribution=None, version=None, paradigms=("diffusion",), objective="",
        sampling="", event="8x8", event_kind="discrete", event_length=64, conditional=False,
        digits=True, likelihood="bound", declared_growth="per_step", declared_units=10,
        declared_evaluations=10, likelihood_outcome="values", bits_per_dim=1.0,
        bits_per_dim_basis="", counted_evaluations=10.0, samples_per_second=1.0, frechet=5.0,
        conditional_accuracy=None, coverage=None, sweep=(), notes=(), errors=(), n=10,
        per_class=1, seed=0, seconds=0.0, weights_sha256=None,
    )
    return attrs.evolve(base, **changes)


def test_native_and_diffusers_diffusion_are_paired_at_equal_steps() -> None:
    native = _report(name="diffusion", sweep=tuple(SweepPoint(k, k, float(k), 3.0, 8.0)
                                                    for k in (5, 10, 50)))
    unet = _report(name="digits-unet", likelihood="none", likelihood_outcome="unavailable",
                   sweep=tuple(SweepPoint(k, k, float(k), 4.0, 2.0) for k in (5, 50)))
    pairs = implementations([unet, native])
    assert [(a, b, p.steps) for a, b, p, _ in pairs] == [("diffusion", "digits-unet", 5),
                                                          ("diffusion", "digits-unet", 50)]
    comparison = Comparison((native, unet), judge([native, unet]), 3.0, 10, 1, 0, 1.0)
    assert "diffusion vs digits-unet at K=50: Frechet distance 8.00 vs 2.00" in comparison.text()
    assert "| 50 | diffusion vs digits-unet | 8.00 vs 2.00 | 50 vs 50 | 3 vs 4 |" in (
        comparison.markdown())


def test_one_diffusion_model_alone_adds_no_section() -> None:
    native = _report(name="diffusion", sweep=(SweepPoint(5, 5, 5.0, 3.0, 8.0),))
    comparison = Comparison((native,), judge([native]), 3.0, 10, 1, 0, 1.0)
    assert "Two implementations" not in comparison.text()
    assert "Two implementations" not in comparison.markdown()


def test_an_adapter_without_likelihood_does_not_decide_the_likelihood_claim() -> None:
    native = _report(name="diffusion")
    unet = _report(name="digits-unet", likelihood="none", likelihood_outcome="unavailable")
    (claim,) = [c for c in judge([native, unet]) if c.key == "diffusion.likelihood"]
    assert claim.status is Status.HOLDS
    assert "digits-unet: declared none" in claim.evidence
    (alone,) = [c for c in judge([unet]) if c.key == "diffusion.likelihood"]
    assert alone.status is Status.NOT_MEASURED
