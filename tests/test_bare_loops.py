"""The bare loops of benchmarks/bench_models.py give the engine's samples, bit for bit.

bench_models.py times ``genproto.sampling.run`` against a hand-written loop over each shipped
model's networks (``benchmarks/bare/``); the ratio only means something if both compute the
same samples. For every installed configuration whose bare module exists, at a small ``n``,
two batch sizes and two seeds, the bare loop must equal ``model.sample`` exactly. Models of
many network calls a sample (50 steps, 64 tokens) are marked slow.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import bare

pytestmark = pytest.mark.usefixtures("one_thread")

N = 11
#: Configurations whose sampling takes many network calls: seconds each, so marked slow.
SLOW = {"ar", "diffusion", "latent_diffusion", "digits-unet", "names"}


@functools.cache
def _installed() -> dict[str, tuple[ModuleType | None, str]]:
    """Bare module (or None and why) by config label, for the installed models."""
    return {config.label: (module, why) for config, module, why in bare.installed()}


def _param(config: bare.Config) -> object:
    marks = [pytest.mark.slow] if config.model in SLOW else []
    return pytest.param(config, id=config.label.replace(" ", "-"), marks=marks)


@pytest.mark.parametrize("config", [_param(c) for c in bare.CONFIGS])
def test_bare_loop_gives_the_engines_samples(config: bare.Config) -> None:
    if config.label not in _installed():
        pytest.skip(f"{config.model} is not installed")
    module, why = _installed()[config.label]
    if module is None:
        pytest.skip(why)
    model = bare.load(config)
    condition = bare.condition_for(model, N)
    values = bare.canonical(model, condition, N)
    for seed, batch_size in ((0, 4), (7, N)):
        mine = bare.bare_run(model, module.bare_batch, N, seed=seed, batch_size=batch_size,
                             condition=values)
        engine = model.sample(N, seed=seed, batch_size=batch_size, condition=condition)
        assert mine.dtype == engine.dtype
        assert mine.shape == engine.shape
        assert torch.equal(mine, engine), (config.label, seed, batch_size)


def test_every_shipped_registration_has_a_config() -> None:
    # a plugin that ships new weights must get a row in the benchmark's table
    from genproto import registry

    listed = {(c.model, c.options.get("dataset")) for c in bare.CONFIGS}
    for entry in registry.entries():
        for shipped in entry.shipped:
            dataset = shipped.options.get("dataset")
            key = (entry.name, None if dataset == "digits" else dataset)
            assert key in listed, f"{entry.name} {dict(shipped.options)} is not in bare.CONFIGS"
