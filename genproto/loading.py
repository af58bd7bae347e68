"""``genproto.load``: a checkpoint directory back into a ready model.

The model is rebuilt through the registry under the name and factory options the
checkpoint records (so its plugin must be installed), then its weights are replaced
by the checkpoint's. It sits above both :mod:`genproto.model` and
:mod:`genproto.registry`, which therefore need not know about each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genproto import registry as registry_module
from genproto.checkpoint import read_checkpoint
from genproto.errors import CheckpointError
from genproto.model import Model

__all__ = ["load"]


def load(directory: str | Path, *, registry: Any = None, device: str | None = None) -> Model:
    """Rebuild a model saved with ``model.save(directory)``.

    ``registry`` defaults to :func:`genproto.registry.default`; ``device`` moves the
    model before its weights are loaded. ``CheckpointError`` if the directory is
    damaged or foreign, or if the registry builds something that is not a
    :class:`~genproto.model.Model` (only those can take a checkpoint's weights).
    """
    reg = registry if registry is not None else registry_module.default()
    config, tensors = read_checkpoint(directory)
    model = reg.get(config.model, **dict(config.options))
    if not isinstance(model, Model):
        raise CheckpointError(
            f"model {config.model!r} is not a genproto.Model and cannot load weights",
            fix="Load it through its plugin's own API",
        )
    if device is not None:
        model.to(device)
    model.load_state_tensors(tensors)
    return model
