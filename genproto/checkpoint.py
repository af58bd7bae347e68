"""Safe, atomic model checkpoints: one directory, two files.

A checkpoint is a directory holding

* ``weights.safetensors``: the model's tensors in the safetensors format;
* ``genproto.json``: everything needed to rebuild the model around them: the
  registry name and factory options, the plugin that provides it, the declared
  :class:`~genproto.protocol.Capabilities`, the protocol and genproto versions,
  the SHA-256 and tensor count of the weights file, and free-form metadata
  (training seed, steps ...)::

      {"format": "genproto-checkpoint", "format_version": 1,
       "protocol_version": "1.0", "genproto_version": "0.1.0",
       "model": "vae", "options": {"latent_dim": 8},
       "plugin": {"distribution": "genproto-vae", "version": "0.1.0"},
       "capabilities": {...},
       "weights": {"file": "weights.safetensors", "sha256": "...", "tensors": 12},
       "metadata": {"seed": "0"}}

Why safetensors. A pickle (``torch.save``/``torch.load``) is a program: loading
one runs whatever code its author put in it. A safetensors file is a JSON
header plus raw bytes, so loading a checkpoint downloaded from anywhere can at
worst fail; it can never execute anything. Nothing in this module unpickles.

Why an atomic rename. A checkpoint is written into a hidden sibling directory
(``.NAME.tmp-<random>``, same parent and so the same file system), each file is
flushed and fsynced, and only then is the directory renamed to its final name.
A rename within one file system is atomic, so a reader, or a crashed or
interrupted save, sees either the old checkpoint or the new one, never half of
one. Replacing an existing checkpoint renames the old one aside, renames the new
one in, and only then deletes the old one; any failure puts the old one back.
A target that is not a genproto checkpoint is never touched.

Reading checks everything before trusting it: the config's size (at most
:data:`MAX_CONFIG_BYTES`) and nesting depth (at most :data:`MAX_CONFIG_DEPTH`)
before it is parsed, its numbers (no NaN, no infinity, no integer longer than
:data:`MAX_INT_DIGITS` digits) while it is parsed, then its format, format
version and protocol version; the weights file's SHA-256 *before* it is parsed
(a truncated download or a flipped bit is reported as such, not as a puzzling
parse error); and the tensor count after it is parsed. Every problem raises a
:class:`~genproto.errors.CheckpointError` naming the path, what is wrong, what
was expected and how to fix it. :func:`check_tensors_fit` is what a model runs
before it takes tensors as its weights: the same names, dtypes and shapes as its
own, and only finite values (``read_checkpoint`` itself returns the stored
tensors bit for bit, NaN included).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import torch
from safetensors import SafetensorError
from safetensors.torch import load as _load_safetensors
from safetensors.torch import save_file

import genproto
from genproto._atomic import atomic_directory, check_target, fsync_file
from genproto.errors import (
    ArgumentTypeError,
    CheckpointError,
    CheckpointNotFoundError,
    GenprotoError,
    InvalidArgumentError,
    OptionError,
    OptionTypeError,
)
from genproto.protocol import (
    LEGACY_VERSIONS,
    PROTOCOL_VERSION,
    Capabilities,
    protocol_compatible,
)

__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "WEIGHTS_FILE",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_DEPTH",
    "MAX_INT_DIGITS",
    "CheckpointConfig",
    "PluginInfo",
    "check_tensors_fit",
    "read_checkpoint",
    "read_config",
    "save_checkpoint",
    "weights_hash",
]

#: The value of ``"format"`` in every genproto checkpoint config.
FORMAT = "genproto-checkpoint"
#: The newest checkpoint layout this genproto reads and the one it writes.
FORMAT_VERSION = 1
#: The config file inside a checkpoint directory.
CONFIG_FILE = "genproto.json"
#: The weights file inside a checkpoint directory.
WEIGHTS_FILE = "weights.safetensors"
#: The largest ``genproto.json`` read (genproto writes a few KiB); checked before parsing.
MAX_CONFIG_BYTES = 1 << 20
#: The deepest nesting of JSON arrays and objects read (a model's config is 4 deep, a
#: hybrid's 7); checked before parsing, so a hostile file cannot exhaust the stack.
MAX_CONFIG_DEPTH = 32
#: The longest integer literal read (genproto writes counts, sizes and seeds).
MAX_INT_DIGITS = 100

_T = TypeVar("_T")
_E = TypeVar("_E", bound=CheckpointError)
_Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]
_UNSET: Any = object()
_HEX = frozenset("0123456789abcdef")
_SCALARS = "None, bool, int, finite float or str"
_RESAVE = (
    "The config was edited by hand or written by another tool; re-save the checkpoint "
    "with genproto (model.save(directory)) or re-download it"
)
_UPGRADE = "Upgrade genproto (pip install -U genproto) to read it"


def _error(
    what: str,
    *,
    value: Any = _UNSET,
    expected: str,
    fix: str,
    cls: type[_E] = CheckpointError,  # type: ignore[assignment]
) -> _E:
    """A ``cls`` error; ``value`` is left out of the message when not given."""
    if value is _UNSET:
        return cls(what, allowed=expected, fix=fix)
    return cls(what, value=value, allowed=expected, fix=fix)


# ---------------------------------------------------------------------------
# value objects
# ---------------------------------------------------------------------------


def _type_name(kind: type) -> str:
    return {dict: "a JSON object", str: "a str", int: "an int"}.get(kind, kind.__name__)


def _instance_of(kind: type, description: str) -> _Validator:
    """An attrs validator raising our ``ArgumentTypeError`` (``bool`` is never an ``int``)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ArgumentTypeError(
                f"{type(instance).__name__}.{attribute.name} must be {description}",
                value=value,
                allowed=description,
                fix=f"Pass {description} as {attribute.name}=",
            )

    return check


