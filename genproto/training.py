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
* periodic and final saves in ``DIR``: the training state — step, settings, model
  weights and optimiser states — as ONE file, ``DIR/training-state.safetensors``
  (no pickle; the JSON parts in its metadata), written atomically, so a kill at any
  moment leaves the old step or the new one, never a mix; then the model as a
  checkpoint in ``DIR/model`` (:mod:`genproto.checkpoint`; ``genproto.load(DIR/model)``
  reads it). ``--resume`` reads only the state file, validating every field and
  tensor against the model and its optimisers (:class:`~genproto.errors.CheckpointError`
  naming what is damaged), and continues exactly; a state of the older two-file layout
  (``training.json`` + ``training.safetensors`` beside ``DIR/model``) is still read;
* a step whose loss is NaN or infinite stops the run with
  :class:`~genproto.errors.TrainingDiverged` before anything is saved, and so do
  non-finite weights at a save;
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
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from genproto._atomic import atomic_write_bytes, check_target
from genproto.data.dataset import Dataset
from genproto.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    InvalidArgumentError,
    TrainingDiverged,
    TrainingNotSetUp,
)
from genproto.streams import KeyedStreams
from genproto.validation import check_seed

__all__ = [
    "Batch",
    "TrainResult",
    "TrainSettings",
    "Trainable",
    "TrainingState",
    "fit",
    "held_out_bits_per_dim",
    "read_state",
    "require_setup",
    "seeded_init",
    "transformer_adamw",
    "warmup_cosine",
]

STATE_FILE = "training-state.safetensors"
#: The older two-file layout of the training state, still read by ``--resume``.
STATE_TENSORS = "training.safetensors"
STATE_JSON = "training.json"
MODEL_DIR = "model"
_META_KEY = "genproto.training"
_MAX_META_BYTES = 4 * 2**20


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


def held_out_bits_per_dim(model: Any, data: Dataset, *, seed: int = 0) -> float:
    """``-mean(log_likelihood) / (D ln 2)`` of ``model`` on held-out ``data`` (with its labels):
    the bits per dimension a training report prints for a model with a likelihood."""
    nats = model.log_likelihood(data.x, data.y, seed=seed)
    return float(-nats.mean()) / (data.x[0].numel() * math.log(2))


def transformer_adamw(module: torch.nn.Module, *, lr: float, weight_decay: float = 0.1
                      ) -> torch.optim.AdamW:
    """AdamW as GPT-style transformers are trained: betas (0.9, 0.95), weight decay on the
    matrices only (weights of dimension >= 2), none on biases, norms' gains and other vectors
    (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"; Radford et al. 2019).
    Two parameter groups, decayed first, each in ``module.parameters()`` order."""
    decay = [p for p in module.parameters() if p.dim() >= 2]
    rest = [p for p in module.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=lr, betas=(0.9, 0.95),
    )


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
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 \
            or not math.isfinite(value):
        raise InvalidArgumentError(f"training setting {attribute.name!r}", value=value,
                                   allowed="a finite number > 0")


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

    def state_tensors(self) -> dict[str, torch.Tensor]: ...

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


@attrs.frozen
class TrainingState:
    """What ``--resume`` continues from, read back by :func:`read_state`."""

    step: int
    settings: Mapping[str, Any]
    model: Mapping[str, torch.Tensor]
    optimizer_tensors: Mapping[str, torch.Tensor]
    optimizer_meta: Mapping[str, Any]


def _damaged(path: Path, what: str, value: Any = None) -> CheckpointError:
    return CheckpointError(
        f"training state {path} is damaged: {what}",
        value=value,
        allowed="a state written by genproto train for this model and options",
        fix=f"Delete {path.name} (and {MODEL_DIR}/) in {path.parent} and train without --resume",
    )


def _save_state(
    directory: Path, step: int, settings: TrainSettings, model: Any,
    optimizers: Mapping[str, torch.optim.Optimizer],
) -> None:
    """Step, settings, weights and optimiser states as one file, renamed into place."""
    tensors, meta = _flatten_optimizers(optimizers)
    weights = {k: v.detach().to("cpu").contiguous() for k, v in model.state_tensors().items()}
    everything = {**{f"model/{k}": v for k, v in weights.items()},
                  **{f"optim/{k}": v for k, v in tensors.items()}}
    info = {"format": 1, "step": step, "settings": attrs.asdict(settings), "optimizers": meta}
    blob = save(everything, metadata={_META_KEY: json.dumps(info)})
    atomic_write_bytes(directory / STATE_FILE, blob)


def _json(text: str, path: Path) -> Any:
    if len(text) > _MAX_META_BYTES:
        raise _damaged(path, f"its JSON has {len(text)} characters (at most {_MAX_META_BYTES})")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError; too deep; too many digits
        raise _damaged(path, f"its JSON does not parse ({type(exc).__name__})") from None


def _read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _damaged(path, f"its tensors do not read ({exc})") from None
    return tensors, metadata


