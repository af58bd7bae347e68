"""The shared training loop behind ``genproto train``: seeded, resumable, with progress.

A plugin's model becomes trainable by implementing :class:`Trainable`: it
builds its optimisers, says what data it learns from, and performs one
optimisation step of its *own paradigm's objective* (cross-entropy, ELBO,
the adversarial game, noise-prediction MSE). This module does the rest, once:

* batches drawn from a per-epoch permutation seeded by ``(seed, epoch)``, and
  per-example randomness (noise, timesteps, latents, dropout of labels) from
  keyed streams of ``(seed, global example number)`` — so a run is determined
  by its seed and a resumed run continues exactly where it stopped;
* a tqdm progress bar with the step's losses;
* periodic and final checkpoints in ``DIR``: the model as a checkpoint in
  ``DIR/model`` (:mod:`genproto.checkpoint`; ``genproto.load(DIR/model)``
  reads it) and the optimiser states and step counter in
  ``DIR/training.safetensors`` and ``DIR/training.json`` (no pickle), so
  ``--resume`` can continue;
* the global RNGs are never touched (network initialisation uses
  :func:`seeded_init`, which forks and restores them).

Two small helpers every plugin's ``train_step`` shares: :func:`warmup_cosine`,
the learning-rate schedule, and :func:`require_setup`, the one way to refuse a
step before ``setup_training`` (:class:`~genproto.errors.TrainingNotSetUp`).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs
import torch
from safetensors.torch import load_file, save

from genproto._atomic import atomic_write_bytes
from genproto.data.dataset import Dataset
from genproto.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    InvalidArgumentError,
    TrainingNotSetUp,
)
from genproto.streams import KeyedStreams
from genproto.validation import check_seed

__all__ = [
    "Batch",
    "TrainResult",
    "TrainSettings",
    "Trainable",
    "fit",
    "require_setup",
    "seeded_init",
    "warmup_cosine",
]

STATE_TENSORS = "training.safetensors"
STATE_JSON = "training.json"
MODEL_DIR = "model"


@contextlib.contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Run network construction with torch's CPU RNG seeded, then restore its state.

    ``nn.Linear`` and friends initialise from the global generator; this makes
    that deterministic without leaving the global state changed for the caller.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def warmup_cosine(
    step: int,
    *,
    peak: float,
    total: int,
    warmup: int = 0,
    floor: float = 0.0,
    cosine_from: int | None = None,
) -> float:
    """The learning rate at ``step`` (0-based): linear warm-up, then cosine decay.

    Linear warm-up over the first ``warmup`` steps (Goyal et al. 2017, "Accurate, Large
    Minibatch SGD", section 2.2: ``peak * (step + 1) / warmup``), then the cosine
    annealing of Loshchilov & Hutter 2017 ("SGDR", eq. 5, without restarts) from
    ``peak`` down to ``floor * peak`` at ``total``::

        progress = min(1, (step - cosine_from) / max(1, total - cosine_from))
        lr = peak * (floor + (1 - floor) * 0.5 * (1 + cos(pi * progress)))

    ``cosine_from`` is where the cosine's phase starts: by default where the warm-up
    ends (the decay spans the rest of the run); ``0`` puts the whole run on one cosine,
    which the warm-up then overrides at the start.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    start = warmup if cosine_from is None else cosine_from
    progress = min(1.0, (step - start) / max(1, total - start))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


_State = TypeVar("_State")


def require_setup(state: _State | None, *, model: str) -> _State:
    """``state`` (an optimiser, the settings ...) as built by ``setup_training``.

    Raises:
        TrainingNotSetUp: ``state`` is still ``None``: ``train_step`` came first.
    """
    if state is None:
        raise TrainingNotSetUp(model)
    return state


def _positive_int(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"training setting {attribute.name!r}", value=value,
                                   allowed="an int >= 1")


def _positive_float(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidArgumentError(f"training setting {attribute.name!r}", value=value,
                                   allowed="a number > 0")


@attrs.frozen
class TrainSettings:
    """How long and how fast to train; each model declares its defaults."""

    steps: int = attrs.field(validator=_positive_int)
    batch_size: int = attrs.field(default=128, validator=_positive_int)
    lr: float = attrs.field(default=1e-3, validator=_positive_float)
    seed: int = attrs.field(default=0, converter=check_seed)
    save_every: int = attrs.field(default=1000, validator=_positive_int)
    report_every: int = attrs.field(default=500, validator=_positive_int)


@attrs.frozen
class Batch:
    """One training batch: data, labels, and the keyed streams of its examples."""

    x: torch.Tensor
    y: torch.Tensor | None
    streams: KeyedStreams
    step: int


@runtime_checkable
class Trainable(Protocol):
    """What a model implements to be trained by :func:`fit`.

    ``name``, ``device``, ``save`` and ``load_state_tensors`` come with
    :class:`genproto.Model`; the other five are the plugin's.
    """

    @property
    def name(self) -> str: ...

    @property
    def device(self) -> torch.device: ...

    def save(self, directory: str | Path, *, metadata: Mapping[str, str] | None = None) -> Path:
        ...

    def load_state_tensors(self, tensors: Mapping[str, torch.Tensor]) -> None: ...

    def training_data(self) -> Dataset:
        """The data set this configuration learns from (e.g. the digits train split)."""
        ...

    def training_defaults(self) -> TrainSettings:
        """Default settings that reproduce the shipped weights."""
        ...

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        """Build (and keep) the optimisers; put networks in train mode."""
        ...

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        """One optimisation step of the paradigm's objective; returns named losses."""
        ...

    def training_report(self) -> Mapping[str, float]:
        """Quality figures worth printing every ``report_every`` steps (may be empty)."""
        ...


@attrs.frozen
class TrainResult:
    """What a training run did."""

    directory: Path
    steps: int
    resumed_from: int
    seconds: float
    last_losses: Mapping[str, float]
    reports: tuple[tuple[int, Mapping[str, float]], ...]


def _permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63 - 1))
    return torch.randperm(n, generator=gen)


