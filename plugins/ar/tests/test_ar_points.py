"""Tests of ``ar`` on 2-D points: the chain rule p(x1) p(x2 | x1) with mixture conditionals.

The chain-rule, cost and seeding checks hold for any weights and run on the shipped models and on
small untrained ones; the quality checks measure the shipped grid25 and two_moons weights against
the toy densities' exact log-densities (genproto.metrics.points).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import attrs
import pytest
import torch

import genproto
from genproto import Likelihood, Paradigm, registry
from genproto.data import TOY2D_EVENT, TOY2D_NAMES, load_toy2d, toy2d
from genproto.errors import (
    ConditionError,
    InputError,
    InputTypeError,
    NoShippedWeights,
    OptionError,
)
from genproto.metrics import beats_truth, component_coverage, kl_to_truth
from genproto.protocol import CostGrowth
from genproto.sampling import run
from genproto.testing.training import check_training
from genproto.training import TrainSettings, fit
from genproto_ar.model import PixelAR
from genproto_ar.points import COMPONENTS, HIDDEN, PRETRAINED, MixtureNet, PointsAR, network_inputs

#: Held-out points for the KL (training used seed 0); 10,000 as in the issue's measurement.
HELD_OUT = 10_000
#: Acceptance bar for KL(data || model), nats: the issue's target.
KL_BAR = 0.05
#: One-sided z of a 0.1 % false alarm: the KL's upper 99.9 % confidence bound must clear the bar.
Z = 3.09
#: Precision bar: the truth's own share within 3 std of a component is 1 - exp(-4.5) = 0.9889
#: (grid25; two_moons' overlapping components give more); over 10,000 samples its standard
#: error is 0.0010, so 0.985 is 3.8 standard errors below: a model as precise as the truth fails
#: with probability below 1e-4.
PRECISION_BAR = 0.985


@pytest.fixture(scope="module", params=PRETRAINED)
def shipped(request: pytest.FixtureRequest) -> PointsAR:
    m = registry.get("ar", dataset=request.param)
    assert isinstance(m, PointsAR)
    return m


@pytest.fixture(scope="module")
def small() -> PointsAR:
    return PointsAR(dataset="two_moons", hidden=8, components=3)


def _by_hand(net: MixtureNet, point: tuple[float, float]) -> float:
    """log p(x1) + log p(x2 | x1) of one point, written out with Python floats: for each
    coordinate, log sum_k pi_k N(x_t; mu_k, sigma_k^2) from the network's raw outputs."""
    total = 0.0
    for t in range(2):
        with torch.no_grad():
            logits, means, log_scales = (v[0].tolist() for v in
                                         net(network_inputs(t, torch.tensor([point[0]]))))
        top = max(logits)
        log_z = top + math.log(sum(math.exp(v - top) for v in logits))  # softmax normaliser
        terms = [logit - log_z - s - 0.5 * math.log(2 * math.pi)
                 - 0.5 * ((point[t] - m) / math.exp(s)) ** 2
                 for logit, m, s in zip(logits, means, log_scales, strict=True)]
        best = max(terms)
        total += best + math.log(sum(math.exp(v - best) for v in terms))
    return total


# -- what it declares --------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", TOY2D_NAMES)
def test_every_toy_density_builds_an_exact_two_evaluation_model(dataset: str) -> None:
    m = registry.get("ar", dataset=dataset, pretrained=False)
    assert isinstance(m, PointsAR)
    caps = m.capabilities
    assert caps.paradigms == (Paradigm.AUTOREGRESSIVE,)
    assert caps.likelihood is Likelihood.EXACT
    assert caps.cost.growth is CostGrowth.PER_TOKEN
    assert caps.cost.evaluations == 2
    assert caps.event == TOY2D_EVENT
    assert caps.condition is None
    # the registry describes the configured model without building it
    assert registry.default().entry("ar").capabilities_for(dataset=dataset) == caps


def test_weights_ship_for_grid25_and_two_moons_only() -> None:
    for dataset in TOY2D_NAMES:
        if dataset in PRETRAINED:
            assert isinstance(registry.get("ar", dataset=dataset), PointsAR)
        else:
            with pytest.raises(NoShippedWeights) as info:
                registry.get("ar", dataset=dataset)
            assert "pretrained=false" in str(info.value)
    with pytest.raises(NoShippedWeights):  # other sizes are trained, never loaded
        registry.get("ar", dataset="grid25", hidden=32)
    assert registry.get("ar", dataset="grid25", hidden=HIDDEN,
                        components=COMPONENTS).weights_sha256() \
        == registry.get("ar", dataset="grid25").weights_sha256()


