"""genproto-flow: a RealNVP/Glow-style coupling flow plugin for genproto."""

from genproto_flow.model import CouplingFlow

__all__ = ["CouplingFlow"]
