"""genproto: four paradigms of generative models behind one typed, checked protocol.

The few names most users need are here; the rest lives in clearly named
modules (``genproto.registry``, ``genproto.sampling``, ``genproto.data`` ...).
Importing genproto loads no plugin: the registry is built on first use.
"""

from genproto import registry
from genproto.model import Model, load
from genproto.protocol import (
    PROTOCOL_VERSION,
    Capabilities,
    ConditionSpec,
    CostGrowth,
    EventKind,
    EventSpace,
    GenerativeModel,
    Likelihood,
    Paradigm,
    SampleCost,
)

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL_VERSION",
    "Capabilities",
    "ConditionSpec",
    "CostGrowth",
    "EventKind",
    "EventSpace",
    "GenerativeModel",
    "Likelihood",
    "Model",
    "Paradigm",
    "SampleCost",
    "__version__",
    "load",
    "registry",
]
