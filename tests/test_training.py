"""The shared training loop: determinism, exact resume, untouched global RNG; its helpers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

import genproto
from genproto.data import load_toy2d
from genproto.data.dataset import Dataset
from genproto.errors import (
    CheckpointNotFoundError,
    ContractViolation,
    GenprotoError,
    InvalidArgumentError,
    TrainingNotSetUp,
)
from genproto.model import Model
from genproto.registry import Registry
from genproto.streams import KeyedStreams
from genproto.testing.training import check_training
from genproto.training import (
    Batch,
    Trainable,
    TrainSettings,
    fit,
    held_out_bits_per_dim,
    read_state,
    require_setup,
    seeded_init,
    warmup_cosine,
)

CAPS = genproto.Capabilities(
    genproto.Paradigm.FLOW, genproto.Likelihood.EXACT, genproto.SampleCost.single_pass(),
    genproto.EventSpace.continuous((2,)), objective="maximum likelihood",
)


class LearnedGaussian(Model):
    """x = mu + L z, fitted by maximum likelihood on the toy 'gaussian' density."""

    def __init__(self) -> None:
        super().__init__(CAPS, name="learned")
        with seeded_init(3):
            self.net = torch.nn.Linear(2, 2)
        self.opt: torch.optim.Optimizer | None = None

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return self.net(streams.normal(2))

    def _dist(self) -> torch.distributions.MultivariateNormal:
        w = self.net.weight
        return torch.distributions.MultivariateNormal(self.net.bias, w @ w.T + 1e-4 * torch.eye(2))

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        return self._dist().log_prob(x)

    # -- Trainable
    def training_data(self) -> Dataset:
        return load_toy2d("gaussian", n=512, seed=0)

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=12, batch_size=64, lr=0.05, save_every=4, report_every=6)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        self.opt = torch.optim.Adam(self.net.parameters(), lr=settings.lr)
        return {"adam": self.opt}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        opt = require_setup(self.opt, model=self.name)
        # a little keyed noise so the streams matter for reproducibility
        x = batch.x + self.noise(batch)
        loss = -self._dist().log_prob(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"nll": float(loss.detach())}

    def training_report(self) -> Mapping[str, float]:
        return {"scale": float(self.net.weight.abs().mean())}

    def noise(self, batch: Batch) -> torch.Tensor:
        return 0.01 * batch.streams.normal(2)


def weights(model: Model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_tensors().items()}


def test_the_example_model_is_trainable() -> None:
    assert isinstance(LearnedGaussian(), Trainable)
    assert not isinstance(object(), Trainable)


def test_same_seed_same_weights_and_loss_goes_down(tmp_path: Path) -> None:
    a, b = LearnedGaussian(), LearnedGaussian()
    ra = fit(a, tmp_path / "a", progress=False, log=lambda s: None)
    fit(b, tmp_path / "b", progress=False, log=lambda s: None)
    for key, value in weights(a).items():
        assert torch.equal(value, weights(b)[key]), key
    first = LearnedGaussian()
    data = first.training_data().x
    assert a.log_likelihood(data).mean() > first.log_likelihood(data).mean()
    assert [step for step, _ in ra.reports] == [6, 12]


def test_resume_continues_exactly(tmp_path: Path) -> None:
    whole = LearnedGaussian()
    fit(whole, tmp_path / "whole", progress=False, log=lambda s: None)
    part = LearnedGaussian()
    settings = part.training_defaults()
    fit(part, tmp_path / "part", settings=TrainSettings(
        steps=8, batch_size=64, lr=0.05, save_every=4, report_every=6), progress=False,
        log=lambda s: None)
    again = LearnedGaussian()
    result = fit(again, tmp_path / "part", settings=settings, resume=True, progress=False,
                 log=lambda s: None)
    assert result.resumed_from == 8
    assert read_state(tmp_path / "part").step == 12
    for key, value in weights(whole).items():
        assert torch.equal(value, weights(again)[key]), key


def test_training_leaves_global_rng_untouched(tmp_path: Path) -> None:
    before = torch.get_rng_state()
    fit(LearnedGaussian(), tmp_path / "x", progress=False, log=lambda s: None)
    assert torch.equal(before, torch.get_rng_state())


def test_trained_checkpoint_loads_through_the_registry(tmp_path: Path) -> None:
    reg = Registry(entry_points=False)
    reg.register("learned", LearnedGaussian, capabilities=CAPS)
    model = reg.get("learned")
    fit(model, tmp_path / "run", progress=False, log=lambda s: None)
    loaded = genproto.load(tmp_path / "run" / "model", registry=reg)
    assert torch.equal(loaded.sample(8, seed=1), model.sample(8, seed=1))


def test_resume_without_state_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match="no training state"):
        fit(LearnedGaussian(), tmp_path, resume=True, progress=False)


def test_untrainable_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot be trained"):
        fit(object(), tmp_path)


@pytest.mark.parametrize(("field", "value"), [("steps", 0), ("batch_size", -1), ("lr", 0.0),
                                              ("seed", -3)])
def test_bad_settings_are_typed_errors(field: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"steps": 10, field: value}
    with pytest.raises(InvalidArgumentError, match=field if field != "seed" else "seed"):
        TrainSettings(**kwargs)


# -- the helpers every plugin's train_step shares ------------------------------------------------


def _old_schedules(step: int, peak: float, total: int) -> dict[str, float]:
    """The four plugins' schedules as they were written before genproto.training had one."""
    ar = peak * (step + 1) / 100 if step < 100 else peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(
        math.pi * min(1.0, (step - 100) / max(1, total - 100)))))
    diffusion = peak * (step + 1) / 200 if step < 200 else peak * 0.5 * (1 + math.cos(
        math.pi * ((step - 200) / max(1, total - 200))))
    flow = peak * (step + 1) / 200 if step < 200 else peak * 0.5 * (1 + math.cos(
        math.pi * min(step / total, 1.0)))
    vae = peak * 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0)))
    return {"ar": ar, "diffusion": diffusion, "flow": flow, "vae": vae}


