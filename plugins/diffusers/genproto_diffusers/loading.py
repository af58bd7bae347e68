"""Read a diffusers UNet and its scheduler from a local ``save_pretrained`` folder, offline.

Two layouts are read, both as diffusers writes them:

* a pipeline folder (``DDPMPipeline.save_pretrained(DIR)``): ``DIR/unet/config.json`` +
  ``DIR/unet/diffusion_pytorch_model.safetensors`` and ``DIR/scheduler/scheduler_config.json``;
* a flat folder: ``unet.save_pretrained(DIR)`` and ``scheduler.save_pretrained(DIR)`` into
  the same ``DIR`` (``config.json``, the weights, ``scheduler_config.json``).

Never the network: every ``from_pretrained`` passes ``local_files_only=True``, and the
weights must be safetensors (``use_safetensors=True``), because a pickle file
(``diffusion_pytorch_model.bin``) can run arbitrary code when read. Each way a folder can
be unfit -- no folder, no config, a model class other than ``UNet2DModel`` or
``UNet2DConditionModel``, pickle-only weights, no scheduler, a scheduler without ``step``
-- is a :class:`~genproto.errors.CheckpointError` (or
:class:`~genproto.errors.CheckpointNotFoundError`) naming the folder and the fix, raised
before diffusers gets to raise something of its own.

:func:`describe` reads only the JSON files: what the registry needs to declare the model's
capabilities without loading its weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from genproto.errors import CheckpointError, OptionError
from genproto.local_folder import local_folder, read_json_object, resolve_device

__all__ = [
    "SCHEDULERS",
    "UNET_CLASSES",
    "Description",
    "build_scheduler",
    "describe",
    "load_unet",
    "resolve_device",
]

UNET_CLASSES = ("UNet2DModel", "UNet2DConditionModel")
#: Short names of the schedulers the tests run; any diffusers scheduler class name works too.
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "dpm-solver": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
}
_WEIGHTS = "diffusion_pytorch_model.safetensors"
_PICKLE_WEIGHTS = ("diffusion_pytorch_model.bin", "diffusion_pytorch_model.bin.index.json")


@attrs.frozen
class Description:
    """What a folder declares, read from its JSON files only.

    Attributes:
        folder: the resolved folder given as ``path``.
        unet_folder: where the UNet's ``config.json`` and weights are.
        unet_class: ``"UNet2DModel"`` or ``"UNet2DConditionModel"``.
        unet_config: the UNet's config as saved.
        scheduler_class: the saved scheduler's class name.
        scheduler_config: the scheduler's config as saved.
        shape: one sample ``(C, H, W)``.
        classes: ``num_class_embeds`` of a class-conditional UNet2DModel, else ``None``.
        cross_attention_dim: the embedding width of a UNet2DConditionModel, else ``None``.
    """

    folder: Path
    unet_folder: Path
    unet_class: str
    unet_config: Mapping[str, Any]
    scheduler_class: str
    scheduler_config: Mapping[str, Any]
    shape: tuple[int, int, int]
    classes: int | None
    cross_attention_dim: int | None


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_object(path, fix="Re-save the UNet and scheduler with save_pretrained(DIR)")


def _int(config: Mapping[str, Any], key: str, default: int | None = None) -> int | None:
    value = config.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def describe(path: str | Path | None) -> Description:
    """Read a folder's declarations (no weights); typed errors for an unfit folder."""
    folder = local_folder(
        path, model="diffusers",
        contents=f"a UNet's config.json and {_WEIGHTS}, and scheduler_config.json; or a "
        "pipeline's unet/ and scheduler/",
        example="registry.get('diffusers', path='my-unet') or "
        "`genproto sample diffusers -M path=my-unet -o grid.png`",
        save="save the UNet and scheduler with unet.save_pretrained(DIR) and "
        "scheduler.save_pretrained(DIR)",
    )
    pipeline = (folder / "unet").is_dir()
    unet_folder = folder / "unet" if pipeline else folder
    scheduler_file = (folder / "scheduler" / "scheduler_config.json" if pipeline
                      else folder / "scheduler_config.json")
    config_file = unet_folder / "config.json"
    if not config_file.is_file():
        raise CheckpointError(
            f"{unet_folder} has no config.json", value=str(unet_folder),
            fix="Save the UNet with unet.save_pretrained(DIR)",
        )
    config = _read_json(config_file)
    unet_class = config.get("_class_name")
    if unet_class not in UNET_CLASSES:
        raise CheckpointError(
            f"{unet_folder} holds a {unet_class!r}, not a UNet genproto-diffusers drives",
            value=unet_class, allowed=" or ".join(UNET_CLASSES),
            fix="Point path at a UNet2DModel or UNet2DConditionModel folder (a VAE, "
            "transformer or controlnet is not a denoiser this adapter runs)",
        )
    _check_weights(unet_folder)
    if not scheduler_file.is_file():
        raise CheckpointError(
            f"{folder} has no scheduler config", value=str(scheduler_file),
            fix="Save the scheduler beside the UNet: scheduler.save_pretrained(DIR) "
            "(or the pipeline with pipeline.save_pretrained(DIR))",
        )
    scheduler = _read_json(scheduler_file)
    scheduler_class = scheduler.get("_class_name")
    if not isinstance(scheduler_class, str):
        raise CheckpointError(f"{scheduler_file}: _class_name", value=scheduler_class,
                              allowed="a diffusers scheduler class name",
                              fix="Re-save the scheduler with scheduler.save_pretrained(DIR)")
    channels, size = _int(config, "in_channels", 4), config.get("sample_size")
    if isinstance(size, int) and not isinstance(size, bool):
        height = width = size
    elif (isinstance(size, list) and len(size) == 2
          and all(isinstance(s, int) and not isinstance(s, bool) for s in size)):
        height, width = size
    else:
        raise CheckpointError(f"{config_file}: sample_size", value=size,
                              allowed="an int or [height, width]",
                              fix="Set sample_size in the UNet's config")
    if channels is None or channels < 1 or height < 1 or width < 1:
        raise CheckpointError(f"{config_file}: in_channels / sample_size",
                              value=(channels, height, width), allowed="positive ints",
                              fix="Re-save the UNet's config")
    classes = _int(config, "num_class_embeds")
    cross = config.get("cross_attention_dim") if unet_class == "UNet2DConditionModel" else None
    if unet_class == "UNet2DConditionModel":
        if not isinstance(cross, int) or isinstance(cross, bool):
            raise CheckpointError(
                f"{config_file}: cross_attention_dim", value=cross,
                allowed="one int (one embedding width for every block)",
                fix="Use a UNet2DConditionModel with a single cross_attention_dim",
            )
        if classes is not None or config.get("addition_embed_type") is not None:
            raise CheckpointError(
                f"{config_file}: class or added embeddings on a UNet2DConditionModel",
                value=classes if classes is not None else config.get("addition_embed_type"),
                allowed="cross-attention conditioning only",
                fix="Drive such a UNet with its own pipeline; genproto-diffusers conditions "
                "a UNet2DConditionModel on an embedding only",
            )
    elif config.get("class_embed_type") not in (None,) and classes is None:
        raise CheckpointError(
            f"{config_file}: class_embed_type {config.get('class_embed_type')!r}",
            value=config.get("class_embed_type"),
            allowed="num_class_embeds (a label embedding) or no class conditioning",
            fix="Use class_embed_type=None with num_class_embeds=N",
        )
    return Description(
        folder=folder, unet_folder=unet_folder, unet_class=str(unet_class),
        unet_config=config, scheduler_class=scheduler_class, scheduler_config=scheduler,
        shape=(channels, height, width), classes=classes,
        cross_attention_dim=cross if isinstance(cross, int) else None,
    )