def test_digits_stays_the_pixel_transformer() -> None:
    m = registry.get("ar")
    assert isinstance(m, PixelAR)
    assert m.capabilities.cost.evaluations == 64
    assert registry.default().entry("ar").capabilities.cost.evaluations == 64


@pytest.mark.parametrize(("options", "name"), [
    ({"dataset": "grid25", "layers": 2}, "layers"),
    ({"dataset": "grid25", "width": 32}, "width"),
    ({"dataset": "two_moons", "heads": 2}, "heads"),
    ({"dataset": "two_moons", "dropout": 0.0}, "dropout"),
    ({"components": 8, "pretrained": False}, "components"),
    ({"hidden": 32, "pretrained": False}, "hidden"),
    ({"dataset": "grid25", "components": 0, "pretrained": False}, "components"),
    ({"dataset": "grid25", "hidden": 2, "pretrained": False}, "hidden"),
    ({"dataset": "moons"}, "dataset"),
])
def test_sizes_of_the_other_configuration_are_refused(options: dict[str, object],
                                                      name: str) -> None:
    with pytest.raises(OptionError) as info:
        registry.get("ar", **options)
    assert info.value.option == name


# -- the likelihood is the chain rule ------------------------------------------------------------


def test_log_likelihood_is_the_chain_rule_by_hand(shipped: PointsAR) -> None:
    points = [(0.0, 0.0), (1.02, -1.97), (-0.4, 0.6), (3.5, -2.5)]
    got = shipped.log_likelihood(torch.tensor(points))
    want = torch.tensor([_by_hand(shipped.net, p) for p in points])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_per_position_terms_sum_to_the_log_likelihood(shipped: PointsAR) -> None:
    x = load_toy2d(shipped.dataset, 500, seed=3).x
    per = shipped.log_likelihood_per_position(x, batch_size=64)
    assert per.shape == (500, 2)
    torch.testing.assert_close(per.sum(1), shipped.log_likelihood(x), rtol=1e-5, atol=1e-5)


def test_each_conditional_integrates_to_one(small: PointsAR) -> None:
    # p(x1) on a fine 1-D grid, and p(x2 | x1) for a few x1: midpoint rule over [-12, 12]
    grid = torch.linspace(-12, 12, 24_001, dtype=torch.float64)
    step = float(grid[1] - grid[0])
    with torch.no_grad():
        for t, x1 in ((0, 0.0), (1, -1.0), (1, 0.3), (1, 2.0)):
            logits, means, log_scales = (v.double() for v in
                                         small.net(network_inputs(t, torch.tensor([x1]))))
            mix = torch.distributions.MixtureSameFamily(
                torch.distributions.Categorical(logits=logits[0]),
                torch.distributions.Normal(means[0], log_scales[0].exp()))
            assert float(mix.log_prob(grid).exp().sum()) * step == pytest.approx(1.0, abs=1e-6)


def test_likelihood_is_the_same_for_any_batch_size_and_seed(shipped: PointsAR) -> None:
    x = load_toy2d(shipped.dataset, 300, seed=4).x
    whole = shipped.log_likelihood(x)
    torch.testing.assert_close(shipped.log_likelihood(x, batch_size=7, seed=5), whole,
                               rtol=1e-5, atol=1e-5)


# -- sampling: two evaluations, keyed draws --------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 7, 256])
def test_counted_evaluations_are_two_per_sample(shipped: PointsAR, batch_size: int) -> None:
    result = run(shipped, 23, seed=0, batch_size=batch_size)
    assert result.evaluations_per_sample == shipped.cost().evaluations == 2


