"""Reading folders: both layouts, every unfit folder a typed error, no network, no pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from genproto_diffusers.loading import describe
from genproto_diffusers.tiny import save_tiny

import genproto
from genproto.errors import CheckpointError, CheckpointNotFoundError, OptionError
from genproto.protocol import ConditionKind, EventKind, Likelihood


def test_flat_and_pipeline_folders_are_read(class_dir: Path, uncond_dir: Path) -> None:
    flat = describe(class_dir)
    assert (flat.unet_class, flat.scheduler_class) == ("UNet2DModel", "DDPMScheduler")
    assert flat.shape == (1, 16, 16)
    assert flat.classes == 4
    piped = describe(uncond_dir)
    assert piped.unet_folder == uncond_dir.resolve() / "unet"
    assert (piped.shape, piped.classes, piped.scheduler_class) == ((3, 32, 32), None,
                                                                   "DDIMScheduler")


def test_declared_capabilities_follow_the_folder_and_the_options(
    class_dir: Path, uncond_dir: Path, embedding_dir: Path,
) -> None:
    reg = genproto.registry.default()
    caps = reg.entry("diffusers").capabilities_for(path=str(class_dir), null_class=3)
    assert caps.likelihood is Likelihood.NONE
    assert caps.event.kind is EventKind.CONTINUOUS
    assert caps.event.shape == (1, 16, 16)
    assert (caps.event.low, caps.event.high, caps.event.layout.value) == (-1.0, 1.0, "image")
    assert caps.condition is not None
    assert caps.condition.num_classes == 3
    assert caps.cost.evaluations == 50
    caps = reg.entry("diffusers").capabilities_for(path=str(uncond_dir), output="uint8",
                                                   default_steps=7)
    assert caps.condition is None
    assert caps.cost.evaluations == 7
    assert caps.event.kind is EventKind.DISCRETE
    assert caps.event.levels == 256
    assert caps.event.storage == torch.uint8
    caps = reg.entry("diffusers").capabilities_for(path=str(embedding_dir), embedding_length=2)
    assert caps.condition is not None
    assert caps.condition.kind is ConditionKind.VECTOR
    assert caps.condition.shape == (2, 8)


def test_missing_path_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="needs option 'path'"):
        genproto.registry.get("diffusers")
    with pytest.raises(CheckpointNotFoundError) as info:
        genproto.registry.get("diffusers", path=str(tmp_path / "nowhere"))
    assert isinstance(info.value, FileNotFoundError)


def test_a_folder_without_a_unet_config(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no config\.json"):
        genproto.registry.get("diffusers", path=str(tmp_path))


def test_a_model_that_is_not_a_unet_is_refused(tmp_path: Path) -> None:
    from diffusers import AutoencoderKL, DDPMScheduler

    AutoencoderKL(block_out_channels=(8,), norm_num_groups=4, latent_channels=2,
                  sample_size=8).save_pretrained(tmp_path)
    DDPMScheduler().save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="AutoencoderKL") as info:
        genproto.registry.get("diffusers", path=str(tmp_path))
    assert "UNet2DModel" in str(info.value)


def test_pickle_only_weights_are_refused_unread(tmp_path: Path, class_dir: Path) -> None:
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(str(class_dir), local_files_only=True)
    unet.save_pretrained(tmp_path, safe_serialization=False)
    shutil.copy(class_dir / "scheduler_config.json", tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.bin").is_file()
    with pytest.raises(CheckpointError, match="pickle weights only"):
        genproto.registry.get("diffusers", path=str(tmp_path))


def test_no_weights_and_no_scheduler(tmp_path: Path, class_dir: Path) -> None:
    shutil.copy(class_dir / "config.json", tmp_path)
    with pytest.raises(CheckpointError, match="has no weights"):
        genproto.registry.get("diffusers", path=str(tmp_path))
    shutil.copy(class_dir / "diffusion_pytorch_model.safetensors", tmp_path)
    with pytest.raises(CheckpointError, match="no scheduler config"):
        genproto.registry.get("diffusers", path=str(tmp_path))


def test_damaged_json_is_a_checkpoint_error(tmp_path: Path, class_dir: Path) -> None:
    folder = tmp_path / "damaged"
    shutil.copytree(class_dir, folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read"):
        genproto.registry.get("diffusers", path=str(folder))
    config = json.loads((class_dir / "config.json").read_text())
    config["sample_size"] = "big"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="sample_size"):
        genproto.registry.get("diffusers", path=str(folder))


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"scheduler": "NoSuchScheduler"}, "scheduler"),
        ({"scheduler": "UNet2DModel"}, "scheduler"),
        ({"null_class": 1}, "null_class"),
        ({"output": "png"}, "output"),
        ({"default_steps": 0}, "default_steps"),
        ({"default_steps": 5000}, "default_steps"),
    ],
)
def test_bad_factory_options_are_option_errors(
    class_dir: Path, options: dict[str, object], option: str,
) -> None:
    with pytest.raises(OptionError) as info:
        genproto.registry.get("diffusers", path=str(class_dir), **options)
    assert info.value.option == option


def test_null_class_on_an_unconditional_unet(uncond_dir: Path) -> None:
    with pytest.raises(OptionError, match="null_class"):
        genproto.registry.get("diffusers", path=str(uncond_dir), null_class=0)


def test_loading_never_needs_the_network(tmp_path: Path) -> None:
    """The folder is all there is: HF offline mode is on (conftest) and loading works."""
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    folder = save_tiny(tmp_path / "f", kind="unconditional")
    model = genproto.registry.get("diffusers", path=str(folder), default_steps=2, device="cpu")
    assert model.sample(2, seed=0).shape == (2, 1, 16, 16)
