"""Tiny GPT-2 and Llama folders built once per session (no hub: HF offline mode is set)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the libraries' own offline switches, before transformers is imported anywhere
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from genproto_transformers.tiny import save_tiny


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny("gpt2", tmp_path_factory.mktemp("gpt2"), scale=4.0)


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny("llama", tmp_path_factory.mktemp("llama"), scale=4.0)


@pytest.fixture(scope="session", params=["gpt2", "llama"])
def tiny_dir(request: pytest.FixtureRequest, gpt2_dir: Path, llama_dir: Path) -> Path:
    return gpt2_dir if request.param == "gpt2" else llama_dir