def _check_weights(folder: Path) -> None:
    if (folder / _WEIGHTS).is_file() or any(folder.glob("*.safetensors")):
        return
    pickled = [name for name in _PICKLE_WEIGHTS if (folder / name).is_file()]
    if pickled:
        raise CheckpointError(
            f"{folder} holds pickle weights only ({', '.join(pickled)})", value=pickled[0],
            allowed=f"safetensors weights ({_WEIGHTS})",
            fix="Convert once, from a trusted copy: UNet2DModel.from_pretrained(DIR)"
            ".save_pretrained(DIR) writes safetensors (reading pickle can run code, so "
            "genproto never does)",
        )
    raise CheckpointError(f"{folder} has no weights", value=str(folder), allowed=_WEIGHTS,
                          fix="Save the UNet with unet.save_pretrained(DIR)")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """diffusers' progress bars and info logs off while loading, then as they were."""
    from diffusers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        logging.enable_progress_bar()


def build_scheduler(description: Description, scheduler: str) -> Any:
    """The scheduler to sample with: ``"saved"`` (the folder's own class), a short name of
    :data:`SCHEDULERS` or any diffusers scheduler class name, built from the saved config
    (so the training schedule -- betas, timesteps, prediction type -- carries over)."""
    import diffusers

    name = description.scheduler_class if scheduler == "saved" else SCHEDULERS.get(
        scheduler, scheduler)
    cls: Any = getattr(diffusers, name, None)
    if (not isinstance(cls, type) or not callable(getattr(cls, "step", None))
            or not callable(getattr(cls, "from_config", None))
            or not callable(getattr(cls, "set_timesteps", None))):
        where = "the folder's scheduler_config.json" if scheduler == "saved" else "scheduler"
        raise OptionError(
            f"{where} names {name!r}, not a diffusers scheduler with step()", option="scheduler",
            value=scheduler,
            allowed=f"'saved', {', '.join(repr(s) for s in SCHEDULERS)} or a diffusers "
            "scheduler class name (e.g. 'EulerAncestralDiscreteScheduler')",
            fix="Pass scheduler='ddim' (or another listed name)",
        )
    made: Any = cls
    with quiet():
        return made.from_config(dict(description.scheduler_config))


def load_unet(description: Description, *, pretrained: bool = True, init_seed: int = 0) -> Any:
    """The UNet of a described folder, in eval mode on the CPU, offline.

    ``pretrained=False`` builds the folder's architecture with fresh weights instead
    (initialised under ``seeded_init(init_seed)``: reproducible, global RNG untouched).
    """
    import diffusers

    from genproto.training import seeded_init

    cls = getattr(diffusers, description.unet_class)
    try:
        with quiet():
            if pretrained:
                unet = cls.from_pretrained(str(description.unet_folder), local_files_only=True,
                                           use_safetensors=True)
            else:
                with seeded_init(init_seed):
                    unet = cls.from_config(dict(description.unet_config))
    except Exception as exc:  # diffusers raises many types for an unreadable folder
        raise CheckpointError(
            f"cannot load the UNet in {description.unet_folder}: {type(exc).__name__}: {exc}",
            fix="Re-save it with unet.save_pretrained(DIR) (safetensors)",
        ) from None
    unet.eval()
    return unet