def _flatten_optimizers(
    optimizers: Mapping[str, torch.optim.Optimizer],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for name, opt in optimizers.items():
        state = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, entry in state["state"].items():
            for key, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{name}.{index}.{key}"] = value.detach().to("cpu").contiguous()
                else:
                    scalars.setdefault(str(index), {})[key] = value
        meta[name] = {"param_groups": state["param_groups"], "scalars": scalars}
    return tensors, meta


def _restore_optimizers(
    optimizers: Mapping[str, torch.optim.Optimizer],
    tensors: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
) -> None:
    for name, opt in optimizers.items():
        if name not in meta:
            raise CheckpointError(f"training state has no optimiser {name!r}",
                                  fix="Resume with the same model options")
        state: dict[int, dict[str, Any]] = {}
        prefix = f"{name}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, field = key[len(prefix):].split(".", 1)
                state.setdefault(int(index), {})[field] = value
        for index, scalars in meta[name]["scalars"].items():
            state.setdefault(int(index), {}).update(scalars)
        opt.load_state_dict({"state": state, "param_groups": meta[name]["param_groups"]})


def _save_state(
    directory: Path, step: int, settings: TrainSettings,
    optimizers: Mapping[str, torch.optim.Optimizer],
) -> None:
    tensors, meta = _flatten_optimizers(optimizers)
    atomic_write_bytes(directory / STATE_TENSORS, save(tensors))
    state = {"step": step, "settings": attrs.asdict(settings), "optimizers": meta}
    atomic_write_bytes(directory / STATE_JSON, json.dumps(state, indent=1).encode())


def fit(
    model: Any,
    directory: str | Path,
    *,
    settings: TrainSettings | None = None,
    resume: bool = False,
    progress: bool | None = None,
    log: Any = None,
) -> TrainResult:
    """Train ``model`` (a :class:`Trainable` genproto ``Model``), saving into ``directory``.

    With ``resume=True`` the model weights, optimiser states and step counter
    are read back from ``directory`` and training continues to ``settings.steps``;
    the result is the same as an uninterrupted run with the same seed.
    """
    if not isinstance(model, Trainable):
        raise InvalidArgumentError(
            f"model {getattr(model, 'name', model)!r} cannot be trained by genproto",
            allowed="a model implementing genproto.training.Trainable",
        )
    from genproto.checkpoint import read_checkpoint

    settings = settings or model.training_defaults()
    out = Path(directory)
    optimizers = model.setup_training(settings)
    start = 0
    if resume:
        if not (out / STATE_JSON).exists():
            raise CheckpointNotFoundError(
                f"no training state to resume in {out}", allowed=f"a folder holding {STATE_JSON}",
                fix="Train without --resume first",
            )
        _, weights = read_checkpoint(out / MODEL_DIR)
        model.load_state_tensors(weights)
        meta = json.loads((out / STATE_JSON).read_text())
        _restore_optimizers(optimizers, load_file(str(out / STATE_TENSORS)), meta["optimizers"])
        start = int(meta["step"])
    data = model.training_data()
    n = len(data)
    per_epoch = max(1, n // settings.batch_size)
    device = model.device
    say = log or (lambda text: print(text, file=sys.stderr))
    if progress is None:
        progress = sys.stderr.isatty()
    from tqdm.auto import tqdm

    began = time.perf_counter()
    losses: Mapping[str, float] = {}
    reports: list[tuple[int, Mapping[str, float]]] = []
    out.mkdir(parents=True, exist_ok=True)
    with tqdm(total=settings.steps, initial=start, disable=not progress, desc=model.name,
              unit="step") as bar:
        for step in range(start, settings.steps):
            epoch, within = divmod(step, per_epoch)
            order = _permutation(settings.seed, epoch, n)
            rows = order[within * settings.batch_size:(within + 1) * settings.batch_size]
            first = step * settings.batch_size
            streams = KeyedStreams.for_range(settings.seed, first, first + len(rows),
                                             device=device)
            batch = Batch(
                data.x[rows].to(device),
                None if data.y is None else data.y[rows].to(device),
                streams,
                step,
            )
            losses = model.train_step(batch)
            bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
            bar.update(1)
            done = step + 1
            if done % settings.report_every == 0 or done == settings.steps:
                report = dict(model.training_report())
                reports.append((done, report))
                shown = ", ".join(f"{k}={v:.4g}" for k, v in {**losses, **report}.items())
                say(f"step {done}/{settings.steps}: {shown}")
            if done % settings.save_every == 0 or done == settings.steps:
                meta = {"seed": str(settings.seed), "steps": str(done)}
                model.save(out / MODEL_DIR, metadata=meta)
                _save_state(out, done, settings, optimizers)
    return TrainResult(out, settings.steps, start, time.perf_counter() - began, losses,
                       tuple(reports))
