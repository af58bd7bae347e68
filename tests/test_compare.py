"""genproto.compare: measured numbers on models with known answers, and the claims they decide."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import attrs
import numpy as np
import pytest
import torch
from compare_models import (
    ContinuousUniform,
    Denoiser,
    Gaussian2D,
    Resampler,
    Uniform,
    capabilities,
    expected_marginal_bits_per_dim,
)

from genproto import Likelihood, Paradigm, SampleCost
from genproto.compare import (
    Comparison,
    ModelReport,
    Status,
    SweepPoint,
    compare,
    comparison_chart,
    equal_steps,
    evaluate,
    judge,
)
from genproto.data import load_digits
from genproto.errors import InvalidArgumentError, UnknownModelError
from genproto.metrics import accuracy, frechet_floor
from genproto.protocol import EventSpace
from genproto.registry import Registry

N, PER_CLASS, STEPS = 300, 30, (2, 4, 8)
GAN_CAPS = capabilities(Paradigm.ADVERSARIAL, Likelihood.NONE, SampleCost.single_pass())
VAE_GAP = 1.0  # nats between the VAE stand-in's bound and its exact log-likelihood


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


def _gan() -> Resampler:
    return Resampler(GAN_CAPS, name="gan", collapse_to=1)


def _vae() -> Uniform:
    return Uniform(name="vae", likelihood=Likelihood.BOUND, gap=VAE_GAP)


def _registry() -> Registry:
    """The four paradigms as test models with known answers (no plugins loaded)."""
    reg = Registry(entry_points=False)
    reg.register("ar", lambda: Resampler(name="ar"), capabilities=capabilities())
    reg.register("gan", _gan, capabilities=GAN_CAPS)
    reg.register("vae", _vae, capabilities=_vae().capabilities)
    reg.register("diffusion", Denoiser, capabilities=Denoiser().capabilities)
    return reg


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    return compare(registry=_registry(), n=N, per_class=PER_CLASS, steps=STEPS, progress=False)


def _report(comparison: Comparison, name: str) -> ModelReport:
    (report,) = [r for r in comparison.reports if r.name == name]
    return report


def _claim(claims: Any, key: str) -> Any:
    (claim,) = [c for c in claims if c.key == key]
    return claim


# --- one model, known answers --------------------------------------------------------------


def test_every_registered_model_is_measured_in_name_order(comparison: Comparison) -> None:
    assert [r.name for r in comparison.reports] == ["ar", "diffusion", "gan", "vae"]
    assert all(not r.errors for r in comparison.reports), [r.errors for r in comparison.reports]
    assert comparison.floor == pytest.approx(frechet_floor())


def test_resampler_of_the_test_split_scores_like_the_test_split(comparison: Comparison) -> None:
    r = _report(comparison, "ar")
    assert r.counted_evaluations == 64  # counted by the sampler's hooks, as declared
    assert r.frechet is not None
    assert r.frechet < 2 * frechet_floor()  # about as close as real digits get
    assert r.coverage is not None
    assert r.coverage.classes_present == 10
    assert r.coverage.min_ratio > 0.5
    test = load_digits("test")
    assert test.y is not None
    assert r.conditional_accuracy == pytest.approx(accuracy(test.x, test.y), abs=0.03)
    assert r.samples_per_second is not None
    assert r.samples_per_second > 0


def test_bits_per_dim_is_the_marginal_over_classes_on_the_test_split(
    comparison: Comparison,
) -> None:
    r = _report(comparison, "ar")
    assert r.likelihood_outcome == "values"
    assert r.bits_per_dim == pytest.approx(expected_marginal_bits_per_dim(), abs=1e-6)
    assert "marginal over classes" in r.bits_per_dim_basis
    assert "bin width 1" in r.bits_per_dim_basis


def test_a_bound_gives_the_bits_of_the_bound(comparison: Comparison) -> None:
    r = _report(comparison, "vae")
    expected = math.log2(17) + VAE_GAP / (64 * math.log(2))
    assert r.bits_per_dim == pytest.approx(expected, abs=1e-5)
    assert r.conditional_accuracy is None  # unconditional: nothing to ask for
    assert "unconditional" in r.bits_per_dim_basis


def test_continuous_digits_model_is_dequantised_with_unit_bins() -> None:
    r = evaluate(ContinuousUniform(), n=50, per_class=5)
    assert r.digits
    assert r.bits_per_dim == pytest.approx(math.log2(17), abs=1e-5)
    assert "dequantised z = x + u" in r.bits_per_dim_basis
    assert r.frechet is not None  # samples floored to levels and judged


def test_collapsed_model_covers_one_class_in_ten(comparison: Comparison) -> None:
    r = _report(comparison, "gan")
    assert r.coverage is not None
    assert r.coverage.classes_present == 1
    assert r.coverage.fraction_present == pytest.approx(0.1)
    assert r.coverage.min_ratio == 0.0
    assert r.conditional_accuracy == pytest.approx(0.1, abs=0.02)  # it ignores the condition
    assert r.likelihood_outcome == "unavailable"
    assert r.bits_per_dim is None


def test_steps_sweep_counts_k_evaluations_and_quality_improves(comparison: Comparison) -> None:
    r = _report(comparison, "diffusion")
    assert [p.steps for p in r.sweep] == [2, 4, 8, 16]  # the default (16) is added
    assert [p.counted_evaluations for p in r.sweep] == [2, 4, 8, 16]
    assert [p.declared_evaluations for p in r.sweep] == [2, 4, 8, 16]
    frechet = [p.frechet for p in r.sweep]
    assert all(a is not None and b is not None and a > b
               for a, b in itertools.pairwise(frechet))
    assert r.sweep[-1].frechet == r.frechet  # the default run is reused, not redrawn


def test_two_dimensional_model_skips_image_metrics_and_says_why() -> None:
    r = evaluate(Gaussian2D(), n=40, per_class=5)
    assert not r.digits
    assert (r.frechet, r.coverage, r.conditional_accuracy, r.bits_per_dim) == (None,) * 4
    assert any("need 8x8 digits" in note for note in r.notes)
    assert r.likelihood_outcome == "values"  # asked on its own samples
    assert r.counted_evaluations == 1
    claims = judge([r])
    assert _claim(claims, "flow.cost").status is Status.HOLDS
    assert _claim(claims, "flow.likelihood").status is Status.HOLDS


def test_evaluate_rejects_bad_settings() -> None:
    with pytest.raises(InvalidArgumentError, match="'n'"):
        evaluate(Gaussian2D(), n=1)
    with pytest.raises(InvalidArgumentError, match="step count"):
        evaluate(Gaussian2D(), steps=(0,))


# --- the claims ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "phrase"),
    [("autoregressive.cost", "counted 64 evaluations per sample; declared 64"),
     ("autoregressive.likelihood", "declared exact; log_likelihood returned finite values"),
     ("latent_variable.cost", "counted 1 evaluation"),
     ("latent_variable.likelihood", "declared bound"),
     ("adversarial.cost", "counted 1 evaluation"),
     ("adversarial.likelihood", "raised LikelihoodUnavailable"),
     ("adversarial.mode_collapse", "1/10 classes"),
     ("diffusion.cost", "counted 2, 4, 8, 16 evaluations per sample at K = 2, 4, 8, 16"),
     ("diffusion.likelihood", "declared bound"),
     ("diffusion.quality_vs_steps", "at K=2")],
)
def test_claims_hold_on_models_that_keep_them(comparison: Comparison, key: str,
                                              phrase: str) -> None:
    claim = _claim(comparison.claims, key)
    assert claim.status is Status.HOLDS, claim.line()
    assert phrase in claim.evidence


def test_missing_paradigms_are_not_measured(comparison: Comparison) -> None:
    for key in ("flow.cost", "flow.likelihood"):
        claim = _claim(comparison.claims, key)
        assert claim.status is Status.NOT_MEASURED
        assert claim.verdict() == "not measured (model missing)"


def test_counted_cost_that_differs_from_the_declared_one_does_not_hold() -> None:
    liar = Resampler(name="liar", calls=32)  # declares 64 evaluations per sample, makes 32
    report = evaluate(liar, n=20, per_class=2)
    assert report.counted_evaluations == 32
    claim = _claim(judge([report]), "autoregressive.cost")
    assert claim.status is Status.DOES_NOT_HOLD
    assert "counted 32 evaluations per sample; declared 64" in claim.evidence


def _synthetic(**changes: Any) -> ModelReport:
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


def test_cost_that_does_not_follow_the_steps_does_not_hold() -> None:
    flat = [SweepPoint(k, k, 10.0, 1.0, 5.0) for k in (5, 10, 20)]  # always 10 evaluations
    claim = _claim(judge([_synthetic(sweep=tuple(flat))]), "diffusion.cost")
    assert claim.status is Status.DOES_NOT_HOLD
    assert "counted 10, 10, 10" in claim.evidence


def test_quality_that_does_not_improve_with_steps_does_not_hold() -> None:
    points = [SweepPoint(k, k, float(k), 1.0, 5.0) for k in (5, 10, 20)]
    claim = _claim(judge([_synthetic(sweep=tuple(points))]), "diffusion.quality_vs_steps")
    assert claim.status is Status.DOES_NOT_HOLD


def test_likelihood_behaviour_must_match_the_declared_kind() -> None:
    gan = _synthetic(paradigms=("adversarial",), likelihood="none", likelihood_outcome="values")
    assert _claim(judge([gan]), "adversarial.likelihood").status is Status.DOES_NOT_HOLD
    ar = _synthetic(paradigms=("autoregressive",), likelihood="exact",
                    likelihood_outcome="unavailable")
    assert _claim(judge([ar]), "autoregressive.likelihood").status is Status.DOES_NOT_HOLD
    vae = _synthetic(paradigms=("latent_variable",), likelihood="exact")
    assert _claim(judge([vae]), "latent_variable.likelihood").status is Status.DOES_NOT_HOLD


def test_a_claim_holds_only_if_every_model_of_the_paradigm_keeps_it() -> None:
    good = _synthetic(name="good", paradigms=("adversarial",), likelihood="none",
                      likelihood_outcome="unavailable")
    bad = attrs.evolve(good, name="bad", likelihood_outcome="values")
    claim = _claim(judge([good, bad]), "adversarial.likelihood")
    assert claim.status is Status.DOES_NOT_HOLD
    assert "good:" in claim.evidence
    assert "bad:" in claim.evidence


def test_hybrids_are_judged_by_their_own_claims_only() -> None:
    points = tuple(SweepPoint(k, k + 1, k + 1.0, 1.0, 5.0) for k in (5, 10))
    hybrid = _synthetic(paradigms=("latent_variable", "diffusion"), sweep=points)
    claims = judge([hybrid])
    single = [c for c in claims if "+" not in c.paradigm]
    assert all(c.verdict() == "not measured (model missing)" for c in single)
    cost = _claim(claims, "latent_diffusion.cost")
    assert cost.status is Status.HOLDS
    assert "6 at K=5, 11 at K=10" in cost.evidence
    assert _claim(claims, "latent_diffusion.likelihood").status is Status.HOLDS


def test_a_flow_is_exact_on_continuous_events_and_a_bound_on_discrete_ones() -> None:
    def flow(event: EventSpace, likelihood: str) -> ModelReport:
        return _synthetic(paradigms=("flow",), event=event.describe(), event_kind=event.kind,
                          likelihood=likelihood, declared_growth="single_pass",
                          declared_evaluations=1, counted_evaluations=1.0)

    digits = EventSpace.discrete((8, 8), 17)  # "8x8 discrete, levels 0..16"
    assert _claim(judge([flow(digits, "bound")]), "flow.likelihood").status is Status.HOLDS
    assert _claim(judge([flow(digits, "exact")]),
                  "flow.likelihood").status is Status.DOES_NOT_HOLD
    plane = EventSpace.continuous((2,))  # "2 continuous"
    assert _claim(judge([flow(plane, "exact")]), "flow.likelihood").status is Status.HOLDS
    claim = _claim(judge([flow(plane, "bound")]), "flow.likelihood")
    assert claim.status is Status.DOES_NOT_HOLD
    assert "continuous events: exact" in claim.evidence


def test_a_hybrid_without_its_decoder_pass_does_not_keep_k_plus_one() -> None:
    points = tuple(SweepPoint(k, k + 1, float(k), 1.0, 5.0) for k in (5, 10))  # decoder missed
    hybrid = _synthetic(paradigms=("latent_variable", "diffusion"), sweep=points)
    assert _claim(judge([hybrid]), "latent_diffusion.cost").status is Status.DOES_NOT_HOLD


def test_latent_and_pixel_diffusion_are_paired_at_equal_steps() -> None:
    latent = _synthetic(name="latent", paradigms=("latent_variable", "diffusion"),
                        sweep=tuple(SweepPoint(k, k + 1, k + 1.0, 9.0, 4.0) for k in (5, 20)))
    pixel = _synthetic(name="pixel", sweep=tuple(SweepPoint(k, k, float(k), 3.0, 8.0)
                                                  for k in (5, 10)))
    pairs = equal_steps([latent, pixel])
    assert [(h, d, a.steps, b.steps) for h, d, a, b in pairs] == [("latent", "pixel", 5, 5)]
    comparison = Comparison((latent, pixel), judge([latent, pixel]), 3.0, 10, 1, 0, 1.0)
    assert "latent vs pixel at K=5: Frechet distance 4.00 vs 8.00" in comparison.text()
    assert "| 5 | latent vs pixel | 4.00 vs 8.00 | 6 vs 5 | 9 vs 3 |" in comparison.markdown()


# --- many models ---------------------------------------------------------------------------


def test_a_model_that_fails_to_build_is_reported_and_the_rest_still_run() -> None:
    def broken() -> Any:
        raise RuntimeError("weights missing")

    reg = Registry(entry_points=False)
    reg.register("broken", broken, capabilities=GAN_CAPS)
    reg.register("vae", _vae, capabilities=_vae().capabilities)
    result = compare(registry=reg, n=20, per_class=2, progress=False)
    failed = _report(result, "broken")
    assert not failed.built
    assert "weights missing" in failed.errors[0]
    assert _report(result, "vae").counted_evaluations == 1
    gan_cost = _claim(result.claims, "adversarial.cost")
    assert gan_cost.status is Status.NOT_MEASURED
    assert "weights missing" in gan_cost.evidence
    assert "weights missing" in result.text()


def test_unknown_names_fail_before_any_work() -> None:
    with pytest.raises(UnknownModelError, match="'vea'"):
        compare(["vea"], registry=_registry(), progress=False)


def test_named_models_only(comparison: Comparison) -> None:
    result = compare(["gan"], registry=_registry(), n=20, per_class=2, progress=False)
    assert [r.name for r in result.reports] == ["gan"]
    assert _claim(result.claims, "autoregressive.cost").status is Status.NOT_MEASURED


def test_json_carries_every_number_and_verdict(comparison: Comparison) -> None:
    data = json.loads(comparison.to_json())
    assert data["settings"]["n"] == N
    assert data["settings"]["frechet_floor"] == pytest.approx(frechet_floor())
    models = {m["name"]: m for m in data["models"]}
    assert models["gan"]["coverage"]["classes_present"] == 1
    assert models["diffusion"]["sweep"][0]["steps"] == 2
    verdicts = {c["key"]: c["verdict"] for c in data["claims"]}
    assert verdicts["adversarial.mode_collapse"] == "holds"
    assert verdicts["flow.cost"] == "not measured (model missing)"


def test_markdown_report_has_the_table_sweep_and_claims(comparison: Comparison) -> None:
    md = comparison.markdown()
    lines = md.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| model |"))
    rows = lines[header + 2 : header + 6]
    assert [row.split("|")[1].strip() for row in rows] == ["ar", "diffusion", "gan", "vae"]
    assert "| exact (0.133) |" in rows[0]
    assert "| 64 (declared 64) |" in rows[0]
    assert "## Quality against steps" in md
    assert "**GAN: no likelihood**: holds" in md
    assert ("**Flow: exact likelihood (change of variables; a bound once discrete data are "
            "dequantised)**: not measured (model missing)") in md


def test_chart_draws_diffusion_as_a_curve_and_the_others_as_points(
    comparison: Comparison,
) -> None:
    image = np.asarray(comparison_chart(comparison).convert("RGB")).astype(int)
    assert image.shape == (560, 900, 3)
    colours = {tuple(c) for c in image[40:500, 80:640].reshape(-1, 3)}
    # four series: tab10 blue, orange, green, red all present in the plot area
    for colour in ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)):
        assert colour in colours


def test_chart_needs_a_digits_model() -> None:
    result = compare(registry=_two_d_registry(), n=10, per_class=1, progress=False)
    with pytest.raises(InvalidArgumentError, match="digits model"):
        comparison_chart(result)


def _two_d_registry() -> Registry:
    reg = Registry(entry_points=False)
    reg.register("gauss2d", Gaussian2D, capabilities=Gaussian2D().capabilities)
    return reg


def test_same_seed_same_numbers() -> None:
    a = evaluate(Resampler(), n=20, per_class=2, seed=7)
    b = evaluate(Resampler(), n=20, per_class=2, seed=7)
    c = evaluate(Resampler(), n=20, per_class=2, seed=8)
    assert (a.frechet, a.conditional_accuracy) == (b.frechet, b.conditional_accuracy)
    assert a.frechet != c.frechet
    assert torch.isfinite(torch.tensor(a.bits_per_dim))
