"""genproto compare --data points: models of 2-D points with known answers, measured against
the exact density, and the claims, report and chart they give.

The test models sample the truth's own mixture from the keyed streams and return its exact
``log_prob`` shifted by a known gap, so every number has an answer: a model equal to the truth
has KL 0; one ``gap`` nats above it is unnormalised (BROKEN); a bound ``gap / k`` below it has
ELBO KL = gap and IWAE KL = gap / k; a sampler of 5 of the 25 modes covers 5.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from compare_models import Counted
from PIL import Image

from genproto import Capabilities, Likelihood, Paradigm, SampleCost
from genproto.compare import (
    POINTS_CONVENTIONS,
    PointsComparison,
    PointsReport,
    PointsStatus,
    compare_points,
    evaluate_points,
    measure_truth,
    points_chart,
    save_points_chart,
)
from genproto.compare.points import check_datasets, held_out_seed
from genproto.compare.points_claims import bounds_ordered
from genproto.compare.run import points_plan
from genproto.data import TOY2D_EVENT, toy2d
from genproto.data.toy import GaussianMixture2D
from genproto.errors import InvalidArgumentError, OutputError, UnknownModelError
from genproto.model import Model
from genproto.options import Option, Shipped
from genproto.plot import Box, contour_mask, scatter_panel
from genproto.registry import Registry
from genproto.streams import KeyedStreams

N, HELD_OUT, STEPS = 1000, 400, (2, 8)
DATASETS = ("grid25", "two_moons")
GAP = 0.5  # nats between a test model's log p and the truth's
DATASET = Option("dataset", str, "grid25", "the toy density", choices=("digits", *DATASETS))


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


# --- the test models ---------------------------------------------------------------------------


class Points(Model):
    """The truth's mixture sampled from the keyed streams (``modes``: only those components),
    with likelihood ``log p_data(x) - gap(k)`` (``k``: the likelihood option, where declared)."""

    def __init__(self, dataset: str = "grid25", *, name: str = "exact",
                 paradigm: Paradigm = Paradigm.AUTOREGRESSIVE,
                 likelihood: Likelihood = Likelihood.EXACT,
                 gap: Callable[[int], float] | None = None,
                 modes: tuple[int, ...] | None = None, cost: SampleCost | None = None) -> None:
        if dataset == "digits":
            raise RuntimeError("this test model only knows points")
        super().__init__(capabilities(paradigm, likelihood, cost), name=name)
        self.net = Counted()
        density = toy2d(dataset)
        assert isinstance(density, GaussianMixture2D)
        self.density = density
        self.means = torch.tensor(density.means, dtype=torch.float32)  # (K, 2)
        self.std = math.sqrt(density.covariance[0][0])
        self.modes = torch.arange(len(self.means)) if modes is None else torch.tensor(modes)
        self.gap = gap or (lambda k: 0.0)
        self.loaded: tuple[str, ...] = ()

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def load_packaged_weights(self, package: str, *parts: str) -> None:
        self.loaded = (package, *parts)  # nothing to load: the truth needs no weights

    def draw(self, streams: KeyedStreams) -> torch.Tensor:
        pick = streams.randint(len(self.modes)).reshape(len(streams))  # (B,)
        return self.means[self.modes[pick]] + self.std * streams.normal(2)  # (B, 2)

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        return self.net(self.draw(streams))

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        self.net(x)
        return self.density.log_prob(x.double()) - self.gap(int(options.get("k", 1)))


class Bound(Points):
    """A VAE stand-in: ``log p - gap(k)`` with an importance-sample option ``k``."""

    likelihood_options = (Option("k", int, 1, "importance samples", minimum=1, maximum=1000),)


class Steps(Points):
    """A diffusion stand-in: K calls; a share 1/K of the samples is uniform noise on [-3, 3]^2
    (the same draws for every K), so precision improves with K."""

    sample_options = (Option("steps", int, 8, "steps K", minimum=1, maximum=64),)

    def cost(self, **options: Any) -> SampleCost:
        return SampleCost.per_step(self.check_sample_options(options)["steps"])

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        k = options["steps"]
        x = self.draw(streams)  # (B, 2)
        off = streams.uniform(1).reshape(len(streams)) < 1.0 / k  # (B,)
        noise = streams.uniform(2) * 6 - 3  # (B, 2)
        x = torch.where(off[:, None], noise, x)
        for _ in range(k):
            x = self.net(x)
        return x


def capabilities(paradigm: Paradigm = Paradigm.AUTOREGRESSIVE,
                 likelihood: Likelihood = Likelihood.EXACT,
                 cost: SampleCost | None = None) -> Capabilities:
    return Capabilities((paradigm,), likelihood, cost or SampleCost.single_pass(), TOY2D_EVENT,
                        objective="none (a test model)", sampling="the truth's own sampler")


def _exact(dataset: str = "grid25") -> Points:
    return Points(dataset, name="ar")


def _flow(dataset: str = "grid25") -> Points:
    return Points(dataset, name="flow", paradigm=Paradigm.FLOW)


def _vae(dataset: str = "grid25") -> Bound:
    return Bound(dataset, name="vae", paradigm=Paradigm.LATENT_VARIABLE,
                 likelihood=Likelihood.BOUND, gap=lambda k: GAP / k)


def _gan(dataset: str = "grid25") -> Points:
    return Points(dataset, name="gan", paradigm=Paradigm.ADVERSARIAL,
                  likelihood=Likelihood.NONE, modes=(0, 6, 12, 18, 24))


def _diffusion(dataset: str = "grid25") -> Steps:
    return Steps(dataset, name="diffusion", paradigm=Paradigm.DIFFUSION,
                 likelihood=Likelihood.ESTIMATE, cost=SampleCost.per_step(8))


def _liar(dataset: str = "grid25") -> Points:
    return Points(dataset, name="liar", paradigm=Paradigm.FLOW, gap=lambda k: -GAP)


def points_registry(*, liar: bool = False) -> Registry:
    """The paradigms as points models with known answers; the flow ships grid25 weights only,
    and ``digits-only`` offers no points configuration."""
    reg = Registry(entry_points=False)
    for name, factory in (("ar", _exact), ("vae", _vae), ("gan", _gan),
                          ("diffusion", _diffusion)):
        reg.register(name, factory, capabilities=factory().capabilities, options=[DATASET])
    reg.register("flow", _flow, capabilities=_flow().capabilities, options=[DATASET],
                 shipped=Shipped("genproto", "weights/grid25", {"dataset": "grid25"}))
    reg.register("digits-only", _exact, capabilities=_exact().capabilities,
                 options=[Option("dataset", str, "digits", "data", choices=("digits",))])
    if liar:
        reg.register("liar", _liar, capabilities=_liar().capabilities, options=[DATASET])
    return reg


@pytest.fixture(scope="module")
def comparison() -> PointsComparison:
    return compare_points(registry=points_registry(liar=True), n=N, held_out=HELD_OUT,
                          steps=STEPS, progress=False)


def _row(comparison: PointsComparison, name: str, dataset: str = "grid25") -> PointsReport:
    (report,) = [r for r in comparison.reports if r.name == name and r.dataset == dataset]
    return report


def _claim(comparison: PointsComparison, key: str) -> Any:
    (claim,) = [c for c in comparison.claims if c.key == key]
    return claim


# --- what is measured --------------------------------------------------------------------------


def test_every_model_offering_a_dataset_is_measured_on_it_dataset_by_dataset(
    comparison: PointsComparison,
) -> None:
    models = ["ar", "diffusion", "flow", "gan", "liar", "vae"]  # digits-only offers none
    assert [(r.dataset, r.name) for r in comparison.reports] == [
        (d, m) for d in DATASETS for m in models]
    assert [t.dataset for t in comparison.truths] == list(DATASETS)
    assert all(not r.errors for r in comparison.reports), [r.errors for r in comparison.reports]


def test_a_model_equal_to_the_truth_has_kl_zero_and_is_not_flagged(
    comparison: PointsComparison,
) -> None:
    for dataset in DATASETS:
        r = _row(comparison, "ar", dataset)
        assert r.kl is not None
        assert r.kl.value == pytest.approx(0.0, abs=1e-9)
        assert r.kl.n == HELD_OUT
        (truth,) = [t for t in comparison.truths if t.dataset == dataset]
        assert r.kl.data_log_prob == pytest.approx(truth.log_prob)
        assert not r.broken
        assert r.counted_evaluations == 1
    assert _claim(comparison, "autoregressive.points_kl").status.value == "holds"


def test_an_unnormalised_model_beats_the_truth_and_is_flagged(
    comparison: PointsComparison,
) -> None:
    r = _row(comparison, "liar")
    assert r.kl is not None
    assert r.kl.value == pytest.approx(-GAP, abs=1e-9)
    assert r.broken
    assert _claim(comparison, "flow.points_kl").status.value == "does not hold"
    claim = _claim(comparison, "points.truth")
    assert claim.status.value == "does not hold"
    assert "liar on grid25: BROKEN: beats the truth" in claim.evidence
    assert "BROKEN: beats the truth" in comparison.rows("grid25")[-2][-1]  # liar, before vae


def test_a_bound_gives_elbo_and_iwae_kl_in_order(comparison: PointsComparison) -> None:
    r = _row(comparison, "vae")
    assert r.kl is not None
    assert r.iwae is not None
    assert r.iwae_gain is not None
    assert r.kl.value == pytest.approx(GAP)  # ELBO, k = 1
    assert r.iwae_k == 64
    assert r.iwae.value == pytest.approx(GAP / 64)
    assert r.iwae_gain.value == pytest.approx(GAP - GAP / 64)
    assert r.kl.relation == "<="
    claim = _claim(comparison, "latent_variable.points_bounds")
    assert claim.status.value == "holds"
    assert "IWAE (k=64)" in claim.evidence


def test_a_bound_that_beats_the_truth_with_k_breaks_the_order() -> None:
    model = Bound(name="vae", paradigm=Paradigm.LATENT_VARIABLE, likelihood=Likelihood.BOUND,
                  gap=lambda k: GAP if k == 1 else -GAP)
    r = evaluate_points(model, "grid25", n=50, held_out=100, steps=())
    assert r.broken
    assert bounds_ordered(r)[0].value == "does not hold"


def test_the_iwae_k_is_capped_at_the_options_maximum() -> None:
    model = Bound(name="vae", paradigm=Paradigm.LATENT_VARIABLE, likelihood=Likelihood.BOUND,
                  gap=lambda k: GAP / k)
    r = evaluate_points(model, "grid25", n=50, held_out=100, steps=(), iwae_k=5000)
    assert r.iwae_k == 1000


def test_a_model_without_likelihood_gets_coverage_only(comparison: PointsComparison) -> None:
    r = _row(comparison, "gan")
    assert r.likelihood_outcome == "unavailable"
    assert r.kl is None
    assert not r.broken
    cells = comparison.rows("grid25")[4]  # truth, ar, diffusion, flow, gan
    assert cells[:5] == ["gan", "adversarial", "none", "—, no likelihood", "—"]
    assert _claim(comparison, "adversarial.points_likelihood").status.value == "holds"


def test_a_sampler_of_five_modes_covers_five(comparison: PointsComparison) -> None:
    c = _row(comparison, "gan").coverage
    assert c is not None
    assert (c.covered, c.components) == (5, 25)
    assert c.precision > 0.95
    assert [i for i, count in enumerate(c.counts) if count] == [0, 6, 12, 18, 24]
    assert c.balance_kl == pytest.approx(math.log(5), abs=0.05)  # 5 of 25 used evenly
    claim = _claim(comparison, "adversarial.points_mode_collapse")
    assert claim.status.value == "holds"  # two_moons: 5 of 64 arc components too
    assert "5/25 components covered" in claim.evidence


def test_the_truth_covers_every_component(comparison: PointsComparison) -> None:
    for truth, components in zip(comparison.truths, (25, 64), strict=True):
        assert truth.coverage is not None
        assert truth.coverage.covered == truth.coverage.components == components
        assert truth.coverage.precision > 0.97
        assert truth.seed == held_out_seed(0) == 1
        r = _row(comparison, "ar", truth.dataset)
        assert r.coverage is not None
        assert r.coverage.covered == components


def test_diffusion_cost_grows_with_steps_and_precision_improves(
    comparison: PointsComparison,
) -> None:
    r = _row(comparison, "diffusion")
    assert [p.steps for p in r.sweep] == [2, 8]
    assert [p.counted_evaluations for p in r.sweep] == [2, 8]
    assert [p.declared_evaluations for p in r.sweep] == [2, 8]
    low, high = (p.coverage for p in r.sweep)
    assert low is not None
    assert high is not None
    assert high.precision > low.precision
    # half of the samples are noise on [-3, 3]^2, of which 25 pi 0.3^2 / 36 land near a mode
    assert low.precision == pytest.approx(0.5 + 0.5 * 25 * math.pi * 0.09 / 36, abs=0.05)
    assert r.counted_evaluations == 8  # the default K = 8 run is reused, not repeated
    assert _claim(comparison, "diffusion.points_cost").status.value == "holds"
    assert _claim(comparison, "diffusion.points_quality_vs_steps").status.value == "holds"
    assert r.kl is not None
    assert r.kl.relation == "~"


def test_a_configuration_without_shipped_weights_is_listed_not_failed(
    comparison: PointsComparison,
) -> None:
    r = _row(comparison, "flow", "two_moons")
    assert r.status is PointsStatus.NO_WEIGHTS
    assert not r.errors
    assert any("genproto train flow -M dataset=two_moons -M pretrained=false" in n
               for n in r.notes)
    assert comparison.rows("two_moons")[3][-1] == "no shipped weights"
    measured = _row(comparison, "flow", "grid25")
    assert measured.status is PointsStatus.MEASURED
    assert "no shipped weights [not measured]" in _claim(comparison, "flow.points_kl").evidence


def test_pretrained_false_builds_the_configurations_without_weights() -> None:
    c = compare_points(["flow"], registry=points_registry(), n=50, held_out=50,
                       options={"pretrained": False, "unknown": 1}, progress=False)
    assert [r.status for r in c.reports] == [PointsStatus.MEASURED] * 2
    assert dict(c.reports[1].options) == {"dataset": "two_moons", "pretrained": False}


def test_a_factory_that_fails_is_reported_and_the_others_measured() -> None:
    reg = points_registry()

    def broken(dataset: str = "grid25") -> Points:
        raise RuntimeError("no GPU here")

    reg.register("broken", broken, capabilities=_exact().capabilities, options=[DATASET])
    c = compare_points(["broken", "ar"], registry=reg, datasets=["grid25"], n=50, held_out=50,
                       progress=False)
    assert [r.status for r in c.reports] == [PointsStatus.FAILED, PointsStatus.MEASURED]
    assert "no GPU here" in c.reports[0].errors[0]
    assert c.reports[0].errors[0].startswith("build: ")


def test_events_that_are_not_points_are_an_error_not_a_crash() -> None:
    from compare_models import Uniform

    r = evaluate_points(Uniform(), "grid25", n=10, held_out=10, steps=())
    assert r.errors
    assert "not 2-D points" in r.errors[0]
    assert r.kl is None


# --- seeds -------------------------------------------------------------------------------------


def test_same_seed_same_numbers_other_seed_other_points_and_global_rng_untouched() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    reports = [evaluate_points(_vae(), "grid25", n=200, held_out=100, seed=s, steps=())
               for s in (3, 3, 4)]
    assert torch.equal(torch.get_rng_state(), before)
    first, again, other = reports
    assert first.coverage == again.coverage
    assert first.kl == again.kl
    assert first.kl != other.kl  # other held-out points (seed 1 + 4), other samples
    truth, points = measure_truth("grid25", n=10, held_out=100, seed=3)
    assert truth.seed == 4
    assert first.kl is not None
    assert first.kl.data_log_prob == pytest.approx(truth.log_prob)
    assert points.shape == (100, 2)


# --- what is refused ---------------------------------------------------------------------------


def test_a_named_model_without_a_points_configuration_names_those_with_one() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        points_plan(points_registry(), ["ar", "digits-only"])
    message = str(info.value)
    assert "'digits-only'" in message
    assert "ar, diffusion, flow, gan, vae" in message
    with pytest.raises(UnknownModelError):
        points_plan(points_registry(), ["nope"])


def test_no_installed_points_model_is_an_error() -> None:
    reg = Registry(entry_points=False)
    reg.register("digits-only", _exact, capabilities=_exact().capabilities,
                 options=[Option("dataset", str, "digits", "data", choices=("digits",))])
    with pytest.raises(InvalidArgumentError, match="none is installed"):
        points_plan(reg, None)


@pytest.mark.parametrize("datasets", [(), ("grid52",), ["two_moons", 3]])
def test_bad_datasets_are_refused(datasets: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        check_datasets(datasets)


def test_bad_counts_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="'held_out'"):
        compare_points(registry=points_registry(), held_out=1)
    with pytest.raises(InvalidArgumentError, match="'iwae_k'"):
        evaluate_points(_vae(), "grid25", iwae_k=1)


# --- the report --------------------------------------------------------------------------------


def test_text_report_has_one_table_per_dataset_and_the_conventions_once(
    comparison: PointsComparison,
) -> None:
    text = comparison.text()
    assert text.count("Each model is built with dataset=NAME") == 1
    assert "grid25: 25 Gaussians (std 0.1)" in text
    assert "two_moons: 64 Gaussians (std 0.1)" in text
    assert "held-out points (load_toy2d seed 1; training seed 0)" in text
    assert "Coverage against steps:" in text
    assert "Claims of the cheatsheet on points" in text
    assert "BROKEN" in text


def test_markdown_report_rows(comparison: PointsComparison) -> None:
    md = comparison.markdown()
    assert md.startswith("# The paradigms, measured on 2-D points\n")
    assert md.count(POINTS_CONVENTIONS) == 1
    assert "## grid25: 25 Gaussians" in md
    assert "| truth | — | exact (the density) | 0 (by definition) |" in md
    assert "| vae | latent_variable | bound (ELBO k=1; IWAE k=64) | ELBO ≤ 0.5000 ± 0.0000; " \
           "IWAE ≤ 0.0078 ± 0.0000 |" in md
    assert "| diffusion | grid25 | 2 | 2 (2) |" in md
    assert "- **VAE: ELBO <= IWAE <= truth (lower bounds on log p, tighter with k)**: holds" in md
    assert "flow on two_moons: no shipped weights; train them: genproto train flow" in md


def test_json_report_states_the_settings_and_leaves_the_samples_out(
    comparison: PointsComparison,
) -> None:
    data = json.loads(comparison.to_json())
    assert data["settings"] == {
        "data": "points", "datasets": list(DATASETS), "n": N, "held_out": HELD_OUT, "seed": 0,
        "held_out_seed": 1, "training_seed": 0, "iwae_k": 64,
        "seconds": pytest.approx(comparison.seconds)}
    assert [t["dataset"] for t in data["truth"]] == list(DATASETS)
    liar = next(m for m in data["models"] if m["name"] == "liar")
    assert liar["broken"] is True
    assert liar["kl"]["kind"] == "exact"
    assert "scatter" not in liar
    vae = next(m for m in data["models"] if m["name"] == "vae")
    assert vae["iwae"]["value"] == pytest.approx(GAP / 64)
    assert vae["options"] == {"dataset": "grid25"}
    keys = {c["key"] for c in data["claims"]}
    assert {"points.truth", "latent_variable.points_bounds", "diffusion.points_cost"} <= keys


# --- the chart ---------------------------------------------------------------------------------


def test_contour_mask_marks_where_a_level_is_crossed() -> None:
    values = torch.tensor([[0.0, 1.0, 2.0, 3.0]] * 3)  # (3, 4), rising to the right
    mask = contour_mask(values, [1.5])
    assert mask.tolist() == [[False, True, False, False]] * 3
    assert not contour_mask(torch.full((3, 3), -math.inf), [0.0]).any()
    with pytest.raises(InvalidArgumentError):
        contour_mask(torch.zeros(4), [0.0])


def test_scatter_panel_puts_a_point_where_the_box_says() -> None:
    panel = scatter_panel(torch.tensor([[0.0, 0.0], [9.0, 9.0]]), Box(-1, 1, -1, 1),
                          size=(100, 100), colour=(255, 0, 0))
    pixels = np.asarray(panel)
    red = np.argwhere((pixels == [255, 0, 0]).all(-1))
    assert len(red) == 4  # one 2x2 dot; the point outside the box is left out
    assert red.min(0).tolist() == [4 + 50, 4 + 50]  # frame offset 4, centre of 100 pixels


def test_chart_has_a_panel_per_model_and_dataset_and_is_deterministic(
    comparison: PointsComparison, tmp_path: Path,
) -> None:
    image = points_chart(comparison)
    columns = 1 + 6  # the truth, then six models
    assert image.width > columns * 200
    assert image.height > 2 * 200
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    save_points_chart(comparison, first)
    save_points_chart(comparison, second)
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temp left
    with Image.open(first) as img:
        settings = json.loads(img.text["genproto:points-comparison"])
    assert settings["datasets"] == list(DATASETS)
    assert settings["held_out"] == HELD_OUT


def test_chart_to_a_bad_path_is_an_output_error(comparison: PointsComparison,
                                                tmp_path: Path) -> None:
    with pytest.raises(OutputError):
        save_points_chart(comparison, tmp_path / "missing" / "x.png")
    assert list(tmp_path.iterdir()) == []
