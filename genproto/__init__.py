"""genproto: four paradigms of generative models behind one typed, checked protocol.

The few names most users need are here; the rest lives in clearly named
modules (``genproto.registry``, ``genproto.sampling``, ``genproto.data`` ...).
Importing genproto loads no plugin: the registry is built on first use. Nor does it
import torch: the names below load on first access (PEP 562), so ``genproto.testing``'s
pytest plugin, loaded by every pytest run in an environment with genproto, stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genproto import registry
    from genproto.loading import load
    from genproto.model import Model
    from genproto.protocol import (
        PROTOCOL_VERSION,
        Capabilities,
        ConditionKind,
        ConditionSpec,
        CostGrowth,
        EventKind,
        EventSpace,
        GenerativeModel,
        Interpolates,
        Likelihood,
        NoneMeans,
        Paradigm,
        SampleCost,
        TextCodec,
    )

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL_VERSION",
    "Capabilities",
    "ConditionKind",
    "ConditionSpec",
    "CostGrowth",
    "EventKind",
    "EventSpace",
    "GenerativeModel",
    "Likelihood",
    "Model",
    "NoneMeans",
    "Paradigm",
    "SampleCost",
    "Interpolates",
    "TextCodec",
    "__version__",
    "load",
    "registry",
]


_LAZY = {
    "registry": "genproto.registry",
    "Model": "genproto.model",
    "load": "genproto.loading",
    "PROTOCOL_VERSION": "genproto.protocol",
    "Capabilities": "genproto.protocol",
    "ConditionKind": "genproto.protocol",
    "ConditionSpec": "genproto.protocol",
    "CostGrowth": "genproto.protocol",
    "EventKind": "genproto.protocol",
    "EventSpace": "genproto.protocol",
    "GenerativeModel": "genproto.protocol",
    "Likelihood": "genproto.protocol",
    "NoneMeans": "genproto.protocol",
    "Paradigm": "genproto.protocol",
    "SampleCost": "genproto.protocol",
    "Interpolates": "genproto.protocol",
    "TextCodec": "genproto.protocol",
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'genproto' has no attribute {name!r}")
    module = importlib.import_module(where)
    value = module if name == "registry" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
