"""``genproto.load``: a checkpoint directory back into a ready model.

The model is rebuilt through the registry under the name and factory options the
checkpoint records (so its plugin must be installed), then its weights are replaced
by the checkpoint's. It sits above both :mod:`genproto.model` and
:mod:`genproto.registry`, which therefore need not know about each other.

Every way a checkpoint fails to become a model names the checkpoint's file: a
model no installed plugin provides is a :class:`CheckpointModelUnavailable`
(also an ``UnknownModelError``) that says which plugin to install; options the
installed plugin rejects are a :class:`CheckpointOptionError` (also an
``OptionError``); weights whose names, dtypes or shapes differ from the model's
own, or that hold NaN or infinity, are a ``CheckpointError`` naming the weights file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genproto import registry as registry_module
from genproto.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointConfig,
    read_checkpoint,
)
from genproto.errors import CheckpointError, GenprotoError, OptionError, UnknownModelError
from genproto.model import Model
from genproto.validation import check_device

__all__ = ["CheckpointModelUnavailable", "CheckpointOptionError", "load"]

_IN_PROCESS = "<in-process>"  # what Model.save records for a model built without a plugin


def _value(exc: GenprotoError) -> dict[str, Any]:
    """``exc``'s bad value as keyword arguments, empty when it was raised without one."""
    given = str(exc).startswith(f"{exc.what}: got ")
    return {"value": exc.value} if given else {}


def _source(config: CheckpointConfig) -> str:
    if config.plugin.distribution == _IN_PROCESS:
        return "a model registered in a program, not by a plugin"
    return f"plugin {config.plugin.distribution} {config.plugin.version}"


class CheckpointModelUnavailable(CheckpointError, UnknownModelError):
    """A checkpoint's model is not provided by any installed plugin.

    Attributes (besides ``UnknownModelError``'s): ``path``, the checkpoint's config
    file, and ``distribution`` and ``version``, the plugin it was saved from.
    """

    def __init__(self, path: Path, config: CheckpointConfig, cause: UnknownModelError) -> None:
        self.name = cause.name
        self.available = cause.available
        self.suggestions = cause.suggestions
        self.failed_plugins = cause.failed_plugins
        self.path = path
        self.distribution = config.plugin.distribution
        self.version = config.plugin.version
        if self.distribution == _IN_PROCESS:
            fix = f"Register {cause.name!r} in the registry you pass as load(..., registry=...)"
        else:
            fix = (
                f"Install the plugin it was saved from: pip install "
                f"'{self.distribution}=={self.version}' (`genproto plugins` lists what is "
                "installed)"
            )
        if self.suggestions:
            close = ", ".join(repr(s) for s in self.suggestions)
            fix += f", or, if the name was mistyped in {CONFIG_FILE}, did you mean {close}?"
        if self.failed_plugins:
            fix += f" (plugins that failed to load: {', '.join(self.failed_plugins)})"
        GenprotoError.__init__(
            self,
            f"{path}: checkpoint of model {cause.name!r} (saved from {_source(config)}), "
            "which no installed plugin provides",
            value=cause.name,
            allowed=cause.allowed,
            fix=fix,
        )


class CheckpointOptionError(CheckpointError, OptionError):
    """The installed plugin rejects the factory options a checkpoint records.

    Attributes (besides ``OptionError``'s): ``path``, the checkpoint's config file,
    and ``distribution`` and ``version``, the plugin it was saved from.
    """

    def __init__(self, path: Path, config: CheckpointConfig, cause: OptionError) -> None:
        self.option = cause.option
        self.path = path
        self.distribution = config.plugin.distribution
        self.version = config.plugin.version
        GenprotoError.__init__(
            self,
            f"{path}: the installed model rejects the checkpoint's options (saved from "
            f"{_source(config)}): {cause.what}",
            **_value(cause),
            allowed=cause.allowed,
            fix="Load it with the plugin version that saved it, or re-save the checkpoint "
            "with options this version accepts",
        )


def load(directory: str | os.PathLike[str], *, registry: Any = None, device: Any = None) -> Model:
    """Rebuild a model saved with ``model.save(directory)``.

    ``registry`` defaults to :func:`genproto.registry.default`; ``device`` moves the
    model before its weights are loaded. ``CheckpointError`` (naming the file) if the
    directory is damaged or foreign, if no installed plugin provides its model or
    accepts its options, if its weights do not fit the rebuilt model (names, dtypes,
    shapes) or hold NaN or infinity, or if the registry builds something that is not
    a :class:`~genproto.model.Model` (only those can take a checkpoint's weights).
    ``ArgumentTypeError`` if ``directory`` is not a path, ``DeviceError`` for a device
    this machine lacks.
    """
    target = None if device is None else check_device(device, what="load() argument 'device'")
    config, tensors = read_checkpoint(directory)  # checks the type of `directory` first
    path = Path(os.fspath(directory))
    reg = registry if registry is not None else registry_module.default()
    try:
        model = reg.get(config.model, **dict(config.options))
    except UnknownModelError as exc:
        raise CheckpointModelUnavailable(path / CONFIG_FILE, config, exc) from exc
    except OptionError as exc:
        raise CheckpointOptionError(path / CONFIG_FILE, config, exc) from exc
    if not isinstance(model, Model):
        raise CheckpointError(
            f"{path / CONFIG_FILE}: model {config.model!r} is not a genproto.Model and "
            "cannot load weights",
            fix="Load it through its plugin's own API",
        )
    if target is not None:
        model.to(target)
    try:
        model.load_state_tensors(tensors)
    except CheckpointError as exc:
        raise CheckpointError(
            f"{path / WEIGHTS_FILE}: {exc.what}",
            **_value(exc),
            allowed=exc.allowed,
            fix=exc.fix,
        ) from exc
    return model
