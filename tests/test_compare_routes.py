"""genproto compare: a model's other likelihood routes (its ``likelihood`` option) are measured
beside its own, each with what it cost, on the digits and on points.

The test models have known answers: on the digits a uniform model whose ``bound`` route is a
known ``gap`` below ``-64 log 17`` and whose ``ode`` route is exact, one network call per
batch; on points the truth's own density shifted by a known gap per route.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch
from compare_models import Uniform
from test_compare_points import DATASET, Points
from test_compare_points import capabilities as points_capabilities

from genproto import Likelihood, Paradigm
from genproto.compare import compare, compare_points
from genproto.compare.claims import Status
from genproto.compare.records import Outcome
from genproto.compare.routes import likelihood_routes, route_label
from genproto.options import Option
from genproto.registry import Registry
from genproto.streams import KeyedStreams

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest

LEVELS = 17
GAP = 6.4  # nats below the uniform log-likelihood: 0.144 bits/dim
KINDS = {"bound": Likelihood.BOUND, "ode": Likelihood.ESTIMATE, "exact": Likelihood.EXACT}


def _option(*choices: str) -> Option:
    return Option("likelihood", str, choices[0], "which route", choices=choices)


class TwoRoutes(Uniform):
    """Uniform digits; ``log p = -64 log 17 - gap`` where gap is GAP for ``bound`` and 0 for the
    others; one network call per likelihood batch (so one evaluation per image)."""

    def __init__(self, likelihood: str = "bound", broken: bool = False) -> None:
        super().__init__(name="vdm", paradigm=Paradigm.DIFFUSION, likelihood=KINDS[likelihood],
                         gap=GAP if likelihood == "bound" else 0.0)
        if broken:
            raise RuntimeError("this route cannot be built")

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        self.net(x)
        return super().log_likelihood_batch(x, condition, streams, **options)


def _digits_registry(*choices: str, broken: str | None = None) -> Registry:
    reg = Registry(entry_points=False)
    reg.register("vdm", lambda likelihood=choices[0]: TwoRoutes(likelihood, likelihood == broken),
                 capabilities=lambda likelihood=choices[0]: TwoRoutes(likelihood).capabilities,
                 options=[_option(*choices)])
    reg.register("plain", lambda: Uniform(name="plain", paradigm=Paradigm.LATENT_VARIABLE,
                                          likelihood=Likelihood.BOUND, gap=GAP),
                 capabilities=Uniform(paradigm=Paradigm.LATENT_VARIABLE,
                                      likelihood=Likelihood.BOUND).capabilities)
    return reg


def _compare(reg: Registry) -> Any:
    return compare(registry=reg, n=20, per_class=2, steps=(), progress=False)


def test_the_other_choices_of_the_likelihood_option_are_the_routes() -> None:
    reg = _digits_registry("bound", "ode", "exact")
    assert likelihood_routes(reg.entry("vdm")) == ("ode", "exact")
    assert likelihood_routes(reg.entry("plain")) == ()
    assert route_label("ode") == "likelihood=ode"


def test_each_route_is_measured_with_its_value_and_cost() -> None:
    comparison = _compare(_digits_registry("bound", "ode"))
    (vdm,) = [r for r in comparison.reports if r.name == "vdm"]
    uniform_bits = math.log2(LEVELS)
    # The model's own (default) route: the bound, GAP nats below the uniform log p.
    assert vdm.likelihood is Likelihood.BOUND
    assert vdm.bits_per_dim == pytest.approx(uniform_bits + GAP / (64 * math.log(2)))
    assert vdm.bits_per_dim_stderr == pytest.approx(0.0, abs=1e-12)  # the same value each image
    assert vdm.likelihood_evaluations == pytest.approx(1.0)
    assert vdm.likelihood_seconds is not None
    assert vdm.likelihood_seconds > 0
    # The other route, built anew with likelihood="ode": exact here, so log2(17).
    (route,) = vdm.routes
    assert route.option == "likelihood=ode"
    assert route.likelihood is Likelihood.ESTIMATE
    assert route.outcome is Outcome.VALUES
    assert route.bits_per_dim == pytest.approx(uniform_bits)
    assert route.evaluations_per_item == pytest.approx(1.0)
    assert route.seconds_per_item is not None
    assert route.seconds_per_item > 0
    (plain,) = [r for r in comparison.reports if r.name == "plain"]
    assert plain.routes == ()


def test_the_report_shows_every_likelihood_and_its_cost() -> None:
    comparison = _compare(_digits_registry("bound", "ode"))
    rows = comparison.likelihood_rows()
    assert [(r[0], r[1], r[2]) for r in rows] == [  # models in name order
        ("plain", "default", "bound"), ("vdm", "default", "bound"),
        ("vdm", "likelihood=ode", "estimate")]
    assert rows[2][3].startswith(f"≈ {math.log2(LEVELS):.3f}")
    assert rows[1][4] == "1"  # one network evaluation per image
    markdown = comparison.markdown()
    assert "## Likelihoods and what they cost" in markdown
    assert "| vdm | likelihood=ode | estimate |" in markdown
    assert "likelihood=ode" in comparison.text()
    (model,) = [m for m in json.loads(comparison.to_json())["models"] if m["name"] == "vdm"]
    assert model["routes"][0]["option"] == "likelihood=ode"
    assert model["routes"][0]["likelihood"] == "estimate"


def test_the_diffusion_likelihood_claim_is_judged_on_every_route_with_its_cost() -> None:
    holds = _compare(_digits_registry("bound", "ode"))
    (claim,) = [c for c in holds.claims if c.key == "diffusion.likelihood"]
    assert claim.status is Status.HOLDS
    assert "likelihood=ode: declared estimate" in claim.evidence
    assert "ms and 1 network evaluations per image" in claim.evidence
    # A route declaring an exact likelihood breaks the cheatsheet's "indirect".
    fails = _compare(_digits_registry("bound", "exact"))
    (claim,) = [c for c in fails.claims if c.key == "diffusion.likelihood"]
    assert claim.status is Status.DOES_NOT_HOLD
    assert "likelihood=exact: declared exact" in claim.evidence


def test_a_route_that_cannot_be_built_is_reported_not_raised() -> None:
    comparison = _compare(_digits_registry("bound", "ode", broken="ode"))
    (vdm,) = [r for r in comparison.reports if r.name == "vdm"]
    (route,) = vdm.routes
    assert route.outcome is Outcome.NOT_TRIED
    assert route.error is not None
    assert "cannot be built" in route.error
    assert "cannot be built" in comparison.markdown()


# --- points -------------------------------------------------------------------------------------


ROUTE_GAPS = {"bound": 0.3, "ode": 0.1, "liar": -0.5}


class PointsRoutes(Points):
    """The truth's density ``- ROUTE_GAPS[likelihood]`` nats (``liar``: above the truth)."""

    def __init__(self, dataset: str = "grid25", likelihood: str = "bound") -> None:
        kind = {"bound": Likelihood.BOUND, "ode": Likelihood.ESTIMATE,
                "liar": Likelihood.ESTIMATE}[likelihood]
        super().__init__(dataset, name="vdm", paradigm=Paradigm.DIFFUSION, likelihood=kind,
                         gap=lambda k: ROUTE_GAPS[likelihood])


