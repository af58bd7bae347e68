"""``digits-unet``: a small class-conditional diffusers UNet2DModel trained on the 8x8 digits.

The model is an ordinary diffusers ``UNet2DModel`` (two resolution levels, 8x8 and 4x4,
one ResNet block each, ``num_class_embeds=11``: the ten digits and a null label for
classifier-free guidance) with a ``DDPMScheduler`` (cosine schedule, ``squaredcos_cap_v2``,
1000 steps: Nichol & Dhariwal 2021, eq. 17), saved in diffusers format in
``weights/digits-unet`` -- any diffusers user can load it with
``UNet2DModel.from_pretrained(DIR, subfolder="unet")`` -- and wrapped by
:class:`~genproto_diffusers.model.DiffusersModel` like any other folder. It samples with DDIM
(Song et al. 2021) at K = 50 steps by default, as the native ``diffusion`` model does.

**Data.** The digits' 17 levels ``0..16`` are scaled to ``[-1, 1]`` (``x = level / 8 - 1``)
on their own 8x8 grid (no padding: two UNet levels fit 8x8); samples are mapped back by
``round((x + 1) * 8)`` clamped to ``0..16``.

**Training** (``genproto train digits-unet -o DIR``): diffusers' own recipe -- ``t`` uniform
in ``0..999``, ``x_t = scheduler.add_noise(x_0, eps, t)``, the noise-prediction MSE of Ho et
al. 2020 (eq. 14), labels dropped to the null class 10% of the time (Ho & Salimans 2022) --
with every random number (``t``, ``eps``, the dropout) from the examples' keyed streams, and
AdamW with warm-up and cosine decay. ``python -m genproto_diffusers.export DIR/model FOLDER``
writes the result in diffusers format; that is how ``weights/digits-unet`` was made.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor

from genproto.data import load_digits
from genproto.data.dataset import Dataset
from genproto.errors import CheckpointError
from genproto.protocol import BatchTolerance, Capabilities, ConditionSpec, EventSpace
from genproto.training import Batch, TrainSettings, require_setup, warmup_cosine
from genproto_diffusers.model import DiffusersModel, capabilities

__all__ = ["CLASSES", "DigitsUNet", "digits_capabilities", "shipped_folder", "unet_config",
           "write_untrained"]

CLASSES = 10  # digit classes; embedding 10 is the null label
LABEL_DROPOUT = 0.1
DEFAULT_GUIDANCE = 1.0
#: Measured share of samples whose 17-level image changes between batch sizes (CPU, K = 50),
#: with margin (docs/plugins/diffusers.md).
DIGITS_FLIP_FRACTION = 0.02


def unet_config() -> dict[str, Any]:
    """The architecture: 8x8 -> 4x4, widths 32 and 64, one ResNet block a level."""
    return {
        "sample_size": 8, "in_channels": 1, "out_channels": 1, "layers_per_block": 1,
        "block_out_channels": (32, 64), "down_block_types": ("DownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "UpBlock2D"), "num_class_embeds": CLASSES + 1,
        "norm_num_groups": 8,
    }


def scheduler_config() -> dict[str, Any]:
    """The training schedule: DDPM, cosine betas, 1000 steps, epsilon prediction."""
    return {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2",
            "prediction_type": "epsilon", "clip_sample": True, "clip_sample_range": 1.0}


def shipped_folder() -> Path:
    """The diffusers folder inside this package holding the trained UNet and scheduler."""
    return Path(str(resources.files("genproto_diffusers").joinpath("weights", "digits-unet")))


def write_untrained(folder: str | Path, *, init_seed: int = 0) -> Path:
    """Write the architecture with a fresh initialisation and the scheduler (pipeline
    layout: ``unet/`` and ``scheduler/``) to ``folder``."""
    import diffusers

    from genproto.training import seeded_init

    lib: Any = diffusers
    folder = Path(folder)
    with seeded_init(init_seed):
        unet = lib.UNet2DModel(**unet_config())
    unet.save_pretrained(folder / "unet")
    lib.DDPMScheduler(**scheduler_config()).save_pretrained(folder / "scheduler")
    return folder


@functools.cache
def _architecture_folder() -> Path:
    """A folder with the architecture's JSON (the shipped one; the code's when absent)."""
    shipped = shipped_folder()
    if (shipped / "unet" / "config.json").is_file():
        return shipped
    import tempfile

    return write_untrained(Path(tempfile.mkdtemp(prefix="genproto-digits-unet-")))


def digits_capabilities(scheduler: str = "ddim", default_steps: int = 50) -> Capabilities:
    """17-level 8x8 digits, class-conditional, the folder's cost for these options."""
    base = capabilities(str(_architecture_folder()), scheduler, "float", CLASSES,
                        default_steps)
    return attrs.evolve(
        base,
        event=EventSpace.discrete((8, 8), 17, layout="image"),
        condition=ConditionSpec(CLASSES, "digit class"),
        objective="noise-prediction MSE (Ho et al. 2020) with diffusers' DDPMScheduler, "
        "cosine schedule, label dropout for classifier-free guidance",
        batch_tolerance=BatchTolerance(flip_fraction=DIGITS_FLIP_FRACTION),
    )


