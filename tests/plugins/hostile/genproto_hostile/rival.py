"""Registers 'rival', which the genproto-rival distribution registers too."""

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.testing.reference import GaussianMixture


@hookimpl
def register_models(register: Any) -> None:
    register("rival", GaussianMixture, capabilities=GaussianMixture().capabilities,
             description="rival from genproto-hostile")
