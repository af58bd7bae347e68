"""The flow plugin: found after pip install, invertible, exact log-determinants, honest likelihoods.

Quality, bound and exactness checks run on the shipped weights (digits, eight_gaussians) with
fixed seeds; the invertibility and log-determinant checks also use untrained flows whose
parameters are perturbed away from the identity initialisation.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from genproto_flow import CouplingFlow
from genproto_flow.model import FlowNet

import genproto
from genproto.data import load_digits, toy2d
from genproto.errors import ConditionError, OptionError, OptionTypeError
from genproto.metrics import conditional_accuracy
from genproto.protocol import Likelihood, Paradigm
from genproto.sampling import run
from genproto.streams import KeyedStreams
from genproto.testing.training import check_training
from genproto.training import TrainSettings


@pytest.fixture(scope="module")
def flow() -> CouplingFlow:
    model = genproto.registry.get("flow")
    assert isinstance(model, CouplingFlow)
    return model


@pytest.fixture(scope="module")
def toy() -> CouplingFlow:
    model = genproto.registry.get("flow", dataset="eight_gaussians")
    assert isinstance(model, CouplingFlow)
    return model


@pytest.fixture(scope="module")
def test_digits() -> tuple[torch.Tensor, torch.Tensor]:
    test = load_digits("test")
    assert test.y is not None
    return test.x[:100], test.y[:100]


def _perturbed(dims: int, classes: int, depth: int, hidden: int, scale: float = 0.3) -> FlowNet:
    """An untrained flow with every parameter moved off its (near-identity) initialisation."""
    generator = torch.Generator().manual_seed(0)
    net = FlowNet(dims, classes, depth, hidden).double()
    with torch.no_grad():
        for p in net.parameters():
            # matrices get noise of scale / sqrt(width): a random triangular factor with O(1)
            # entries would make W exponentially ill-conditioned in D
            width = math.sqrt(p.shape[-1]) if p.ndim == 2 else 1.0
            p.add_(scale / width * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return net


def test_found_through_entry_point_after_pip_install() -> None:
    code = (
        "import importlib.metadata, json, genproto\n"
        "eps = [e.value for e in importlib.metadata.entry_points(group='genproto')"
        " if e.name == 'flow']\n"
        "entry = genproto.registry.Registry().entry('flow')\n"
        "print(json.dumps({'eps': eps, 'dist': entry.distribution,"
        " 'likelihood': entry.capabilities.likelihood.value}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"eps": ["genproto_flow.plugin"], "dist": "genproto-flow", "likelihood": "bound"}


def test_declares_flow_single_pass_bound_on_digits_exact_on_toy(
    flow: CouplingFlow, toy: CouplingFlow
) -> None:
    for model in (flow, toy):
        assert model.capabilities.paradigms == (Paradigm.FLOW,)
        assert model.capabilities.cost.evaluations == 1
    assert flow.capabilities.likelihood is Likelihood.BOUND
    assert flow.capabilities.condition is not None
    assert flow.capabilities.condition.num_classes == 10
    assert toy.capabilities.likelihood is Likelihood.EXACT
    assert toy.capabilities.condition is None


def test_shipped_weights_sample_the_asked_digits(flow: CouplingFlow) -> None:
    labels = torch.arange(10).repeat_interleave(100)
    x = flow.sample(1000, condition=labels, seed=0)  # default latent scale
    assert x.shape == (1000, 8, 8)
    assert x.dtype == torch.int64
    assert int(x.min()) >= 0
    assert int(x.max()) <= 16
    assert conditional_accuracy(x, labels) >= 0.90


@pytest.mark.parametrize("latent_scale", [None, 0.5, 1.0])
def test_counted_evaluations_match_declared_cost(
    flow: CouplingFlow, latent_scale: float | None
) -> None:
    options = {} if latent_scale is None else {"latent_scale": latent_scale}
    result = run(flow, 23, condition=4, seed=1, batch_size=10, **options)
    assert result.evaluations_per_sample == flow.cost(**options).evaluations == 1


def test_sampling_is_deterministic_and_batch_size_invariant(
    flow: CouplingFlow, toy: CouplingFlow
) -> None:
    for model in (flow, toy):
        a = model.sample(40, seed=7, batch_size=40)
        b = model.sample(40, seed=7, batch_size=6)
        window = model.sample_run(10, seed=7, start=20).samples
        if a.is_floating_point():  # matmul kernels may round differently per batch size
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(window, a[20:30], rtol=1e-5, atol=1e-5)
        else:
            assert torch.equal(a, b)
            assert torch.equal(window, a[20:30])
        assert torch.equal(a, model.sample(40, seed=7, batch_size=40))
        assert not torch.allclose(a.float(), model.sample(40, seed=8, batch_size=40).float())


def test_latent_scale_scales_the_base_noise(toy: CouplingFlow) -> None:
    eps = KeyedStreams.for_range(3, 0, 16).normal(2)
    with torch.inference_mode():
        want = toy.flow(0.5 * eps, None)
    assert torch.allclose(toy.sample(16, seed=3, latent_scale=0.5), want)


@pytest.mark.parametrize(("dims", "classes"), [(2, 0), (64, 10)])
def test_inverse_of_forward_is_the_identity(dims: int, classes: int) -> None:
    net = _perturbed(dims, classes, depth=6, hidden=32, scale=0.1).float()
    h = 2.0 * KeyedStreams.for_range(0, 0, 256).normal(dims)  # (256, D)
    labels = None if classes == 0 else torch.arange(256) % classes
    with torch.no_grad():
        z, _ = net.to_latent(h, labels)
        back = net(z, labels)  # forward is the generative (inverse) pass
    assert float((back - h).abs().max()) < 1e-3
    assert float((back - h).abs().mean()) < 1e-5


def test_shipped_flows_invert_their_own_samples(flow: CouplingFlow, toy: CouplingFlow) -> None:
    for model, labels in ((toy, None), (flow, torch.arange(50) % 10)):
        eps = KeyedStreams.for_range(0, 0, 50).normal(model.dims)
        with torch.inference_mode():
            h = model.flow(eps, labels)
            z, _ = model.flow.to_latent(h, labels)
        assert float((z - eps).abs().max()) < 1e-3


@pytest.mark.parametrize(("dims", "classes"), [(2, 0), (64, 10)])
def test_log_det_equals_brute_force_jacobian(dims: int, classes: int) -> None:
    net = _perturbed(dims, classes, depth=4, hidden=16)
    rows = KeyedStreams.for_range(1, 0, 3).normal(dims, dtype=torch.float64)  # (3, D)
    for i in range(rows.shape[0]):
        label = None if classes == 0 else torch.tensor([i % classes])

        def to_latent(h: torch.Tensor, label: torch.Tensor | None = label) -> torch.Tensor:
            return net.to_latent(h[None], label)[0][0]

        jac = torch.autograd.functional.jacobian(to_latent, rows[i])  # (D, D)
        _, brute = torch.linalg.slogdet(jac)
        logdet = net.to_latent(rows[i : i + 1], label)[1].detach()
        assert abs(float(logdet[0]) - float(brute)) < 1e-8 * max(1.0, abs(float(brute)))


def test_digits_density_includes_the_logit_jacobian() -> None:
    """log p_y(y) = log p_h(logit(y)) + log|d logit / dy|, checked against autograd."""
    y = (KeyedStreams.for_range(2, 0, 2).uniform(64) * 0.9 + 0.05).double()
    model = CouplingFlow(depth=2, hidden=8)
    model.flow = _perturbed(64, 10, depth=2, hidden=8)
    for i in range(2):
        label = torch.tensor([i])

        def to_z(v: torch.Tensor, label: torch.Tensor = label) -> torch.Tensor:
            p = 0.05 + 0.9 * v
            return model.flow.to_latent((p.log() - torch.log1p(-p))[None], label)[0][0]

        _, brute = torch.linalg.slogdet(torch.autograd.functional.jacobian(to_z, y[i]))
        z = to_z(y[i]).detach()
        want = -0.5 * float((z**2).sum()) - 32 * math.log(2 * math.pi) + float(brute)
        got = float(model.log_density(y[i : i + 1], label).detach()[0])
        assert abs(got - want) < 1e-6 * abs(want)


def test_toy_density_integrates_to_one(toy: CouplingFlow) -> None:
    edge = torch.linspace(-4.0, 4.0, 321, dtype=torch.float64)
    mid = ((edge[1:] + edge[:-1]) / 2).float()
    grid = torch.cartesian_prod(mid, mid)  # (320^2, 2) cell midpoints
    log_p = toy.log_likelihood(grid, batch_size=20_000).double()
    mass = float(log_p.exp().sum()) * (8.0 / 320) ** 2
    assert abs(mass - 1.0) < 0.01


def test_toy_flow_fits_its_density(toy: CouplingFlow) -> None:
    """The mean log-density gap on samples of the true density is KL(true || model) >= 0."""
    truth = toy2d("eight_gaussians")
    x = truth.sample(2000, torch.Generator().manual_seed(0))
    gap = float((truth.log_prob(x.double()) - toy.log_likelihood(x).double()).mean())
    assert 0.0 <= gap < 0.5


def test_bound_is_at_most_zero_and_tighter_with_more_dequantisation_samples(
    flow: CouplingFlow, test_digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = test_digits
    loose = flow.log_likelihood(x, y, seed=0)
    assert bool((loose < 0).all())  # log P(x) <= 0 for a discrete event, and bound <= log P
    tight = flow.log_likelihood(x, y, seed=0, k=16)
    assert bool((tight < 0).all())
    plain = torch.stack([flow.log_likelihood(x, y, seed=s) for s in range(4)]).mean(0)
    assert float(tight.mean()) > float(plain.mean())


def test_bound_is_reproducible_and_batch_size_invariant(
    flow: CouplingFlow, test_digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = test_digits[0][:30], test_digits[1][:30]
    a = flow.log_likelihood(x, y, seed=5, k=20)
    b = flow.log_likelihood(x, y, seed=5, k=20, batch_size=7)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)
    assert not torch.equal(a, flow.log_likelihood(x, y, seed=6, k=20))


def test_class_marginal_bound_is_at_most_best_class(
    flow: CouplingFlow, test_digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = test_digits[0][:30], test_digits[1][:30]
    marginal = flow.log_likelihood(x, None, seed=0)
    true_class = flow.log_likelihood(x, y, seed=0)
    assert torch.isfinite(marginal).all()
    assert float(marginal.mean()) <= float(true_class.mean()) + 1.0
    assert float(marginal.mean()) >= float(true_class.mean()) - math.log(10) - 5.0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"latent_scale": 0.0}, OptionError),
        ({"latent_scale": -0.5}, OptionError),
        ({"latent_scale": "hot"}, OptionTypeError),
        ({"latent_scale": float("nan")}, OptionError),
        ({"latent_scal": 1.0}, OptionError),
        ({"temperature": 1.0}, OptionError),  # a logit divisor (ar), not a flow option
    ],
)
def test_bad_sample_options_raise_typed_errors(
    flow: CouplingFlow, options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        flow.sample(2, seed=0, **options)  # type: ignore[arg-type]
    assert isinstance(info.value, OptionError)
    assert getattr(info.value, "option", None) in (*options, "latent_scale")


def test_bad_likelihood_and_factory_options_raise_typed_errors(
    flow: CouplingFlow, toy: CouplingFlow
) -> None:
    x = load_digits("test").x[:2]
    with pytest.raises(OptionError, match="'k'"):
        flow.log_likelihood(x, 0, k=0)
    with pytest.raises(OptionTypeError):
        flow.log_likelihood(x, 0, k=2.5)
    with pytest.raises(OptionError, match="exact"):
        toy.log_likelihood(torch.zeros(2, 2), k=4)
    with pytest.raises(OptionError, match="pretrained=False"):
        genproto.registry.get("flow", depth=4)
    with pytest.raises(OptionError, match="pretrained=False"):
        genproto.registry.get("flow", dataset="checkerboard")  # no weights for it
    with pytest.raises(OptionError, match="dataset"):
        genproto.registry.get("flow", dataset="mnist", pretrained=False)
    with pytest.raises(OptionError, match="depth"):
        genproto.registry.get("flow", depth=0, pretrained=False)
    with pytest.raises(ConditionError):
        flow.log_likelihood(x, 10)


def test_training_contract() -> None:
    """train_step before setup is a typed error; steps are keyed and leave the global RNG alone."""
    check_training(lambda: CouplingFlow(depth=2, hidden=16))


def test_untrained_toy_configuration_trains_and_resumes(tmp_path: object) -> None:
    from pathlib import Path

    from genproto.training import fit

    folder = Path(str(tmp_path))
    settings = TrainSettings(steps=40, batch_size=64, seed=0, report_every=40, save_every=20)
    model = genproto.registry.get("flow", dataset="two_moons", depth=3, hidden=16,
                                  pretrained=False)
    whole = fit(model, folder / "whole", settings=settings, progress=False)
    assert math.isfinite(whole.last_losses["nll_bpd"])
    half = genproto.registry.get("flow", dataset="two_moons", depth=3, hidden=16,
                                 pretrained=False)
    import attrs

    fit(half, folder / "half", settings=attrs.evolve(settings, steps=20), progress=False)
    fit(half, folder / "half", settings=settings, resume=True, progress=False)
    a, b = model.state_tensors(), half.state_tensors()
    assert all(torch.allclose(a[k], b[k]) for k in a)
    x = model.sample(16, seed=0)
    assert x.shape == (16, 2)
    assert x.dtype == torch.float32
    assert torch.isfinite(model.log_likelihood(x)).all()
