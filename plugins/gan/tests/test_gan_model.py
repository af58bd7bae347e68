"""Tests of the genproto-gan plugin: quality and mode coverage of the shipped weights, the
missing likelihood, the declared cost, truncation, determinism, options and training."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import torch

import genproto
from genproto import registry
from genproto.errors import LikelihoodUnavailable, OptionError, OptionTypeError
from genproto.metrics import conditional_accuracy, mode_coverage
from genproto.protocol import CostGrowth, Likelihood, Paradigm
from genproto.streams import KeyedStreams
from genproto.testing.training import check_training
from genproto.training import fit
from genproto_gan.model import GAN


@pytest.fixture(scope="module")
def gan() -> GAN:
    model = registry.get("gan")
    assert isinstance(model, GAN)
    return model


# -- quality of the shipped weights --------------------------------------------------------


def test_shipped_weights_draw_the_class_asked_for(gan: GAN) -> None:
    labels = torch.arange(1000) % 10  # 100 per class
    samples = gan.sample(1000, condition=labels, seed=0)
    assert samples.shape == (1000, 8, 8)
    assert samples.dtype == torch.int64
    assert int(samples.min()) >= 0
    assert int(samples.max()) <= 16
    assert conditional_accuracy(samples, labels) >= 0.90


def test_sevens_are_sevens(gan: GAN) -> None:
    assert conditional_accuracy(gan.sample(16, condition=7, seed=3), 7) >= 0.85


def test_no_mode_collapse_on_unconditional_samples(gan: GAN) -> None:
    # condition=None: the sampler draws a uniform class per sample from its stream.
    coverage = mode_coverage(gan.sample(10_000, seed=1))
    assert coverage.classes_present == 10, coverage.describe()
    assert coverage.min_ratio >= 0.5, coverage.describe()


# -- capabilities: no likelihood, one pass -------------------------------------------------


def test_declares_adversarial_no_likelihood_single_pass(gan: GAN) -> None:
    caps = gan.capabilities
    assert caps.paradigms == (Paradigm.ADVERSARIAL,)
    assert caps.likelihood is Likelihood.NONE
    assert caps.cost.growth is CostGrowth.SINGLE_PASS
    assert caps.condition is not None
    assert caps.condition.num_classes == 10
    assert not caps.condition.required
    assert "gan" in [e.name for e in registry.find(likelihood="none")]
    assert "gan" not in [e.name for e in registry.find(likelihood="exact")]


def test_log_likelihood_raises_saying_gans_have_no_density(gan: GAN) -> None:
    x = torch.zeros(2, 8, 8, dtype=torch.int64)
    with pytest.raises(LikelihoodUnavailable, match="defines no density") as info:
        gan.log_likelihood(x, condition=3)
    assert "registry.find(likelihood=" in str(info.value)
    assert isinstance(info.value, NotImplementedError)
    with pytest.raises(LikelihoodUnavailable, match="defines no density"):
        gan.log_likelihood_batch(x, None, KeyedStreams.for_range(0, 0, 2))


@pytest.mark.parametrize("truncation", [None, 0.5, 2.0])
def test_counted_evaluations_match_declared_cost(gan: GAN, truncation: float | None) -> None:
    result = gan.sample_run(10, seed=0, batch_size=4, truncation=truncation)
    assert result.evaluations_per_sample == gan.cost(truncation=truncation).evaluations == 1


def test_sampling_never_calls_the_discriminator(gan: GAN) -> None:
    from genproto.sampling import EvaluationCounter

    with EvaluationCounter(gan.networks()) as counter:
        gan.sample(5, seed=0)
    assert counter.by_network == {"generator": 1, "discriminator": 0, "generator_online": 0}


# -- truncation -----------------------------------------------------------------------------


def test_truncated_latents_lie_in_the_bound(gan: GAN) -> None:
    streams = KeyedStreams.for_range(0, 0, 256)
    z = gan.latents(streams, 0.5)
    assert z.shape == (256, gan.latent_dim)
    assert float(z.abs().max()) <= 0.5


def test_truncation_trades_diversity(gan: GAN) -> None:
    def spread(t: float | None) -> float:
        x = gan.sample(500, condition=4, seed=5, truncation=t).float()
        return float(x.reshape(500, -1).std(0).mean())

    assert spread(0.25) < spread(1.0) < spread(None) + 0.5
    assert spread(0.25) < 0.8 * spread(None)


# -- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("truncation", [None, 1.0])
def test_samples_depend_on_seed_not_on_batch_size(gan: GAN, truncation: float | None) -> None:
    a = gan.sample(37, seed=11, batch_size=37, truncation=truncation)
    b = gan.sample(37, seed=11, batch_size=5, truncation=truncation)
    c = gan.sample(37, seed=11, batch_size=1, truncation=truncation)
    assert torch.equal(a, b)
    assert torch.equal(a, c)
    assert not torch.equal(a, gan.sample(37, seed=12, truncation=truncation))


def test_sample_i_depends_only_on_seed_and_i(gan: GAN) -> None:
    whole = gan.sample_run(20, seed=9, condition=None).samples
    part = gan.sample_run(5, seed=9, start=10).samples
    assert torch.equal(whole[10:15], part)


# -- bad options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"truncation": 0.0}, OptionError),
        ({"truncation": -1.0}, OptionError),
        ({"truncation": float("inf")}, OptionError),
        ({"truncation": "wide"}, OptionTypeError),
        ({"truncation": True}, OptionTypeError),
        ({"temperature": 1.0}, OptionError),
        ({"steps": 10}, OptionError),
    ],
)
def test_bad_sample_options_are_typed_errors(gan: GAN, options: dict[str, object],
                                             error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        gan.sample(2, seed=0, **options)
    assert info.value.option == next(iter(options))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"dataset": "mnist"}, OptionError),
        ({"latent_dim": 0}, OptionError),
        ({"hidden": 2.5}, OptionTypeError),
        ({"lr_ratio": 0}, OptionError),
        ({"ema_decay": 1.0}, OptionError),
        ({"loss": "wasserstein"}, OptionError),
        ({"pretrained": "yes"}, OptionTypeError),
        ({"hiden": 128}, OptionError),
    ],
)
def test_bad_factory_options_are_typed_errors(options: dict[str, object],
                                              error: type[Exception]) -> None:
    with pytest.raises(error):
        registry.get("gan", **options)


def test_unshipped_configuration_says_to_train_it() -> None:
    with pytest.raises(OptionError, match="pretrained=False") as info:
        registry.get("gan", hidden=128)
    assert info.value.option == "pretrained"  # the registry's option; the cause is named:
    assert getattr(info.value, "differing", None) == {"hidden": 128}
    assert "genproto train gan -M hidden=128 -M pretrained=false -o DIR" in str(info.value)
    model = registry.get("gan", hidden=128, pretrained=False)
    assert isinstance(model, GAN)


# -- packaging ------------------------------------------------------------------------------


def test_found_through_its_entry_point_after_pip_install() -> None:
    points = importlib.metadata.entry_points(group="genproto")
    assert any(ep.name == "gan" and ep.value == "genproto_gan.plugin" for ep in points)
    code = (
        "import json; from genproto.registry import Registry; e = Registry().entry('gan'); "
        "print(json.dumps([e.distribution, e.version, e.capabilities.likelihood.value]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    distribution, version, likelihood = json.loads(out.stdout)
    assert (distribution, version) == ("genproto-gan", "0.1.0")
    assert likelihood == "none"


def test_checkpoint_round_trip(gan: GAN, tmp_path: Path) -> None:
    gan.save(tmp_path / "ckpt")
    again = genproto.load(tmp_path / "ckpt")
    assert torch.equal(again.sample(8, seed=2), gan.sample(8, seed=2))


# -- training -------------------------------------------------------------------------------


def test_toy2d_configuration_is_unconditional_and_continuous() -> None:
    model = registry.get("gan", dataset="two_moons", pretrained=False)
    assert model.capabilities.condition is None
    x = model.sample(6, seed=0)
    assert x.shape == (6, 2)
    assert x.dtype == torch.float32


def test_training_is_seeded_and_resumes_exactly(tmp_path: Path) -> None:
    def fresh() -> GAN:
        model = registry.get("gan", dataset="eight_gaussians", hidden=32, latent_dim=4,
                             pretrained=False)
        assert isinstance(model, GAN)
        return model

    settings = attrs.evolve(fresh().training_defaults(), steps=12, batch_size=32, save_every=6)
    straight = fresh()
    fit(straight, tmp_path / "a", settings=settings, progress=False)
    halves = fresh()
    fit(halves, tmp_path / "b", settings=attrs.evolve(settings, steps=6), progress=False)
    resumed = fresh()
    fit(resumed, tmp_path / "b", settings=settings, resume=True, progress=False)
    for key, value in straight.state_tensors().items():
        assert torch.equal(value, resumed.state_tensors()[key]), key
    assert not torch.equal(straight.generator.net[0].weight, halves.generator.net[0].weight)


def test_digits_training_step_moves_generators_and_reports(tmp_path: Path) -> None:
    model = registry.get("gan", pretrained=False, hidden=32)
    assert isinstance(model, GAN)
    before = model.generator.net[0].weight.clone()
    settings = attrs.evolve(model.training_defaults(), steps=2, report_every=2)
    result = fit(model, tmp_path, settings=settings, progress=False)
    assert set(result.last_losses) == {"loss_d", "loss_g"}
    (_, report), = result.reports
    assert set(report) == {"accuracy", "classes", "rarest"}
    assert not torch.equal(before, model.generator.net[0].weight)


def test_training_contract() -> None:
    """train_step before setup is a typed error; steps are keyed and leave the global RNG alone."""
    check_training(lambda: GAN(hidden=32))