def _points(*choices: str) -> Any:
    reg = Registry(entry_points=False)
    reg.register("vdm", PointsRoutes,
                 capabilities=lambda dataset="grid25", likelihood=choices[0]: points_capabilities(
                     Paradigm.DIFFUSION, PointsRoutes(dataset, likelihood).capabilities.likelihood),
                 options=[DATASET, _option(*choices)])
    return compare_points(registry=reg, datasets=("grid25",), n=200, held_out=300, steps=(),
                          progress=False)


def test_points_routes_are_held_against_the_truth_with_their_cost() -> None:
    comparison = _points("bound", "ode")
    (report,) = comparison.reports
    assert report.kl is not None
    assert report.kl.value == pytest.approx(ROUTE_GAPS["bound"])
    assert report.likelihood_evaluations == pytest.approx(1.0)
    (route,) = report.routes
    assert route.option == "likelihood=ode"
    assert route.likelihood is Likelihood.ESTIMATE
    assert route.kl is not None
    assert route.kl.value == pytest.approx(ROUTE_GAPS["ode"])
    assert route.evaluations_per_item == pytest.approx(1.0)
    rows = comparison.rows("grid25")
    assert [r[0] for r in rows] == ["truth", "vdm", "vdm, likelihood=ode"]
    assert rows[2][3].startswith("≈ 0.1000")
    assert rows[2][-1] == "ok"
    costs = comparison.cost_rows()
    assert [(c[0], c[2]) for c in costs] == [("vdm", "default"), ("vdm", "likelihood=ode")]
    assert "## Likelihoods and what they cost" in comparison.markdown()
    (model,) = json.loads(comparison.to_json())["models"]
    assert model["routes"][0]["kl"]["value"] == pytest.approx(ROUTE_GAPS["ode"])


def test_a_points_route_that_beats_the_truth_is_broken() -> None:
    comparison = _points("bound", "liar")
    (report,) = comparison.reports
    assert report.broken
    rows = comparison.rows("grid25")
    assert rows[2][0] == "vdm, likelihood=liar"
    assert rows[2][-1] == "BROKEN: beats the truth"


def test_the_truth_claim_names_every_route() -> None:
    comparison = _points("bound", "liar")
    (claim,) = [c for c in comparison.claims if c.key == "points.truth"]
    assert claim.status is Status.DOES_NOT_HOLD
    assert "likelihood=liar: KL ~ -0.5" in claim.evidence
