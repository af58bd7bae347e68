"""The VAE plugin: found after pip install, samples real digits, bounds that behave as bounds.

Quality and bound checks run on the shipped weights with fixed seeds; the checks of the
training step, of options and of the latent space use small untrained models.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

import genproto
from genproto.data import load_digits
from genproto.errors import ConditionError, OptionError, OptionTypeError
from genproto.metrics import conditional_accuracy
from genproto.protocol import Likelihood, Paradigm
from genproto.sampling import run
from genproto.streams import KeyedStreams
from genproto.testing.training import check_training
from genproto.training import TrainSettings
from genproto_vae import VAE, interpolation_strip


@pytest.fixture(scope="module")
def vae() -> VAE:
    model = genproto.registry.get("vae")
    assert isinstance(model, VAE)
    return model


@pytest.fixture(scope="module")
def test_digits() -> tuple[torch.Tensor, torch.Tensor]:
    test = load_digits("test")
    assert test.y is not None
    return test.x[:120], test.y[:120]


def test_found_through_entry_point_after_pip_install() -> None:
    code = (
        "import importlib.metadata, json, genproto\n"
        "eps = [e.value for e in importlib.metadata.entry_points(group='genproto')"
        " if e.name == 'vae']\n"
        "entry = genproto.registry.Registry().entry('vae')\n"
        "print(json.dumps({'eps': eps, 'dist': entry.distribution,"
        " 'likelihood': entry.capabilities.likelihood.value}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"eps": ["genproto_vae.plugin"], "dist": "genproto-vae", "likelihood": "bound"}


def test_declares_latent_variable_bound_single_pass(vae: VAE) -> None:
    caps = vae.capabilities
    assert caps.paradigms == (Paradigm.LATENT_VARIABLE,)
    assert caps.likelihood is Likelihood.BOUND
    assert caps.cost.evaluations == 1
    assert caps.condition is not None
    assert caps.condition.num_classes == 10


def test_shipped_weights_sample_the_asked_digits(vae: VAE) -> None:
    labels = torch.arange(10).repeat_interleave(100)
    x = vae.sample(1000, condition=labels, seed=0)  # default output
    assert x.shape == (1000, 8, 8)
    assert x.dtype == torch.int64
    assert conditional_accuracy(x, labels) >= 0.90


@pytest.mark.parametrize("output", ["sample", "mode"])
def test_counted_evaluations_match_declared_cost(vae: VAE, output: str) -> None:
    result = run(vae, 37, condition=3, seed=1, batch_size=10, output=output)
    assert result.evaluations_per_sample == vae.cost(output=output).evaluations == 1


def test_sampling_is_deterministic_and_batch_size_invariant(vae: VAE) -> None:
    a = vae.sample(50, seed=7, batch_size=50)
    b = vae.sample(50, seed=7, batch_size=7)
    c = vae.sample(50, seed=8, batch_size=50)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # sample i depends on (seed, i) only: a window starting at 20 repeats rows 20..29
    window = vae.sample_run(10, seed=7, start=20).samples
    assert torch.equal(window, a[20:30])


def test_mode_output_is_the_argmax_and_needs_no_pixel_noise(vae: VAE) -> None:
    mode = vae.sample(30, condition=5, seed=3, output="mode")
    z = KeyedStreams.for_range(3, 0, 30).normal(vae.latent_dim)
    assert torch.equal(mode, vae.decode(z, 5, output="mode"))


def test_elbo_below_iwae_and_iwae_nondecreasing_in_k(
    vae: VAE, test_digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = test_digits
    bounds = {k: float(vae.log_likelihood(x, y, seed=0, k=k).mean()) for k in (1, 10, 100)}
    assert bounds[1] < bounds[10] < bounds[100] < 0.0  # log P <= 0 for discrete data
    # IWAE_1 has the ELBO's expectation: averaged over seeds it stays below IWAE_10
    elbo = sum(float(vae.log_likelihood(x, y, seed=s).mean()) for s in range(4)) / 4
    assert elbo < bounds[10]


def test_bound_is_reproducible_and_batch_size_invariant(
    vae: VAE, test_digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = test_digits[0][:40], test_digits[1][:40]
    a = vae.log_likelihood(x, y, seed=5, k=40)
    b = vae.log_likelihood(x, y, seed=5, k=40, batch_size=7)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)
    assert not torch.equal(a, vae.log_likelihood(x, y, seed=6, k=40))


def test_class_marginal_bound_is_at_most_best_class(
    vae: VAE, test_digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = test_digits[0][:30], test_digits[1][:30]
    marginal = vae.log_likelihood(x, None, seed=0)
    true_class = vae.log_likelihood(x, y, seed=0)
    assert torch.isfinite(marginal).all()
    # log mean_c exp L_c <= max_c L_c, and the true class should carry most of the mass
    assert float(marginal.mean()) <= float(true_class.mean()) + 1e-3
    assert float(marginal.mean()) >= float(true_class.mean()) - math.log(10) - 5.0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"output": "blurry"}, OptionError),
        ({"output": 1}, OptionTypeError),
        ({"latent_scale": 0.0}, OptionError),
        ({"latent_scale": -1.0}, OptionError),
        ({"latent_scal": 1.0}, OptionError),
        ({"temperature": 1.0}, OptionError),  # a logit divisor (ar), not a VAE option
    ],
)
def test_bad_sample_options_raise_typed_errors(
    vae: VAE, options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        vae.sample(2, seed=0, **options)  # type: ignore[arg-type]
    assert isinstance(info.value, OptionError)


def test_bad_likelihood_and_factory_options_raise_typed_errors(vae: VAE) -> None:
    x = load_digits("test").x[:2]
    with pytest.raises(OptionError, match="'k'"):
        vae.log_likelihood(x, 0, k=0)
    with pytest.raises(OptionTypeError):
        vae.log_likelihood(x, 0, k=2.5)
    with pytest.raises(OptionError, match="pretrained=False"):
        genproto.registry.get("vae", latent_dim=8)
    with pytest.raises(OptionError, match="dataset"):
        genproto.registry.get("vae", dataset="mnist", pretrained=False)


def test_latent_space_encode_decode_interpolate(vae: VAE) -> None:
    test = load_digits("test")
    assert test.y is not None
    mean, scale = vae.encode(test.x[:5], test.y[:5])
    assert mean.shape == scale.shape == (5, vae.latent_dim)
    assert bool((scale > 0).all())
    recon = vae.decode(mean, test.y[:5])
    assert recon.shape == (5, 8, 8)
    # the posterior mean decodes back close to the input (mean absolute error in levels)
    assert float((recon - test.x[:5]).abs().float().mean()) < 2.0
    line = vae.interpolate(test.x[0], test.x[1], 6, condition=(int(test.y[0]), int(test.y[1])))
    assert line.shape == (6, 8, 8)
    assert torch.equal(line[0], recon[0])
    assert torch.equal(line[-1], recon[1])
    strip = interpolation_strip(vae, 5, pairs=3, seed=2)
    assert strip.shape == (15, 8, 8)
    assert torch.equal(strip, vae.interpolation_strip(5, pairs=3, seed=2))
    with pytest.raises(ConditionError):
        vae.encode(test.x[:2])


def test_training_contract() -> None:
    """train_step before setup is a typed error; steps are keyed and leave the global RNG alone."""
    check_training(lambda: VAE(latent_dim=4, hidden=32))


def test_toy2d_configuration_is_unconditional_and_trainable(tmp_path: object) -> None:
    from genproto.training import fit

    model = genproto.registry.get("vae", dataset="eight_gaussians", latent_dim=2, hidden=32,
                                  pretrained=False)
    assert model.capabilities.condition is None
    settings = TrainSettings(steps=60, batch_size=64, seed=0, report_every=60, save_every=60)
    result = fit(model, tmp_path, settings=settings, progress=False)  # type: ignore[arg-type]
    assert math.isfinite(result.last_losses["loss"])
    x = model.sample(16, seed=0)
    assert x.shape == (16, 2)
    assert x.dtype == torch.float32
    assert torch.isfinite(model.log_likelihood(x, k=5)).all()
    with pytest.raises(OptionError, match="pretrained=False"):
        genproto.registry.get("vae", dataset="eight_gaussians")  # grid25, two_moons ship