def test_samples_do_not_depend_on_the_batch_size(shipped: PointsAR) -> None:
    whole = shipped.sample(500, seed=7, batch_size=500)
    torch.testing.assert_close(shipped.sample(500, seed=7, batch_size=37), whole,
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(shipped.sample(20, seed=7, batch_size=1), whole[:20],
                               rtol=1e-5, atol=1e-5)
    tail = run(shipped, 100, seed=7, start=400).samples  # sample i depends only on (seed, i)
    torch.testing.assert_close(tail, whole[400:], rtol=1e-5, atol=1e-5)


def test_same_seed_same_samples_other_seed_other_samples(small: PointsAR) -> None:
    a = small.sample(64, seed=5)
    assert torch.equal(a, small.sample(64, seed=5))
    assert not torch.equal(a, small.sample(64, seed=6))


def test_both_coordinates_of_grid25_samples_sit_on_the_grid_lines() -> None:
    # x1 from p(x1), then x2 from p(x2 | x1): each near one of -2..2, so the pair near a node
    x = registry.get("ar", dataset="grid25").sample(2000, seed=11)
    off = (x - x.round()).abs()
    assert float((off <= 0.4).all(1).double().mean()) >= 0.99
    assert set(x.round().clamp(-2, 2).unique().tolist()) == {-2.0, -1.0, 0.0, 1.0, 2.0}


# -- quality of the shipped weights against the truth -------------------------------------------


def test_kl_to_the_truth_is_below_the_bar(shipped: PointsAR) -> None:
    """KL(data || model) on 10,000 held-out points: upper 99.9 % bound below 0.05 nats, and the
    model never beats the truth (genproto.metrics.beats_truth, 0.1 % false alarm)."""
    x = load_toy2d(shipped.dataset, HELD_OUT, seed=1).x
    kl = kl_to_truth(toy2d(shipped.dataset).log_prob(x.double()),
                     shipped.log_likelihood(x).double())
    assert kl.value + Z * kl.stderr < KL_BAR, kl
    assert not beats_truth(kl), kl


def test_samples_cover_every_component_precisely(shipped: PointsAR) -> None:
    truth = toy2d(shipped.dataset)
    samples = shipped.sample(HELD_OUT, seed=0)
    coverage = component_coverage(samples, truth.means, truth.covariance)
    assert coverage.covered == coverage.components, coverage
    assert coverage.precision >= PRECISION_BAR, coverage


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "error"), [
    (torch.zeros(4, 3), InputError),
    (torch.zeros(4), InputError),
    (torch.zeros(2, 2, 2), InputError),
    (torch.tensor([[0.0, float("nan")]]), InputError),
    (torch.tensor([[0.0, float("inf")]]), InputError),
    ([[0.0, 1.0]], InputTypeError),
])
def test_bad_x_is_a_typed_error(small: PointsAR, x: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        small.log_likelihood(x)  # type: ignore[arg-type]


def test_bad_calls_are_typed_errors(small: PointsAR) -> None:
    with pytest.raises(OptionError):
        small.sample(4, seed=0, temperature=0.5)  # the digits' option: not on points
    with pytest.raises(OptionError):
        small.log_likelihood(torch.zeros(2, 2), distribution="model")
    with pytest.raises(ConditionError):
        small.sample(4, seed=0, condition=1)
    with pytest.raises(ConditionError):
        small.log_likelihood(torch.zeros(2, 2), 1)


# -- training and persistence ----------------------------------------------------------------


def test_training_contract() -> None:
    """train_step before setup is a typed error; steps are keyed and leave the global RNG alone."""
    check_training(lambda: PointsAR(dataset="grid25", hidden=8, components=3))


def test_training_is_reproducible_resumable_and_learns(tmp_path: Path) -> None:
    settings = TrainSettings(steps=60, batch_size=128, lr=3e-3, seed=0, save_every=30,
                             report_every=60)
    hashes, kls = [], []
    for folder in ("a", "b"):
        m = registry.get("ar", dataset="grid25", hidden=16, components=6, pretrained=False)
        result = fit(m, tmp_path / folder, settings=settings, progress=False, log=lambda s: None)
        hashes.append(m.weights_sha256())
        kls.append(result.reports[-1][1]["held_out_kl_nats"])
    assert hashes[0] == hashes[1]
    untrained = registry.get("ar", dataset="grid25", hidden=16, components=6, pretrained=False)
    before = untrained.training_report()["held_out_kl_nats"]
    assert kls[0] < before
    half = registry.get("ar", dataset="grid25", hidden=16, components=6, pretrained=False)
    fit(half, tmp_path / "c", settings=attrs.evolve(settings, steps=30), progress=False,
        log=lambda s: None)
    fit(half, tmp_path / "c", settings=settings, resume=True, progress=False, log=lambda s: None)
    assert half.weights_sha256() == hashes[0]


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    m = registry.get("ar", dataset="two_moons", hidden=8, components=3, pretrained=False)
    m.save(tmp_path / "ck")
    back = genproto.load(tmp_path / "ck")
    assert isinstance(back, PointsAR)
    assert back.weights_sha256() == m.weights_sha256()
    assert torch.equal(back.sample(16, seed=1), m.sample(16, seed=1))


def test_the_points_example_in_the_docs_runs() -> None:
    page = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "ar.md"
    if not page.is_file():
        pytest.skip("docs/plugins/ar.md is not beside an installed plugin")
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    (example,) = [b for b in blocks if 'dataset="grid25"' in b]
    scope: dict[str, object] = {}
    exec(compile(example, "docs/plugins/ar.md", "exec"), scope)
    assert scope["terms"].shape == (1000, 2)  # type: ignore[attr-defined]
    torch.testing.assert_close(scope["terms"].sum(1), scope["nats"])  # type: ignore[attr-defined]
