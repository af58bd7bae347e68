"""Tiny random UNets saved like real ones: for tests and benchmarks, offline, in a second.

``save_tiny(folder, channels=1, size=16, kind="class")`` writes a randomly initialised
two-level ``UNet2DModel`` (``kind="unconditional"`` or ``"class"``, the latter with a null
class embedding) or a ``UNet2DConditionModel`` (``kind="embedding"``) and a scheduler with
``save_pretrained``, exactly the files a hub folder has, so
``registry.get("diffusers", path=folder)`` runs the same code on it as on a downloaded one.
The weights come from ``seeded_init(seed)`` (reproducible; the global RNG is untouched).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

__all__ = ["KINDS", "save_tiny"]

KINDS = ("unconditional", "class", "embedding")
CLASSES = 3  # class-conditional tiny UNets: labels 0..2 and the null label 3
CROSS_DIM = 8


def _unet(kind: str, channels: int, size: int) -> Any:
    import diffusers

    lib: Any = diffusers
    if kind == "embedding":
        return lib.UNet2DConditionModel(
            sample_size=size, in_channels=channels, out_channels=channels, layers_per_block=1,
            block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=CROSS_DIM,
            attention_head_dim=4, norm_num_groups=4,
        )
    return lib.UNet2DModel(
        sample_size=size, in_channels=channels, out_channels=channels, layers_per_block=1,
        block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4,
        num_class_embeds=CLASSES + 1 if kind == "class" else None,
    )


def save_tiny(
    folder: str | Path, *, channels: int = 1, size: int = 16,
    kind: Literal["unconditional", "class", "embedding"] = "class",
    scheduler: str = "DDPMScheduler", seed: int = 0, pipeline: bool = False,
) -> Path:
    """Save a random UNet of ``kind`` on ``channels x size x size`` and ``scheduler``.

    ``pipeline=True`` writes ``unet/`` and ``scheduler/`` subfolders, as a pipeline's
    ``save_pretrained`` does; otherwise both go into ``folder`` itself.
    """
    import diffusers
    import torch

    from genproto.training import seeded_init

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    with seeded_init(seed):
        unet = _unet(kind, channels, size)
        # A random UNet's output barely depends on its class; sharpen the embedding so a
        # class changes the samples visibly (tests of conditioning need that).
        if kind == "class":
            with torch.no_grad():
                unet.class_embedding.weight.mul_(10.0)
    sched = getattr(diffusers, scheduler)(num_train_timesteps=1000,
                                          beta_schedule="squaredcos_cap_v2")
    folder = Path(folder)
    unet.save_pretrained(folder / "unet" if pipeline else folder)
    sched.save_pretrained(folder / "scheduler" if pipeline else folder)
    return folder
