"""The shipped ``digits-unet``: quality (judged like every digits model), the diffusers
folder it ships as, the declared cost, the training contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from genproto_diffusers.digits import DigitsUNet, shipped_folder, unet_config

import genproto
from genproto.errors import NoShippedWeights
from genproto.metrics import conditional_accuracy, digits_frechet, frechet_floor
from genproto.testing.training import check_training


@pytest.fixture(scope="module")
def model() -> DigitsUNet:
    m = genproto.registry.get("digits-unet", device="cpu")
    assert isinstance(m, DigitsUNet)
    return m


def test_shipped_weights_draw_the_class_asked_for_and_near_real_digits(model: DigitsUNet) -> None:
    labels = torch.arange(1000) % 10  # 100 per class, K = 50 DDIM steps
    x = model.sample(1000, condition=labels, seed=0)
    assert x.shape == (1000, 8, 8)
    assert x.dtype == torch.int64
    assert 0 <= int(x.min()) <= int(x.max()) <= 16
    assert conditional_accuracy(x, labels) >= 0.95
    assert digits_frechet(x) < 3 * frechet_floor()


def test_shipped_folder_is_a_diffusers_pipeline_folder_under_5_mb() -> None:
    from diffusers import DDPMScheduler, UNet2DModel

    folder = shipped_folder()
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    assert weights.stat().st_size <= 5 * 2**20
    unet = UNet2DModel.from_pretrained(str(folder), subfolder="unet", local_files_only=True)
    saved = json.loads((folder / "unet" / "config.json").read_text())
    for key, value in unet_config().items():
        assert saved[key] == (list(value) if isinstance(value, tuple) else value), key
    scheduler = DDPMScheduler.from_pretrained(str(folder), subfolder="scheduler",
                                              local_files_only=True)
    assert scheduler.config.beta_schedule == "squaredcos_cap_v2"
    assert sum(p.numel() for p in unet.parameters()) < 2**20


def test_the_generic_adapter_reads_the_shipped_folder_too(model: DigitsUNet) -> None:
    """``diffusers`` on the shipped folder is the same UNet, in [-1, 1] instead of levels."""
    generic = genproto.registry.get("diffusers", path=str(shipped_folder()), scheduler="ddim",
                                    null_class=10, default_steps=10, device="cpu")
    floats = generic.sample(8, condition=3, seed=0)
    assert floats.shape == (8, 1, 8, 8)
    levels = model.sample(8, condition=3, seed=0, steps=10)
    assert torch.equal(model.to_events(floats), levels)


@pytest.mark.parametrize(("options", "evaluations"),
                         [({}, 50), ({"steps": 5}, 5), ({"steps": 7, "guidance": 2.0}, 7)])
def test_declared_cost_equals_counted(model: DigitsUNet, options: dict[str, object],
                                      evaluations: int) -> None:
    assert model.cost(**options).evaluations == evaluations
    assert model.sample_run(3, condition=2, seed=0, **options).evaluations_per_sample == evaluations


def test_other_initialisations_ship_no_weights() -> None:
    with pytest.raises(NoShippedWeights):
        genproto.registry.get("digits-unet", init_seed=1)
    fresh = genproto.registry.get("digits-unet", init_seed=1, pretrained=False, device="cpu")
    assert fresh.weights_sha256() != genproto.registry.get(  # type: ignore[attr-defined]
        "digits-unet", device="cpu").weights_sha256()  # type: ignore[attr-defined]


def test_training_contract() -> None:
    """train_step before setup is a typed error; steps are keyed and leave the global RNG alone."""
    check_training(lambda: genproto.registry.get("digits-unet", pretrained=False, device="cpu"))


def test_export_writes_a_folder_diffusers_and_genproto_both_read(model: DigitsUNet,
                                                                  tmp_path: Path) -> None:
    from genproto_diffusers.export import export

    checkpoint = model.save(tmp_path / "ckpt")
    folder = export(checkpoint, tmp_path / "exported")
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == (
        shipped_folder() / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    again = genproto.registry.get("diffusers", path=str(folder), scheduler="ddim",
                                  null_class=10, default_steps=4, device="cpu")
    assert again.sample(2, condition=1, seed=0).shape == (2, 1, 8, 8)


def test_guided_prediction_is_two_separate_calls_mixed(model: DigitsUNet) -> None:
    """The batched 2B-row call gives eps_u + w (eps_c - eps_u) of two separate calls."""
    x = torch.linspace(-1, 1, 4 * 64).reshape(4, 1, 8, 8)
    t, y = torch.tensor(500), torch.tensor([1, 2, 3, 4])
    with torch.no_grad():
        c = model.unet(x, t, class_labels=y).sample
        u = model.unet(x, t, class_labels=torch.full((4,), 10)).sample
        guided = model.predict(x, t, y, 2.0)
    torch.testing.assert_close(guided, u + 2.0 * (c - u), atol=1e-5, rtol=1e-5)