def _freeze_options(options: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of factory ``options``; raises naming the first non-scalar one."""
    if not isinstance(options, Mapping):
        raise ArgumentTypeError(
            "checkpoint options must be a mapping of option name to value",
            value=options,
            allowed="a dict such as {'latent_dim': 8}",
            fix="Pass the factory options as a dict",
        )
    frozen: dict[str, Any] = {}
    for name, value in options.items():
        if not isinstance(name, str):
            raise OptionTypeError(
                "checkpoint option names must be str",
                option=repr(name),
                value=name,
                allowed="str",
                fix="Use the factory keyword as the option name",
            )
        if value is not None and not isinstance(value, bool | int | float | str):
            raise OptionTypeError(
                f"checkpoint option {name!r} must be a JSON scalar",
                option=name,
                value=value,
                allowed=_SCALARS,
                fix="Store only scalar factory options in a checkpoint; save tensors as "
                "tensors and encode anything structured as a str",
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise OptionError(
                f"checkpoint option {name!r} must be finite (JSON has no NaN or infinity)",
                option=name,
                value=value,
                allowed=_SCALARS,
                fix="Pass a finite number, or None for 'no value'",
            )
        frozen[name] = value
    return types.MappingProxyType(frozen)


def _freeze_metadata(metadata: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only copy of ``metadata``; raises naming the first non-str key or value."""
    if not isinstance(metadata, Mapping):
        raise ArgumentTypeError(
            "checkpoint metadata must be a mapping of str to str",
            value=metadata,
            allowed="a dict such as {'seed': '0', 'steps': '2000'}",
            fix="Pass metadata as a dict of str",
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ArgumentTypeError(
                f"checkpoint metadata entry {key!r} must map a str to a str",
                value=value if isinstance(key, str) else key,
                allowed="str keys and str values",
                fix=f"Convert it first, e.g. metadata={{{str(key)!r}: str(value)}}",
            )
    return types.MappingProxyType(dict(metadata))


def _sha256_hex(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise InvalidArgumentError(
            f"{type(instance).__name__}.{attribute.name} must be a SHA-256 hex digest",
            value=value,
            allowed="64 lowercase hex digits",
            fix="Use weights_hash(path) to compute it",
        )


def _non_negative(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    _instance_of(int, "an int")(instance, attribute, value)
    if value < 0:
        raise InvalidArgumentError(
            f"{type(instance).__name__}.{attribute.name} must be >= 0",
            value=value,
            allowed="an int >= 0",
            fix="Pass the number of tensors in the weights file",
        )


@attrs.frozen
class PluginInfo:
    """The distribution that provides a model, and its version (``importlib.metadata``)."""

    distribution: str = attrs.field(validator=_instance_of(str, "a str"))
    version: str = attrs.field(validator=_instance_of(str, "a str"))


@attrs.frozen
class CheckpointConfig:
    """The contents of ``genproto.json``: how to rebuild a model around its weights.

    Attributes:
        model: the registry name the model was built under.
        options: the factory options, JSON scalars only; a read-only mapping.
        plugin: the distribution that provides the model.
        capabilities: what the model declared when it was saved.
        protocol_version: the protocol the checkpoint was written for; always
            ``capabilities.protocol_version``.
        genproto_version: the genproto that wrote the checkpoint.
        weights_sha256: SHA-256 of ``weights.safetensors``, checked before parsing it.
        tensor_count: number of tensors in ``weights.safetensors``.
        metadata: free-form str to str (training seed, steps ...); read-only.

    ``options`` and ``metadata`` take part in ``==`` but not in ``hash``.
    """

    model: str = attrs.field(validator=_instance_of(str, "a str"))
    options: Mapping[str, Any] = attrs.field(converter=_freeze_options, hash=False)
    plugin: PluginInfo = attrs.field(validator=_instance_of(PluginInfo, "a PluginInfo"))
    capabilities: Capabilities = attrs.field(
        validator=_instance_of(Capabilities, "a genproto.Capabilities")
    )
    protocol_version: str = attrs.field(validator=_instance_of(str, "a str"))
    genproto_version: str = attrs.field(validator=_instance_of(str, "a str"))
    weights_sha256: str = attrs.field(validator=_sha256_hex)
    tensor_count: int = attrs.field(validator=_non_negative)
    metadata: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze_metadata, hash=False)

    def __attrs_post_init__(self) -> None:
        if not self.model:
            raise InvalidArgumentError(
                "CheckpointConfig.model must be a registry name",
                value=self.model,
                allowed="a non-empty str",
                fix="Pass the name the model is registered under",
            )
        if self.protocol_version != self.capabilities.protocol_version:
            raise InvalidArgumentError(
                "CheckpointConfig.protocol_version must equal capabilities.protocol_version",
                value=self.protocol_version,
                allowed=repr(self.capabilities.protocol_version),
                fix="Pass protocol_version=capabilities.protocol_version",
            )

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to ``genproto.json``."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "protocol_version": self.protocol_version,
            "genproto_version": self.genproto_version,
            "model": self.model,
            "options": dict(self.options),
            "plugin": {"distribution": self.plugin.distribution, "version": self.plugin.version},
            "capabilities": self.capabilities.to_dict(),
            "weights": {
                "file": WEIGHTS_FILE,
                "sha256": self.weights_sha256,
                "tensors": self.tensor_count,
            },
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, data: Any, *, where: Path) -> CheckpointConfig:
        """Validate the parsed ``genproto.json`` at ``where`` and build the config.

        Checks, in order: that it is a JSON object of our format (else it is a
        foreign file), that its format version and protocol version can be read
        by this genproto, and then every field's presence and type. Raises
        :class:`CheckpointError` naming the field and the file.
        """
        if not isinstance(data, dict):
            raise _error(
                f"{where}: the config must be a JSON object",
                value=data,
                expected=f'an object starting {{"format": "{FORMAT}", ...}}',
                fix=_RESAVE,
            )
        if data.get("format") != FORMAT:
            raise _error(
                f"{where}: not a genproto checkpoint (its 'format' is not {FORMAT!r})",
                value=data.get("format", "<missing>"),
                expected=f"format {FORMAT!r}, written by genproto's save",
                fix="Pass the directory of a checkpoint written by model.save(...); other "
                "tools' checkpoints (e.g. a HuggingFace config.json) cannot be loaded",
            )
        version = _field(data, "format_version", int, where)
        if version > FORMAT_VERSION:
            raise _error(
                f"{where}: checkpoint format_version {version} is newer than this genproto "
                f"reads (genproto {genproto.__version__})",
                value=version,
                expected=f"format_version <= {FORMAT_VERSION}",
                fix=_UPGRADE,
            )
        if version < 1:
            raise _error(
                f"{where}: field 'format_version' must be >= 1",
                value=version,
                expected=f"1 .. {FORMAT_VERSION}",
                fix=_RESAVE,
            )
        protocol = _field(data, "protocol_version", str, where)
        _check_protocol(protocol, where)
        plugin = _field(data, "plugin", dict, where)
        weights = _field(data, "weights", dict, where)
        capabilities = _field(data, "capabilities", dict, where)
        if weights.get("file") != WEIGHTS_FILE:
            # Never follow a path named in the file: it could point anywhere.
            raise _error(
                f"{where}: field 'weights.file' must name {WEIGHTS_FILE!r}",
                value=weights.get("file", "<missing>"),
                expected=repr(WEIGHTS_FILE),
                fix=_RESAVE,
            )
        try:
            parsed_capabilities = Capabilities.from_dict(capabilities)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise _error(
                f"{where}: field 'capabilities' is malformed ({type(exc).__name__}: {exc})",
                expected="the object written by Capabilities.to_dict()",
                fix=_RESAVE,
            ) from exc
        try:
            return cls(
                model=_field(data, "model", str, where),
                options=_field(data, "options", dict, where),
                plugin=PluginInfo(
                    _field(plugin, "distribution", str, where, parent="plugin"),
                    _field(plugin, "version", str, where, parent="plugin"),
                ),
                capabilities=parsed_capabilities,
                protocol_version=protocol,
                genproto_version=_field(data, "genproto_version", str, where),
                weights_sha256=_field(weights, "sha256", str, where, parent="weights"),
                tensor_count=_field(weights, "tensors", int, where, parent="weights"),
                metadata=_field(data, "metadata", dict, where),
            )
        except CheckpointError:
            raise
        except GenprotoError as exc:  # a value check of the class (option, hash, count ...)
            raise _error(
                f"{where}: {exc.what}",
                value=exc.value,
                expected=exc.allowed or "a config written by genproto",
                fix=_RESAVE,
            ) from exc


def _field(
    data: Mapping[str, Any], key: str, kind: type[_T], where: Path, *, parent: str = ""
) -> _T:
    """``data[key]`` when present and of ``kind`` (a ``bool`` is never an ``int``)."""
    name = f"{parent}.{key}" if parent else key
    if key not in data:
        raise _error(
            f"{where}: field {name!r} is missing",
            expected=f"{_type_name(kind)} under {name!r}",
            fix=_RESAVE,
        )
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _error(
            f"{where}: field {name!r} must be {_type_name(kind)}",
            value=value,
            expected=_type_name(kind),
            fix=_RESAVE,
        )
    return value


def _check_protocol(version: str, where: Path) -> None:
    """Raise unless a checkpoint for protocol ``version`` can be read here."""
    if protocol_compatible(version):
        return
    what = (
        f"{where}: checkpoint written for genproto protocol {version!r}, but this genproto "
        f"({genproto.__version__}) implements protocol {PROTOCOL_VERSION!r}"
    )
    expected = (f"protocol {PROTOCOL_VERSION.split('.')[0]}.x up to {PROTOCOL_VERSION}, or "
                f"{' or '.join(LEGACY_VERSIONS)}")
    try:
        theirs = tuple(int(p) for p in version.split("."))
    except ValueError:
        theirs = ()
    ours = tuple(int(p) for p in PROTOCOL_VERSION.split("."))
    if len(theirs) != 2:
        fix = f"The version is not MAJOR.MINOR. {_RESAVE}"
    elif theirs > ours:
        fix = f"{_UPGRADE} (it needs protocol {version})"
    else:
        fix = (
            f"Load it with a genproto that implements protocol {version} and re-save it, "
            "or retrain the model with this genproto"
        )
    raise _error(what, value=version, expected=expected, fix=fix)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


def weights_hash(path: Path) -> str:
    """SHA-256 of the file at ``path``, as 64 lowercase hex digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _prepare_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies: safetensors refuses tensors that share storage."""
    if not isinstance(tensors, Mapping):
        raise ArgumentTypeError(
            "checkpoint tensors must be a mapping of name to tensor",
            value=tensors,
            allowed="a dict such as model.state_dict()",
            fix="Pass tensors=module.state_dict()",
        )
    prepared: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise ArgumentTypeError(
                f"checkpoint tensor {name!r} must map a str name to a torch.Tensor",
                value=tensor if isinstance(name, str) else name,
                allowed="str names and torch.Tensor values",
                fix="Pass tensors=module.state_dict(), or convert values with torch.as_tensor",
            )
        if tensor.layout is not torch.strided:
            raise InvalidArgumentError(
                f"checkpoint tensor {name!r} must be dense",
                value=tensor.layout,
                allowed="torch.strided",
                fix="Convert it with tensor.to_dense() first",
            )
        # One copy each: tied weights (two names, one storage) are saved twice and
        # come back untied; the model re-ties them when it loads its state dict.
        prepared[name] = tensor.detach().cpu().clone(memory_format=torch.contiguous_format)
    return prepared


def _is_our_config(path: Path) -> bool:
    try:
        data = _read_config_json(path)
    except CheckpointError:
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def _replaceable(target: Path) -> bool:
    """Whether ``target`` exists and may be replaced; raises when it must be left alone.

    Replaceable: an empty directory, or a genproto checkpoint holding nothing but
    our two files. Anything else (a file, a link, a directory with other files)
    may be a user's data and is refused.
    """
    refuse = (
        "Choose another directory, or move its contents away yourself; genproto never "
        "deletes files it did not write"
    )
    expected = (
        f"a new or empty directory, or a genproto checkpoint holding only {CONFIG_FILE} "
        f"and {WEIGHTS_FILE}"
    )
    if target.is_symlink():
        raise _error(
            f"{target}: refusing to save over a symbolic link",
            expected=expected,
            fix="Pass the real path the link points to",
        )
    if not target.exists():
        return False
    if not target.is_dir():
        raise _error(
            f"{target}: refusing to save over a file that is not a checkpoint directory",
            expected=expected,
            fix=refuse,
        )
    entries = sorted(entry.name for entry in target.iterdir())
    if not entries:
        return True
    ours = set(entries) <= {CONFIG_FILE, WEIGHTS_FILE} and CONFIG_FILE in entries
    if not ours or not _is_our_config(target / CONFIG_FILE):
        raise _error(
            f"{target}: refusing to overwrite a directory that is not a genproto checkpoint",
            value=entries if len(entries) <= 5 else [*entries[:5], "..."],
            expected=expected,
            fix=refuse,
        )
    return True


def _write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(
    directory: str | Path,
    *,
    model: str,
    options: Mapping[str, Any],
    plugin: PluginInfo,
    capabilities: Capabilities,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write a checkpoint to ``directory`` atomically and return its absolute path.

    Every argument is validated before anything touches the disk. ``directory``
    must not exist, be empty, or be an earlier genproto checkpoint (which is
    replaced); anything else raises :class:`CheckpointError` and is left as it
    is. Missing parent directories are created. On any failure, including
    ``KeyboardInterrupt``, the temporary directory is removed and ``directory``
    holds what it held before.
    """
    if not (isinstance(directory, str | os.PathLike) and os.path.isfile(directory)):
        # a non-path, '', a NUL, a name too long ...; an existing file is refused below
        check_target(directory, what="checkpoint directory", folder=True)
    target = Path(os.path.abspath(directory))
    if not isinstance(capabilities, Capabilities):
        raise ArgumentTypeError(
            "save_checkpoint() argument 'capabilities' must be a genproto.Capabilities",
            value=capabilities,
            allowed="genproto.Capabilities",
            fix="Pass model.capabilities",
        )
    if not protocol_compatible(capabilities.protocol_version):
        raise InvalidArgumentError(
            "save_checkpoint(): capabilities.protocol_version is not readable by this "
            f"genproto (protocol {PROTOCOL_VERSION}), so the checkpoint could not be loaded",
            value=capabilities.protocol_version,
            allowed=f"a protocol compatible with {PROTOCOL_VERSION}",
            fix="Declare protocol_version=genproto.PROTOCOL_VERSION in the capabilities",
        )
    prepared = _prepare_tensors(tensors)
    # Built now, with a placeholder hash, so that every argument is checked up front.
    config = CheckpointConfig(
        model=model,
        options=options,
        plugin=plugin,
        capabilities=capabilities,
        protocol_version=capabilities.protocol_version,
        genproto_version=genproto.__version__,
        weights_sha256="0" * 64,
        tensor_count=len(prepared),
        metadata={} if metadata is None else metadata,
    )
    with atomic_directory(target, replace=_replaceable(target)) as staged:
        weights = staged / WEIGHTS_FILE
        save_file(prepared, str(weights))
        fsync_file(weights)
        config = attrs.evolve(config, weights_sha256=weights_hash(weights))
        _write_json(staged / CONFIG_FILE, config.to_json())
    return target


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------


def _checkpoint_dir(directory: str | os.PathLike[str]) -> Path:
    """``directory`` as a ``Path`` to an existing directory; raises naming what it is instead."""
    if isinstance(directory, os.PathLike):
        directory = os.fspath(directory)
    if not isinstance(directory, str):
        raise ArgumentTypeError(
            "checkpoint directory must be a path",
            value=directory,
            allowed="a str or os.PathLike naming a directory",
            fix="Pass the directory that model.save(directory) wrote",
        )
    if not directory or "\0" in directory:
        raise InvalidArgumentError(
            "checkpoint directory must be a non-empty path without NUL characters",
            value=directory,
            allowed="a path such as 'runs/vae'",
            fix="Pass the directory that model.save(directory) wrote",
        )
    path = Path(directory)
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists()
    except OSError as exc:  # a name too long, a loop of links, no permission ...
        raise _unreadable(path, exc) from exc
    if not exists:
        raise _error(
            f"{path}: checkpoint directory does not exist",
            expected=f"a directory holding {CONFIG_FILE} and {WEIGHTS_FILE}",
            fix="Check the path, or write the checkpoint first with model.save(directory)",
            cls=CheckpointNotFoundError,
        )
    if not is_dir:
        hint = (
            f"Pass the directory that holds it: {path.parent}"
            if path.name in (CONFIG_FILE, WEIGHTS_FILE)
            else "Pass the checkpoint directory, not a file"
        )
        raise _error(
            f"{path}: is a file, not a checkpoint directory",
            expected=f"a directory holding {CONFIG_FILE} and {WEIGHTS_FILE}",
            fix=hint,
        )
    return path


def _unreadable(path: Path, exc: OSError) -> CheckpointError:
    return _error(
        f"{path}: cannot be read ({exc.strerror or exc})",
        expected="a readable checkpoint directory and files",
        fix="Check the path and its permissions",
    )


def _missing_file(path: Path) -> CheckpointNotFoundError:
    others = sorted(entry.name for entry in path.parent.iterdir())
    if path.name == CONFIG_FILE and others:
        fix = (
            f"The directory holds {', '.join(others[:5])}{' ...' if len(others) > 5 else ''} "
            "but no genproto config, so it is not a genproto checkpoint; pass the directory "
            "that model.save(...) wrote"
        )
    else:
        fix = (
            "The checkpoint is incomplete; re-save it with model.save(directory) or re-download it"
        )
    return _error(
        f"{path}: checkpoint file {path.name} is missing",
        expected=f"a directory holding {CONFIG_FILE} and {WEIGHTS_FILE}",
        fix=fix,
        cls=CheckpointNotFoundError,
    )


class _BadNumber(Exception):
    """Raised inside ``json.loads`` by the number hooks; turned into a CheckpointError."""

    def __init__(self, literal: str, problem: str, expected: str) -> None:
        super().__init__(literal)
        self.literal = literal
        self.problem = problem
        self.expected = expected


def _parse_constant(literal: str) -> Any:
    raise _BadNumber(literal, f"holds {literal}, which JSON does not allow", "finite numbers")


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999: finite text, infinite float
        raise _BadNumber(literal, "holds a number too large for a float", "finite numbers")
    return value


def _parse_int(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _BadNumber(
            literal, f"holds an integer of {digits} digits", f"at most {MAX_INT_DIGITS} digits"
        )
    return int(literal)


# A JSON string, escapes included, or an unterminated one up to the end (so the scan is
# linear on any text); once they are removed, the brackets left are the structure.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest beyond the limit in JSON ``text`` (not parsed)."""
    depth = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_CONFIG_DEPTH:
            return True
    return False


def _read_config_json(path: Path) -> Any:
    """Parse ``genproto.json`` at ``path`` within the size, depth and number limits."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise _error(
            f"{path}: config is larger than {MAX_CONFIG_BYTES} bytes (genproto writes a few KiB)",
            expected=f"at most {MAX_CONFIG_BYTES} bytes",
            fix=_RESAVE,
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
            expected="a UTF-8 JSON object written by genproto",
            fix=_RESAVE,
        ) from exc
    if _too_deep(text):
        raise _error(
            f"{path}: JSON nested more than {MAX_CONFIG_DEPTH} levels deep",
            expected=f"at most {MAX_CONFIG_DEPTH} levels (genproto writes 4 to 7)",
            fix=_RESAVE,
        )
    try:
        return json.loads(
            text, parse_constant=_parse_constant, parse_float=_parse_float, parse_int=_parse_int
        )
    except _BadNumber as exc:
        raise _error(
            f"{path}: {exc.problem}",
            value=exc.literal,
            expected=exc.expected,
            fix=_RESAVE,
        ) from None
    except json.JSONDecodeError as exc:
        raise _error(
            f"{path}: invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            expected="a JSON object written by genproto",
            fix=_RESAVE,
        ) from exc
    except (RecursionError, ValueError) as exc:  # backstops for the checks above
        raise _error(
            f"{path}: JSON that cannot be read ({type(exc).__name__}: {exc})",
            expected="a JSON object written by genproto",
            fix=_RESAVE,
        ) from None


def read_config(directory: str | os.PathLike[str]) -> CheckpointConfig:
    """Read and validate ``genproto.json`` only; the weights are not read (cheap).

    The weights file must exist, but its hash is checked by :func:`read_checkpoint`.
    """
    path = _checkpoint_dir(directory)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise _missing_file(config_path)
    config = CheckpointConfig.from_json(_read_config_json(config_path), where=config_path)
    if not (path / WEIGHTS_FILE).is_file():
        raise _missing_file(path / WEIGHTS_FILE)
    return config


def read_checkpoint(
    directory: str | os.PathLike[str],
) -> tuple[CheckpointConfig, dict[str, torch.Tensor]]:
    """Read and validate a checkpoint: its config and its tensors (on the CPU).

    The weights file's SHA-256 is checked against the config before it is parsed,
    so corruption is reported as corruption. Nothing is unpickled. The tensors come
    back exactly as stored (NaN included); a model checks them with
    :func:`check_tensors_fit` before taking them as its weights.
    """
    config = read_config(directory)
    weights_path = Path(directory) / WEIGHTS_FILE
    try:
        data = weights_path.read_bytes()
    except OSError as exc:
        raise _unreadable(weights_path, exc) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != config.weights_sha256:
        raise _error(
            f"{weights_path}: weights file is corrupted or truncated "
            f"(its sha256 over {len(data)} bytes does not match)",
            value=actual,
            expected=f"sha256 {config.weights_sha256}, as recorded in {CONFIG_FILE}",
            fix="Re-save the checkpoint from the model or re-download it; never edit "
            f"{WEIGHTS_FILE} by hand",
        )
    try:
        tensors = _load_safetensors(data)
    # The file's hash matched, so these are a file written wrong (by hand or another tool):
    # a bad header, a dtype torch lacks (KeyError), sizes that do not fit.
    except (SafetensorError, ValueError, RuntimeError, KeyError, TypeError, OverflowError) as exc:
        raise _error(
            f"{weights_path}: not a readable safetensors file ({exc})",
            expected="a safetensors file written by genproto",
            fix="Re-save the checkpoint from the model or re-download it",
        ) from exc
    if len(tensors) != config.tensor_count:
        raise _error(
            f"{weights_path}: holds {len(tensors)} tensors but {CONFIG_FILE} records "
            f"{config.tensor_count}",
            value=len(tensors),
            expected=f"{config.tensor_count} tensors",
            fix=_RESAVE,
        )
    return config, tensors


def check_tensors_fit(
    tensors: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor], *, model: str
) -> None:
    """Raise unless ``tensors`` can replace a model's ``own`` tensors one for one.

    The same names, and for each the same dtype and shape as the model's own
    parameter or buffer (``load_state_dict`` would silently cast int8 weights, and
    broadcast some shapes), and only finite values: a checkpoint of a diverged
    model samples zeros and returns NaN likelihoods. ``model`` names the model in
    the :class:`CheckpointError`.
    """
    if not isinstance(tensors, Mapping):
        raise ArgumentTypeError(
            f"weights for model {model!r} must be a mapping of name to tensor",
            value=tensors,
            allowed="a dict such as model.state_tensors()",
            fix="Pass the tensors read_checkpoint returns, or model.state_tensors()",
        )
    if set(tensors) != set(own):
        missing = sorted(set(own) - set(tensors))[:5]
        extra = sorted(map(str, set(tensors) - set(own)))[:5]
        raise CheckpointError(
            f"weights do not fit model {model!r}: missing {missing}, unexpected {extra}",
            fix="Load the checkpoint with the options it was saved with",
        )
    fix = "Load the checkpoint with the options it was saved with, or re-save it from the model"
    for name in sorted(own):
        tensor, expected = tensors[name], own[name]
        if not isinstance(tensor, torch.Tensor):
            raise ArgumentTypeError(
                f"weights for model {model!r}: {name!r} must be a tensor",
                value=tensor,
                allowed="torch.Tensor",
                fix="Pass the tensors read_checkpoint returns, or model.state_tensors()",
            )
        if tensor.layout is not torch.strided:
            raise CheckpointError(
                f"weights do not fit model {model!r}: tensor {name!r} is not dense",
                value=tensor.layout,
                allowed="torch.strided",
                fix="Convert it with tensor.to_dense() first",
            )
        if tensor.dtype != expected.dtype:
            raise CheckpointError(
                f"weights do not fit model {model!r}: tensor {name!r} has the wrong dtype",
                value=tensor.dtype,
                allowed=f"{expected.dtype}, the dtype of the model's own {name!r}",
                fix=fix,
            )
        if tensor.shape != expected.shape:
            raise CheckpointError(
                f"weights do not fit model {model!r}: tensor {name!r} has the wrong shape",
                value=tuple(tensor.shape),
                allowed=f"{tuple(expected.shape)}, the shape of the model's own {name!r}",
                fix=fix,
            )
        if (tensor.is_floating_point() or tensor.is_complex()) and tensor.numel():
            finite = torch.isfinite(tensor)
            if not bool(finite.all()):
                bad = int(finite.numel() - int(finite.sum()))
                raise CheckpointError(
                    f"weights of model {model!r}: tensor {name!r} holds {bad} NaN or infinite "
                    f"values (of {tensor.numel()})",
                    allowed="finite values only",
                    fix="The model that wrote them had diverged (e.g. a learning rate too "
                    "large); retrain it or load an earlier checkpoint",
                )
