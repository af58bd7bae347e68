"""genproto: four paradigms of generative models behind one typed, checked protocol."""

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
    "Paradigm",
    "SampleCost",
    "__version__",
]
