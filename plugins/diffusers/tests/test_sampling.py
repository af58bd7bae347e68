"""Sampling: every scheduler runs on keyed noise, the counted cost is the declared one, guidance
is one batched call, outputs keep their declared space, bad input is a typed error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from genproto_diffusers.model import DiffusersModel

import genproto
from genproto.errors import ConditionError, OptionError, PluginError
from genproto.sampling import run

SCHEDULERS = ["ddim", "ddpm", "dpm-solver", "euler", "EulerAncestralDiscreteScheduler",
              "HeunDiscreteScheduler"]


def _model(folder: Path, **options: Any) -> DiffusersModel:
    model = genproto.registry.get("diffusers", path=str(folder), device="cpu", **options)
    assert isinstance(model, DiffusersModel)
    return model


@pytest.fixture(scope="module")
def guided(class_dir: Path) -> DiffusersModel:
    return _model(class_dir, null_class=3, scheduler="ddim", default_steps=6)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_runs_keyed_and_batch_invariant(class_dir: Path, scheduler: str) -> None:
    model = _model(class_dir, scheduler=scheduler, default_steps=4)
    state = torch.get_rng_state()
    whole = model.sample_run(6, condition=1, seed=3)
    assert torch.equal(state, torch.get_rng_state())  # no global generator touched
    assert whole.samples.shape == (6, 1, 16, 16)
    assert whole.evaluations_per_sample == model.cost().evaluations
    split = model.sample(6, condition=1, seed=3, batch_size=4)
    tol = model.capabilities.batch_tolerance
    assert tol.agree(split, whole.samples, discrete=False)
    assert torch.equal(whole.samples, model.sample(6, condition=1, seed=3))
    assert not torch.allclose(whole.samples, model.sample(6, condition=1, seed=4))


def test_stochastic_schedulers_draw_keyed_noise_per_step(class_dir: Path) -> None:
    """DDPM and Euler ancestral draw noise at every step (through randn_tensor, keyed here):
    sample i alone equals sample i in a batch, within the declared tolerance."""
    for scheduler in ("ddpm", "EulerAncestralDiscreteScheduler"):
        model = _model(class_dir, scheduler=scheduler, default_steps=5)
        batch = model.sample(5, condition=2, seed=11)
        alone = torch.cat([run(model, 1, condition=2, seed=11, start=i).samples
                           for i in range(5)])
        assert model.capabilities.batch_tolerance.agree(alone, batch, discrete=False)


def test_sde_dpm_solver_takes_keyed_variance_noise(class_dir: Path) -> None:
    model = _model(class_dir, scheduler="dpm-solver", default_steps=4)
    model.scheduler.register_to_config(algorithm_type="sde-dpmsolver++")
    a = model.sample(3, condition=0, seed=0)
    b = model.sample(3, condition=0, seed=0, batch_size=1)
    assert model.capabilities.batch_tolerance.agree(a, b, discrete=False)


@pytest.mark.parametrize(
    ("options", "evaluations"),
    [({}, 6), ({"steps": 1}, 1), ({"steps": 13}, 13), ({"guidance": 3.0}, 6),
     ({"steps": 9, "guidance": 0.0}, 9), ({"steps": 4, "guidance": 7.5, "eta": 1.0}, 4),
     ({"eta": 0.25}, 6)],
)
def test_counted_cost_equals_declared(guided: DiffusersModel, options: dict[str, Any],
                                      evaluations: int) -> None:
    assert guided.cost(**options).evaluations == evaluations
    for batch_size in (None, 1):
        result = run(guided, 3, condition=1, seed=0, batch_size=batch_size, **options)
        assert result.evaluations_per_sample == evaluations


def test_heun_costs_what_its_timesteps_say(class_dir: Path) -> None:
    """A second-order scheduler calls the UNet twice a step but once at the last: declared
    from the scheduler's own timesteps (2K - 1), and counted so."""
    model = _model(class_dir, scheduler="HeunDiscreteScheduler", default_steps=5)
    assert model.cost().evaluations == 9
    assert run(model, 2, condition=0, seed=0).evaluations_per_sample == 9


def test_guidance_is_one_batched_call_and_changes_samples(guided: DiffusersModel) -> None:
    calls: list[int] = []
    hook = guided.unet.register_forward_hook(lambda m, a, k: calls.append(a[0].shape[0]))
    try:
        plain = guided.sample(4, condition=2, seed=0)
        rows_plain = list(calls)
        calls.clear()
        strong = guided.sample(4, condition=2, seed=0, guidance=4.0)
    finally:
        hook.remove()
    assert rows_plain == [4] * 6
    assert calls == [8] * 6  # [conditional; null] in one call a step
    assert not torch.allclose(plain, strong)