class DigitsUNet(DiffusersModel):
    """The shipped ``digits-unet``: :class:`DiffusersModel` over ``weights/digits-unet``.

    The registry loads the shipped weights (``pretrained=True``, through
    :meth:`load_packaged_weights`, which reads the diffusers folder); ``pretrained=False``
    is the fresh initialisation ``genproto train digits-unet`` starts from.
    """

    def __init__(self, *, scheduler: str = "ddim", default_steps: int = 50,
                 init_seed: int = 0, device: str = "auto") -> None:
        super().__init__(
            path=str(_architecture_folder()), scheduler=scheduler, output="float",
            null_class=CLASSES, default_steps=default_steps, device=device, name="digits-unet",
            pretrained=False, init_seed=init_seed,
            caps=digits_capabilities(scheduler, default_steps),
        )
        self.sample_options = tuple(
            attrs.evolve(o, default=DEFAULT_GUIDANCE) if o.name == "guidance" else o
            for o in self.sample_options
        )
        self._train_scheduler: Any = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._settings: TrainSettings | None = None

    def load_packaged_weights(self, package: str, *parts: str) -> None:
        """Read the UNet's safetensors from the diffusers folder ``package/parts/unet``."""
        from safetensors.torch import load_file

        from genproto.checkpoint import check_tensors_fit

        with resources.as_file(resources.files(package).joinpath(*parts)) as folder:
            path = Path(folder) / "unet" / "diffusion_pytorch_model.safetensors"
            if not path.is_file():
                raise CheckpointError(f"no shipped weights at {path}",
                                      fix="Reinstall genproto-diffusers")
            tensors = {f"unet.{k}": v for k, v in load_file(str(path)).items()}
        check_tensors_fit(tensors, self.state_tensors(), model=self.name)
        self.load_state_tensors(tensors)

    # -- events <-> the UNet's space -----------------------------------------------------

    def to_model_space(self, x: Tensor) -> Tensor:
        """Levels ``0..16`` ``(B, 8, 8)`` to ``[-1, 1]`` ``(B, 1, 8, 8)``."""
        return (x.float() / 8.0 - 1.0).reshape(-1, 1, 8, 8).to(self.device)

    def to_events(self, x: Tensor) -> Tensor:
        return torch.round((x.reshape(-1, 8, 8) + 1.0) * 8.0).clamp(0, 16).long()  # (B, 8, 8)

    # -- genproto.training.Trainable -------------------------------------------------------

    def training_data(self) -> Dataset:
        return load_digits("train")

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=6000, batch_size=128, lr=2e-3, seed=0, save_every=2000,
                             report_every=2000)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        import diffusers

        lib: Any = diffusers
        self._train_scheduler = lib.DDPMScheduler.from_config(dict(self.scheduler.config))
        self.unet.train()
        self._optimizer = torch.optim.AdamW(self.unet.parameters(), lr=settings.lr,
                                            weight_decay=0.0)
        self._settings = settings
        return {"adamw": self._optimizer}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizer = require_setup(self._optimizer, model=self.name)
        settings = require_setup(self._settings, model=self.name)
        noiser = require_setup(self._train_scheduler, model=self.name)
        x0 = self.to_model_space(batch.x)  # (B, 1, 8, 8)
        b = x0.shape[0]
        # 1. t ~ U{0..999}, eps ~ N(0, I), label dropout: all from the examples' streams.
        t = batch.streams.randint(int(noiser.config.num_train_timesteps)).reshape(b)
        eps = batch.streams.normal(1, 8, 8).to(x0)
        y = batch.y if batch.y is not None else torch.full((b,), CLASSES)
        drop = batch.streams.uniform().reshape(b) < LABEL_DROPOUT
        y = torch.where(drop, torch.full_like(y, CLASSES), y).to(self.device)
        # 2. x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (Ho et al. eq. 4), diffusers' add_noise.
        xt = noiser.add_noise(x0, eps, t.to(self.device))
        # 3. L_simple = ||eps - eps_theta(x_t, t, y)||^2 (Ho et al. eq. 14).
        self.unet.train()
        pred = self.unet(xt, t.to(self.device), class_labels=y, return_dict=False)[0]
        loss = F.mse_loss(pred, eps)
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps, warmup=200)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimizer.step()
        return {"loss": float(loss.detach()), "lr": lr}

    def training_report(self) -> Mapping[str, float]:
        from genproto.metrics import conditional_accuracy

        was_training = self.unet.training
        labels = torch.arange(200) % CLASSES
        samples = self.sample(200, condition=labels, seed=0, steps=20)
        self.unet.train(was_training)
        return {"accuracy@20": conditional_accuracy(samples, labels)}
