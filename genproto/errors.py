"""The one error hierarchy of genproto.

Every error a user can trigger derives from :class:`GenprotoError` *and* from the
builtin a caller would naturally catch (``ValueError``, ``TypeError``,
``LookupError`` ...), so ``except ValueError`` keeps working for people who do
not know genproto. Each error carries the facts as attributes (the bad value,
what is allowed, how to fix it) and renders them into a message of the form::

    <what>: got <value>; allowed: <allowed>. <fix>

so that a message always names the bad value, the allowed set and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AmbiguousModelError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "ConditionError",
    "ContractViolation",
    "DataError",
    "DataFileNotFoundError",
    "DeviceError",
    "DuplicateModelError",
    "GenprotoError",
    "InputError",
    "InputTypeError",
    "InvalidArgumentError",
    "ArgumentTypeError",
    "LikelihoodUnavailable",
    "NoShippedWeights",
    "OptionError",
    "OutputError",
    "OptionTypeError",
    "PluginError",
    "TEXT_LIMIT",
    "TrainingDiverged",
    "TrainingNotSetUp",
    "UnknownModelError",
    "VALUE_LIMIT",
]

_MISSING: Any = object()


#: How much of a bad value's ``repr`` a message shows: a text or path whole up to
#: ``TEXT_LIMIT`` characters (a file name must be readable to be fixed), anything else
#: (tensors, arrays, long lists) up to ``VALUE_LIMIT``.
VALUE_LIMIT = 80
TEXT_LIMIT = 1024


def _short(value: Any) -> str:
    """``repr`` of ``value`` with its type for clarity, cut in the middle when longer than its
    limit (so both the start and the end -- a path's file name -- stay visible)."""
    text = repr(value)
    limit = TEXT_LIMIT if isinstance(value, (str, bytes, os.PathLike)) else VALUE_LIMIT
    if len(text) > limit:
        head = (limit - 3) // 2
        text = text[:head] + "..." + text[len(text) - (limit - 3 - head):]
    return f"{text} ({type(value).__name__})"


class GenprotoError(Exception):
    """Base of every genproto error.

    Attributes:
        what: the thing that is wrong, e.g. ``"sample() argument 'n'"``.
        value: the bad value (``None`` when there is no single value).
        allowed: a description of what would have been accepted.
        fix: one sentence telling the user what to do.
    """

    def __init__(
        self,
        what: str,
        *,
        value: Any = _MISSING,
        allowed: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.what = what
        self.value = None if value is _MISSING else value
        self.allowed = allowed
        self.fix = fix
        parts = [what]
        if value is not _MISSING:
            parts[0] += f": got {_short(value)}"
        if allowed:
            parts.append(f"allowed: {allowed}")
        message = "; ".join(parts)
        if fix:
            message += f". {fix}"
        super().__init__(message)


class InvalidArgumentError(GenprotoError, ValueError):
    """An argument has the right type but a value outside what is allowed."""


class ArgumentTypeError(GenprotoError, TypeError):
    """An argument has the wrong type."""


class ConditionError(InvalidArgumentError):
    """A condition is malformed, out of range, or given to an unconditional model."""


class InputError(GenprotoError, ValueError):
    """Data handed to a model (``x`` of ``log_likelihood``) has a bad shape, value or device."""


class InputTypeError(GenprotoError, TypeError):
    """Data handed to a model is not a tensor, or has the wrong dtype."""


class DeviceError(GenprotoError, ValueError):
    """A requested device does not exist on this machine."""


class OptionError(GenprotoError, ValueError):
    """An option (to a model factory or to ``sample``) is unknown or out of range."""

    def __init__(
        self,
        what: str,
        *,
        option: str,
        value: Any = _MISSING,
        allowed: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.option = option
        super().__init__(what, value=value, allowed=allowed, fix=fix)


class OptionTypeError(OptionError, TypeError):
    """An option has the wrong type."""


class NoShippedWeights(OptionError):
    """``pretrained=True`` for a configuration whose trained weights are not packaged.

    Attributes:
        model: the registry name.
        configurations: the configurations that ship weights, one description each.
        differing: the options that differ from the nearest shipped configuration.
        command: the ``genproto train`` command line that trains this configuration.
    """

    def __init__(
        self,
        model: str,
        *,
        configurations: Sequence[str],
        differing: Mapping[str, Any],
        command: str,
    ) -> None:
        self.model = model
        self.configurations = tuple(configurations)
        self.differing = dict(differing)
        self.command = command
        changed = ", ".join(f"{k}={v!r}" for k, v in self.differing.items())
        super().__init__(
            f"model {model!r} option 'pretrained': no shipped weights for this configuration"
            + (f" ({changed})" if changed else ""),
            option="pretrained",
            value=True,
            allowed="True only with "
            + " or ".join(f"({c})" for c in self.configurations)
            + "; False otherwise",
            fix=f"Pass pretrained=False and train it: {command}",
        )


class LikelihoodUnavailable(GenprotoError, NotImplementedError):
    """The model defines no likelihood (e.g. a GAN); ``log_likelihood`` cannot be computed."""

    def __init__(self, model: str, paradigms: Sequence[str], *, fix: str | None = None) -> None:
        self.model = model
        self.paradigms = tuple(paradigms)
        super().__init__(
            f"model {model!r} ({' + '.join(self.paradigms)}) declares likelihood 'none'",
            allowed="log_likelihood() only on models whose capabilities.likelihood is "
            "exact, bound or estimate",
            fix=fix
            or "Pick a model with a likelihood: genproto.registry.find(likelihood='exact')",
        )


class UnknownModelError(GenprotoError, LookupError):
    """No installed plugin registers a model under this name."""

    def __init__(
        self,
        name: str,
        *,
        available: Sequence[str],
        suggestions: Sequence[str] = (),
        failed_plugins: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.available = tuple(available)
        self.suggestions = tuple(suggestions)
        self.failed_plugins = tuple(failed_plugins)
        if self.suggestions:
            fix = f"Did you mean {', '.join(repr(s) for s in self.suggestions)}?"
        else:
            fix = (
                f"Install the plugin that provides it, e.g. `pip install genproto-{name}`, "
                "or run `genproto plugins` to see what is installed"
            )
        if self.failed_plugins:
            fix += f" (plugins that failed to load: {', '.join(self.failed_plugins)})"
        super().__init__(
            "unknown model",
            value=name,
            allowed=", ".join(repr(a) for a in self.available) or "no model is installed",
            fix=fix,
        )


class AmbiguousModelError(GenprotoError, LookupError):
    """Several third-party plugins offer this model name and none was chosen."""

    def __init__(self, name: str, offered_by: Sequence[str], *, fix: str) -> None:
        self.name = name
        self.offered_by = tuple(offered_by)
        super().__init__(
            f"model name {name!r} is offered by several plugins",
            value=list(self.offered_by),
            allowed="exactly one plugin per name",
            fix=fix[0].upper() + fix[1:],
        )


class DuplicateModelError(GenprotoError, ValueError):
    """Two plugins register a model under the same name."""

    def __init__(self, name: str, first: str, second: str) -> None:
        self.name = name
        self.first = first
        self.second = second
        super().__init__(
            f"model name {name!r} is registered by two plugins: {first!r} and {second!r}",
            allowed="one plugin per model name",
            fix="Uninstall one of the two plugins, or restrict loading with GENPROTO_PLUGINS",
        )


class PluginError(GenprotoError, TypeError):
    """A plugin is malformed: a misspelled hook, a bad registration, a wrong signature."""


class TrainingNotSetUp(GenprotoError, RuntimeError):
    """A training step was asked of a model whose optimisers are not built yet."""

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"model {model!r}: train_step() before setup_training()",
            allowed="train_step() after setup_training(settings)",
            fix="Call model.setup_training(settings) first, or train with "
            "genproto.training.fit (which does)",
        )


class OutputError(GenprotoError, OSError):
    """An output (samples, a picture, a checkpoint) could not be written where asked."""


class TrainingDiverged(GenprotoError, FloatingPointError):
    """A training step produced a NaN or infinite loss or weight; nothing was saved."""

    def __init__(self, model: str, *, step: int, what: str, value: Any) -> None:
        self.model = model
        self.step = step
        super().__init__(
            f"training of model {model!r} diverged at step {step}: {what} is not finite",
            value=value,
            allowed="finite losses and weights",
            fix="Lower the learning rate (--lr) or check the data; nothing was saved at this "
            "step, so --resume continues from the last good save",
        )


class CheckpointError(GenprotoError, ValueError):
    """A checkpoint directory is truncated, corrupted, foreign or from a newer protocol."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint directory or one of its files does not exist."""


class DataError(GenprotoError, ValueError):
    """A data set has a bad shape, dtype or value."""


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file does not exist."""


class ContractViolation(GenprotoError, AssertionError):
    """A model breaks a property of the genproto contract (found by :mod:`genproto.testing`).

    Attributes:
        property: the name of the property, e.g. ``"determinism"``.
        detail: what was observed, in one sentence.
        reproduction: one line of Python that shows the failure again, or ``None``.
        example: the (shrunk) counterexample: ``n``, ``seed``, ``batch_size``, ``condition``...
    """

    def __init__(
        self,
        property: str,
        detail: str,
        *,
        reproduction: str | None = None,
        example: Mapping[str, Any] | None = None,
    ) -> None:
        self.property = property
        self.detail = detail
        self.reproduction = reproduction
        self.example = dict(example or {})
        super().__init__(
            f"contract property {property!r} violated: {detail}",
            fix=f"Reproduce: {reproduction}" if reproduction else None,
        )