def read_state(directory: str | Path) -> TrainingState:
    """The training state in ``directory`` (either layout), its format checked.

    Raises ``CheckpointNotFoundError`` when there is none and ``CheckpointError`` naming
    the file and what is damaged otherwise; whether the state fits the model is checked
    when it is restored.
    """
    out = Path(directory)
    path = out / STATE_FILE
    if path.is_file():
        tensors, metadata = _read_tensors(path)
        if _META_KEY not in metadata:
            raise _damaged(path, f"it has no {_META_KEY!r} metadata")
        info = _json(metadata[_META_KEY], path)
        model = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
        optim = {k[len("optim/"):]: v for k, v in tensors.items() if k.startswith("optim/")}
        if len(model) + len(optim) != len(tensors):
            raise _damaged(path, "it holds tensors that are neither model/ nor optim/")
    elif (out / STATE_JSON).is_file():  # the older layout: weights in DIR/model
        from genproto.checkpoint import read_checkpoint

        path = out / STATE_JSON
        info = _json(path.read_text(encoding="utf-8", errors="replace"), path)
        optim, _ = _read_tensors(out / STATE_TENSORS)
        _, model = read_checkpoint(out / MODEL_DIR)
    else:
        raise CheckpointNotFoundError(
            f"no training state to resume in {out}", allowed=f"a folder holding {STATE_FILE}",
            fix="Train without --resume first",
        )
    if not isinstance(info, dict):
        raise _damaged(path, "its metadata is not a JSON object", type(info).__name__)
    step, settings, meta = info.get("step"), info.get("settings"), info.get("optimizers")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise _damaged(path, "'step' is not a whole number >= 0", step)
    if not isinstance(settings, dict) or not isinstance(meta, dict):
        raise _damaged(path, "'settings' or 'optimizers' is not a JSON object")
    for name, tensor in [*model.items(), *optim.items()]:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise _damaged(path, f"tensor {name!r} holds NaN or infinity")
    return TrainingState(step, settings, model, optim, meta)


def _restore(
    state: TrainingState, model: Any, optimizers: Mapping[str, torch.optim.Optimizer],
    settings: TrainSettings, path: Path,
) -> None:
    """Load ``state`` into the model and optimisers, checking that it fits them."""
    if state.step > settings.steps:
        raise _damaged(path, f"its step is past the run's {settings.steps} steps", state.step)
    own = model.state_tensors()
    for key, tensor in state.model.items():
        mine = own.get(key)
        if mine is None or mine.shape != tensor.shape or mine.dtype != tensor.dtype:
            raise _damaged(path, f"model tensor {key!r} does not fit the model",
                           f"{tuple(tensor.shape)} {tensor.dtype}")
    try:
        model.load_state_tensors(state.model)
        _restore_optimizers(optimizers, state.optimizer_tensors, state.optimizer_meta)
    except CheckpointError as exc:
        raise _damaged(path, exc.what) from None
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError, AttributeError) as exc:
        raise _damaged(
            path, f"its optimiser state does not fit ({type(exc).__name__}: {exc})"
        ) from None


def _restore_optimizers(
    optimizers: Mapping[str, torch.optim.Optimizer],
    tensors: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
) -> None:
    for name, opt in optimizers.items():
        if name not in meta or not isinstance(meta[name], dict):
            raise CheckpointError(f"training state has no optimiser {name!r}",
                                  fix="Resume with the same model options")
        params = [p for group in opt.param_groups for p in group["params"]]
        state: dict[int, dict[str, Any]] = {}
        prefix = f"{name}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, field = key[len(prefix):].split(".", 1)
                param = params[int(index)]
                if value.numel() != 1 and value.shape != param.shape:
                    raise CheckpointError(
                        f"optimiser {name!r} tensor {key!r} has shape {tuple(value.shape)} "
                        f"for a parameter of shape {tuple(param.shape)}",
                        fix="Resume with the same model options",
                    )
                state.setdefault(int(index), {})[field] = value
        for index, scalars in meta[name]["scalars"].items():
            state.setdefault(int(index), {}).update(scalars)
        opt.load_state_dict({"state": state, "param_groups": meta[name]["param_groups"]})


def _check_finite(losses: Mapping[str, float], step: int, model: str) -> None:
    for key, value in losses.items():
        if not math.isfinite(value):
            raise TrainingDiverged(model, step=step, what=f"loss {key!r}", value=value)


def _check_weights(model: Any, step: int) -> None:
    for key, tensor in model.state_tensors().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise TrainingDiverged(model.name, step=step, what=f"weight {key!r}", value="NaN/inf")


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
    settings = settings or model.training_defaults()
    out = check_target(directory, what="training folder", folder=True)
    optimizers = model.setup_training(settings)
    start = 0
    if resume:
        state = read_state(out)
        where = out / (STATE_FILE if (out / STATE_FILE).is_file() else STATE_JSON)
        _restore(state, model, optimizers, settings, where)
        start = state.step
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
            _check_finite(losses, step, model.name)
            bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
            bar.update(1)
            done = step + 1
            if done % settings.report_every == 0 or done == settings.steps:
                report = dict(model.training_report())
                reports.append((done, report))
                shown = ", ".join(f"{k}={v:.4g}" for k, v in {**losses, **report}.items())
                say(f"step {done}/{settings.steps}: {shown}")
            if done % settings.save_every == 0 or done == settings.steps:
                _check_weights(model, done)
                _save_state(out, done, settings, model, optimizers)  # the resumable unit
                meta = {"seed": str(settings.seed), "steps": str(done)}
                model.save(out / MODEL_DIR, metadata=meta)
    return TrainResult(out, settings.steps, start, time.perf_counter() - began, losses,
                       tuple(reports))