@pytest.mark.parametrize(("peak", "total"), [(2e-3, 1500), (1e-3, 20_000), (2e-3, 3000),
                                             (1e-3, 4000), (3e-4, 7)])
def test_warmup_cosine_gives_each_plugin_its_old_numbers_exactly(peak: float,
                                                                 total: int) -> None:
    settings = {"ar": {"warmup": 100, "floor": 0.1}, "diffusion": {"warmup": 200},
                "flow": {"warmup": 200, "cosine_from": 0}, "vae": {}}
    for step in [*range(0, total, max(1, total // 997)), total - 1]:
        old = _old_schedules(step, peak, total)
        for name, kwargs in settings.items():
            new = warmup_cosine(step, peak=peak, total=total, **kwargs)  # type: ignore[arg-type]
            assert new == old[name], (name, step)  # bit for bit: the shipped runs replay


def test_warmup_cosine_shape() -> None:
    lrs = [warmup_cosine(s, peak=1.0, total=100, warmup=10, floor=0.1) for s in range(100)]
    assert lrs[:10] == [pytest.approx((s + 1) / 10) for s in range(10)]
    assert lrs[10] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))
    assert warmup_cosine(100, peak=1.0, total=100, floor=0.1) == pytest.approx(0.1)


def test_training_before_setup_is_one_typed_error() -> None:
    model = LearnedGaussian()
    with pytest.raises(TrainingNotSetUp) as info:
        model.train_step(Batch(torch.zeros(2, 2), None, KeyedStreams.for_range(0, 0, 2), 0))
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, GenprotoError)
    assert info.value.model == "learned"
    assert "setup_training(settings) first" in str(info.value)
    assert require_setup(3, model="m") == 3


def test_training_contract_holds_for_a_keyed_model() -> None:
    check_training(LearnedGaussian)


class GlobalNoise(LearnedGaussian):
    def noise(self, batch: Batch) -> torch.Tensor:
        return 0.01 * torch.randn(batch.x.shape)


class Unguarded(LearnedGaussian):
    def __init__(self) -> None:
        super().__init__()
        del self.opt  # train_step before setup fails with an AttributeError, not the typed error


def test_training_contract_catches_global_randomness_and_untyped_errors() -> None:
    with pytest.raises(ContractViolation, match="global RNG"):
        check_training(GlobalNoise)
    with pytest.raises(ContractViolation, match="AttributeError.*TrainingNotSetUp"):
        check_training(Unguarded)


def test_held_out_bits_per_dim_is_the_mean_negative_log_likelihood_in_bits() -> None:
    model, data = LearnedGaussian(), load_toy2d("gaussian", n=64, seed=1)
    nats = model.log_likelihood(data.x, seed=0)
    want = float(-nats.mean()) / (2 * math.log(2))
    assert held_out_bits_per_dim(model, data) == want


def test_transformer_adamw_decays_matrices_only() -> None:
    from genproto.training import transformer_adamw

    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    optimizer = transformer_adamw(net, lr=1e-3)
    decayed, rest = optimizer.param_groups
    assert [p.shape for p in decayed["params"]] == [(4, 3), (2, 4)]
    assert [p.shape for p in rest["params"]] == [(4,), (4,), (4,), (2,)]
    assert (decayed["weight_decay"], rest["weight_decay"]) == (0.1, 0.0)
    assert decayed["betas"] == (0.9, 0.95)
    assert decayed["lr"] == 1e-3
