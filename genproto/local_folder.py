"""Local model folders written by another library's ``save_pretrained``: the checks adapters share.

An adapter plugin (``genproto-transformers``, ``genproto-diffusers``) wraps a folder the
user names with a ``path`` option. Before the library reads anything, the folder must
exist (genproto never downloads: a hub id is a missing folder) and its JSON files must
hold objects; each failure is one typed error naming the folder and the fix. The
library-specific checks (which model classes, which weight files) stay in the adapters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from genproto.errors import CheckpointError, CheckpointNotFoundError, OptionError

__all__ = ["local_folder", "read_json_object", "resolve_device"]


def local_folder(path: str | Path | None, *, model: str, contents: str, example: str,
                 save: str) -> Path:
    """The resolved folder ``path`` names.

    Args:
        path: the ``path`` option's value.
        model: the registry name, for the message (``"hf-causal-lm"``).
        contents: what the folder holds, for the message.
        example: a call and a command that pass the option.
        save: how to write such a folder (``"model.save_pretrained(DIR) ..."``).

    Raises:
        OptionError: ``path`` is None.
        CheckpointNotFoundError: no folder there.
    """
    if path is None:
        raise OptionError(
            f"model {model!r} needs option 'path'", option="path", value=None,
            allowed=f"a local folder written by save_pretrained ({contents})",
            fix=f"Pass path=DIR, e.g. {example}",
        )
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise CheckpointNotFoundError(
            "no model folder at path", value=str(path),
            allowed="an existing local folder written by save_pretrained",
            fix=f"Check the path; genproto never downloads ({save} first)",
        )
    return folder.resolve()


def read_json_object(path: Path, *, fix: str) -> dict[str, Any]:
    """The JSON object in ``path``; a :class:`CheckpointError` naming the file otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {type(exc).__name__}: {exc}",
                              fix=fix) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object", value=type(data).__name__,
                              fix=fix)
    return data


def resolve_device(device: str) -> torch.device:
    """``"auto"``: the first CUDA device when there is one, else the CPU; else as named."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
