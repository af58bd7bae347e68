"""Tiny random UNet folders built once per session (no hub: HF offline mode is set)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the libraries' own offline switches, before diffusers is imported anywhere
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["DIFFUSERS_OFFLINE"] = "1"

from genproto_diffusers.tiny import save_tiny


@pytest.fixture(scope="session")
def class_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1x16x16, class-conditional (labels 0..2, null label 3), DDPM scheduler."""
    return save_tiny(tmp_path_factory.mktemp("class"), kind="class")


@pytest.fixture(scope="session")
def uncond_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3x32x32, unconditional, DDIM scheduler, pipeline layout (unet/, scheduler/)."""
    return save_tiny(tmp_path_factory.mktemp("uncond"), channels=3, size=32,
                     kind="unconditional", scheduler="DDIMScheduler", pipeline=True)


@pytest.fixture(scope="session")
def embedding_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1x16x16 UNet2DConditionModel (an 8-wide embedding), DDPM scheduler."""
    return save_tiny(tmp_path_factory.mktemp("embedding"), kind="embedding")
