"""The shipped VDM through the installed plugin: the likelihood the issue asks for, its samples,
both likelihood routes on the same weights, and typed errors.

The bits-per-dimension figures of docs/plugins/vdm.md are on all 359 test digits with 16 times a
digit; here a fixed slice keeps CI short. Fixed seeds; the margins are several standard errors of
the Monte Carlo estimates (measured), so a false alarm needs a > 4-sigma draw.
"""

from __future__ import annotations

import math

import pytest
import torch

import genproto
from genproto.data import load_digits
from genproto.errors import OptionError
from genproto.metrics import conditional_accuracy
from genproto.protocol import Likelihood

BITS = 64 * math.log(2)  # nats per image -> bits per dimension
AR_EXACT = 1.766  # the shipped autoregressive model's exact test bits/dim (docs/compare.md)


@pytest.fixture(scope="module")
def vdm() -> genproto.Model:
    torch.set_num_threads(1)
    return genproto.registry.get("vdm")


@pytest.fixture(scope="module")
def test_digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits("test")
    return data.x[:96], data.y[:96]


def test_declares_a_bound_and_the_ode_route_an_estimate_on_the_same_weights(
        vdm: genproto.Model) -> None:
    ode = genproto.registry.get("vdm", likelihood="ode")
    assert vdm.capabilities.likelihood is Likelihood.BOUND
    assert ode.capabilities.likelihood is Likelihood.ESTIMATE
    assert vdm.weights_sha256() == ode.weights_sha256()


def test_bound_beats_the_autoregressive_models_exact_likelihood(
        vdm: genproto.Model, test_digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = test_digits
    nats = vdm.log_likelihood(x, y, seed=0, bound_samples=16)
    bpd = float(-nats.mean()) / BITS
    stderr = float(nats.std()) / BITS / math.sqrt(len(nats))
    assert bpd + 3 * stderr < AR_EXACT + 0.25, (bpd, stderr)
    assert bpd > 0.5  # a bound of a real model, not a leak of the data


def test_ode_estimate_is_not_below_the_bound_beyond_its_error(
        vdm: genproto.Model, test_digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = test_digits[0][:32], test_digits[1][:32]
    ode = genproto.registry.get("vdm", likelihood="ode")
    estimate = ode.log_likelihood(x, y, seed=0, ode_steps=16)
    lower = vdm.log_likelihood(x, y, seed=0, bound_samples=64)
    diff = estimate - lower
    stderr = float(diff.std()) / math.sqrt(len(diff))
    assert float(diff.mean()) > -4.5 * stderr, (float(diff.mean()), stderr)


def test_samples_are_the_requested_digits_in_the_default_25_steps(vdm: genproto.Model) -> None:
    labels = torch.arange(300) % 10
    samples = vdm.sample(300, condition=labels, seed=0)
    assert samples.shape == (300, 8, 8)
    assert samples.dtype == torch.int64
    assert conditional_accuracy(samples, labels) >= 0.9


def test_bad_options_are_typed_errors(vdm: genproto.Model) -> None:
    with pytest.raises(OptionError, match="steps"):
        vdm.sample(2, seed=0, steps=0)
    with pytest.raises(OptionError, match="bound_samples"):
        vdm.log_likelihood(torch.zeros(1, 8, 8, dtype=torch.int64), 0, bound_samples=0)
    with pytest.raises(OptionError, match="likelihood"):
        genproto.registry.get("vdm", likelihood="exact")


def test_ode_route_gives_the_class_marginal_too(
        test_digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    """condition=None: the engine asks every class with labels it made in inference mode (a
    regression: the ODE's vector-Jacobian products could not save them for backward). Two RK4
    steps: the value is too coarse to judge here, only that it is computed."""
    x = test_digits[0][:2]
    ode = genproto.registry.get("vdm", likelihood="ode")
    marginal = ode.log_likelihood(x, None, seed=0, ode_steps=2)
    assert marginal.shape == (2,)
    assert bool(torch.isfinite(marginal).all())
    assert marginal.dtype == torch.float32
