"""Bare torch loops over every shipped model's own networks: the baseline of bench_models.py.

Issue 22, target 1: every shipped model configuration samples through the shared engine
(:func:`genproto.sampling.run`) at >= 0.97x the throughput of a loop a user would write by hand
over the same networks at batch 1,024, and >= 0.90x at batch 16. This package holds that
hand-written loop, one module per plugin (``bare/<module>.py``, each owned by the plugin's
maintainer), and the registry of configurations the benchmark and ``tests/test_bare_loops.py``
walk.

Each module defines ``bare_batch(model, streams, condition) -> Tensor``: the model's
``sample_batch`` with its default options written out directly over its networks and the same
keyed draws -- no engine, no validation, no output checks, no evaluation counting. It must give
the very samples ``model.sample(n, seed=s, batch_size=b, condition=c)`` gives (bitwise on CPU),
which the benchmark and the test check at small ``n``, so it stays honest when a plugin changes.
:func:`bare_run` is the loop around it, as :func:`genproto.sampling.iter_chunks` runs the
engine's: chunks of ``batch_size`` rows, ``KeyedStreams.for_range(seed, first, stop)`` per
chunk, ``torch.inference_mode``, the networks in eval mode.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch

from genproto import registry
from genproto.conditions import ConditionValues, check_condition
from genproto.model import Model
from genproto.protocol import ConditionKind
from genproto.streams import KeyedStreams

__all__ = ["CONFIGS", "Config", "bare_run", "condition_for", "installed", "load"]

BareBatch = Callable[[Model, KeyedStreams, Any], torch.Tensor]


@dataclass(frozen=True)
class Config:
    """One shipped model configuration: the registry name, its factory options, and the
    ``bare/<module>.py`` that writes its loop by hand."""

    model: str
    options: Mapping[str, Any] = field(default_factory=dict)
    module: str = ""

    @property
    def bare_module(self) -> str:
        return self.module or self.model

    @property
    def label(self) -> str:
        """``gan`` or ``gan dataset=grid25``: the row's name in the table."""
        opts = " ".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.model} {opts}".strip()


def _datasets(model: str, *datasets: str, module: str = "") -> tuple[Config, ...]:
    return tuple(Config(model, {} if d == "digits" else {"dataset": d}, module) for d in datasets)


#: Every configuration whose weights ship with a first-party plugin (``genproto list``, each
#: plugin's ``Shipped`` declarations), in the order the table prints them.
CONFIGS: tuple[Config, ...] = (
    *_datasets("gan", "digits", "grid25", "two_moons", "names"),
    *_datasets("vae", "digits", "grid25", "two_moons", "names"),
    *_datasets("flow", "digits", "eight_gaussians", "grid25", "two_moons"),
    *_datasets("ar", "digits", "grid25", "two_moons", "names"),
    *_datasets("diffusion", "digits", "eight_gaussians", "grid25", "two_moons", "names"),
    Config("latent_diffusion"),
    *_datasets("vdm", "digits", "grid25", "two_moons"),
    Config("digits-unet", module="diffusers"),
    Config("names", module="transformers"),
)


def installed(configs: Sequence[Config] = CONFIGS) -> list[tuple[Config, ModuleType | None, str]]:
    """``(config, bare module or None, why not)`` for each config whose model is installed.

    A config whose plugin is not installed is left out; one whose ``bare/<module>.py`` does not
    exist (yet) comes with ``None`` and the reason, so the benchmark prints a note, not a crash.
    """
    names = set(registry.names())
    out: list[tuple[Config, ModuleType | None, str]] = []
    for config in configs:
        if config.model not in names:
            continue
        try:
            module = importlib.import_module(f"{__name__}.{config.bare_module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{config.bare_module}":
                raise
            out.append((config, None, f"no benchmarks/bare/{config.bare_module}.py yet"))
            continue
        out.append((config, module, ""))
    return out


def load(config: Config) -> Model:
    """The configuration's model with its shipped weights, networks in eval mode."""
    model = registry.get(config.model, **config.options)
    if not isinstance(model, Model):
        raise TypeError(f"{config.label}: {type(model).__name__} is not a genproto Model")
    for net in model.networks().values():
        net.eval()
    return model


def condition_for(model: Model, n: int) -> Any:
    """The explicit condition the benchmark passes for ``n`` samples: every class in turn
    (``arange(n) % classes``) for a class-conditional model, the label names in turn for a
    text-prompted one, ``None`` for an unconditional one -- so neither loop draws classes."""
    spec = model.capabilities.condition
    if spec is None:
        return None
    if spec.kind is ConditionKind.CLASS:
        return torch.arange(n) % spec.num_classes
    if spec.kind is ConditionKind.TEXT:
        prompts = getattr(model, "prompts", None) or ("female", "male", "surname")
        return [prompts[i % len(prompts)] for i in range(n)]
    raise NotImplementedError(f"{model.name}: no benchmark condition for kind {spec.kind}")


def canonical(model: Model, condition: Any, n: int) -> ConditionValues | None:
    """``condition`` as ``sample_batch`` receives its rows (validated once, before timing)."""
    return check_condition(condition, n, model.capabilities.condition, model=model.name,
                           device=model.device)


def _rows(values: ConditionValues | None, start: int, stop: int) -> Any:
    if values is None:
        return None
    if isinstance(values, torch.Tensor):
        return values[start:stop]
    return list(values[start:stop])


def bare_run(model: Model, bare_batch: BareBatch, n: int, *, seed: int, batch_size: int,
             condition: ConditionValues | None) -> torch.Tensor:
    """``n`` samples by the hand-written loop: chunks, keyed streams, inference mode."""
    event = model.capabilities.event
    out = torch.empty((n, *event.shape), dtype=event.dtype, device=model.device)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            streams = KeyedStreams.for_range(seed, start, stop, device=model.device)
            out[start:stop] = bare_batch(model, streams, _rows(condition, start, stop))
    return out
