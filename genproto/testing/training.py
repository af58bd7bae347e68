"""The training contract: what every :class:`~genproto.training.Trainable` model must keep.

``check_training(factory)`` builds the model twice with ``factory`` (a small configuration is
enough) and checks, on a few batches of its own training data:

* ``train_step`` before ``setup_training`` raises :class:`~genproto.errors.TrainingNotSetUp`
  (the one typed error, through :func:`genproto.training.require_setup`);
* every loss a step reports is a finite number;
* training is keyed: two fresh models given the same batches (data, labels and the batches'
  keyed streams) end with equal weights -- every random number of a step (noise, timesteps,
  dropout masks, latents) came from the streams of ``(seed, example)``;
* the global RNGs (torch, numpy, ``random``) are neither read nor changed by the steps.

A plugin's test calls it in one line, instead of restating these properties::

    from genproto.testing.training import check_training

    def test_training_contract() -> None:
        check_training(lambda: MyModel(width=8))

A broken property raises :class:`~genproto.errors.ContractViolation` (property ``"training"``)
with what was observed and a line that reproduces it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from genproto.errors import TrainingNotSetUp
from genproto.streams import KeyedStreams
from genproto.testing._core import fail, global_rng_state, guard, same_rng_state
from genproto.training import Batch, Trainable, TrainSettings

__all__ = ["PROPERTY", "check_training"]

PROPERTY = "training"


def _batch(model: Any, step: int, size: int, seed: int) -> Batch:
    """Rows ``[step * size, (step + 1) * size)`` of the training data, with their streams."""
    data = model.training_data()
    first = step * size
    rows = torch.arange(first, first + size) % len(data)
    streams = KeyedStreams.for_range(seed, first, first + size, device=model.device)
    y = None if data.y is None else data.y[rows].to(model.device)
    return Batch(data.x[rows].to(model.device), y, streams, step)


def _trained(model: Any, steps: int, size: int, seed: int) -> dict[str, torch.Tensor]:
    """Set up, take ``steps`` steps, check losses and the global RNGs; the final weights."""
    settings = TrainSettings(steps=steps + 10, batch_size=size, seed=seed)
    guard(PROPERTY, "model.setup_training(settings)", model.setup_training, settings)
    before = global_rng_state(model.device)
    for step in range(steps):
        batch = _batch(model, step, size, seed)
        losses = guard(PROPERTY, f"model.train_step(batch_{step})", model.train_step, batch)
        bad = {k: v for k, v in losses.items() if not math.isfinite(float(v))}
        if bad:
            fail(PROPERTY, f"train_step reported non-finite losses {bad}",
                 reproduction=f"model.train_step(batch_{step})", step=step)
    changed = same_rng_state(before, global_rng_state(model.device))
    if changed:
        fail(PROPERTY, f"training steps changed the global RNG state of {', '.join(changed)}: "
             "every random number must come from the batch's keyed streams (seed, example)",
             reproduction="s = torch.get_rng_state(); model.train_step(batch); "
             "torch.equal(s, torch.get_rng_state())  # False")
    state: dict[str, torch.Tensor] = model.state_tensors()
    return {k: v.detach().clone() for k, v in state.items()}


def check_training(
    factory: Callable[[], Any], *, steps: int = 3, batch_size: int = 16, seed: int = 0
) -> None:
    """Check the training contract (module docstring) on two models built by ``factory``.

    Raises:
        ContractViolation: a property is broken; the message says which and how to see it.
    """
    model = factory()
    if not isinstance(model, Trainable):
        fail(PROPERTY, f"{type(model).__name__} does not implement genproto.training.Trainable")
    try:
        model.train_step(_batch(model, 0, batch_size, seed))
    except TrainingNotSetUp:
        pass
    except Exception as exc:
        fail(PROPERTY, f"train_step before setup_training raised {type(exc).__name__}: {exc}, "
             "not genproto.errors.TrainingNotSetUp (use genproto.training.require_setup)",
             reproduction="factory().train_step(batch)")
    else:
        fail(PROPERTY, "train_step before setup_training did not raise TrainingNotSetUp",
             reproduction="factory().train_step(batch)")
    first = _trained(model, steps, batch_size, seed)
    second = _trained(factory(), steps, batch_size, seed)
    differ = sorted(k for k in first if k not in second or not torch.equal(first[k], second[k]))
    if differ or set(first) != set(second):
        fail(PROPERTY, f"two runs on the same batches ended with different weights {differ[:3]}: "
             "a step drew random numbers from somewhere other than the batch's keyed streams",
             reproduction="a, b = factory(), factory(); train both on the same batches; "
             "compare a.state_tensors() with b.state_tensors()", steps=steps, seed=seed)