def test_eta_adds_noise_only_where_the_scheduler_has_it(guided: DiffusersModel,
                                                        class_dir: Path) -> None:
    assert not torch.allclose(guided.sample(3, seed=0, condition=0),
                              guided.sample(3, seed=0, condition=0, eta=1.0))
    ddpm = _model(class_dir, scheduler="ddpm", default_steps=3)
    assert "eta" not in {o.name for o in ddpm.sample_options}
    with pytest.raises(OptionError):
        ddpm.sample(2, seed=0, eta=0.5)


def test_classes_change_the_samples(guided: DiffusersModel) -> None:
    a = guided.sample(4, condition=0, seed=0)
    b = guided.sample(4, condition=1, seed=0)
    assert float((a - b).abs().mean()) > 1e-3


def test_embedding_condition_and_its_null(embedding_dir: Path) -> None:
    model = _model(embedding_dir, scheduler="ddim", default_steps=3, embedding_length=2)
    e = torch.linspace(-1, 1, 16).reshape(2, 8)
    with_e = model.sample_run(3, condition=e, seed=0, guidance=2.0)
    assert with_e.evaluations_per_sample == 3
    null = model.sample(3, seed=0)
    assert not torch.allclose(with_e.samples, null)
    zeros = model.sample(3, condition=torch.zeros(2, 8), seed=0)
    assert torch.allclose(null, zeros)  # None is the zero embedding
    with pytest.raises(ConditionError):
        model.sample(2, condition=torch.zeros(3, 8), seed=0)


def test_uint8_output_is_the_float_output_in_256_levels(class_dir: Path) -> None:
    floats = _model(class_dir, default_steps=3).sample(4, condition=1, seed=0)
    levels = _model(class_dir, default_steps=3, output="uint8").sample(4, condition=1, seed=0)
    assert levels.dtype == torch.uint8
    assert torch.equal(levels, ((floats + 1) * 127.5).round().to(torch.uint8))
    assert float(floats.min()) >= -1.0
    assert float(floats.max()) <= 1.0


@pytest.mark.parametrize(
    ("options", "error"),
    [({"steps": 0}, OptionError), ({"steps": 1001}, OptionError),
     ({"guidance": -1.0}, OptionError), ({"eta": 2.0}, OptionError),
     ({"temperature": 1.0}, OptionError), ({"condition": 3}, ConditionError),
     ({"condition": "seven"}, ConditionError), ({"condition": -1}, ConditionError)],
)
def test_bad_sample_input_is_typed(guided: DiffusersModel, options: dict[str, Any],
                                   error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        guided.sample(2, seed=0, **options)
    assert isinstance(info.value, ValueError)


def test_guidance_needs_a_null_class(class_dir: Path, uncond_dir: Path) -> None:
    for model in (_model(class_dir, default_steps=2), _model(uncond_dir, default_steps=2)):
        with pytest.raises(OptionError):
            model.sample(2, seed=0, guidance=2.0)


def test_a_scheduler_using_the_global_generator_is_refused(class_dir: Path) -> None:
    model = _model(class_dir, scheduler="ddim", default_steps=2)
    step = type(model.scheduler).step

    def rogue(self: Any, *args: Any, **kwargs: Any) -> Any:
        torch.rand(1)
        return step(self, *args, **kwargs)

    rogue_type = type("Rogue", (type(model.scheduler),), {"step": rogue})
    model.scheduler = rogue_type.from_config(model.scheduler.config)
    before = torch.get_rng_state()
    with pytest.raises(PluginError, match="global generator"):
        model.sample(2, condition=0, seed=0)
    assert torch.equal(before, torch.get_rng_state())


def test_save_and_load_round_trip(guided: DiffusersModel, tmp_path: Path) -> None:
    path = guided.save(tmp_path / "ckpt")
    again = genproto.load(path)
    assert again.weights_sha256() == guided.weights_sha256()  # type: ignore[attr-defined]
    assert torch.equal(again.sample(3, seed=0, condition=1), guided.sample(3, seed=0, condition=1))


def test_png_grid_of_images(guided: DiffusersModel, tmp_path: Path, class_dir: Path) -> None:
    import subprocess
    import sys

    from PIL import Image

    out = tmp_path / "grid.png"
    subprocess.run([sys.executable, "-m", "genproto", "sample", "diffusers", "-M",
                    f"path={class_dir}", "-M", "default_steps=2", "-M", "output=uint8",
                    "-n", "4", "--seed", "5", "-o", str(out)], check=True, capture_output=True)
    with Image.open(out) as image:
        assert image.info["genproto:seed"] == "5"
        assert '"model": "diffusers"' in image.info["genproto:provenance"]
