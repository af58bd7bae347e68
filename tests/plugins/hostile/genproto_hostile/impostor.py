"""Registers 'gan', the name of a first-party model, and a model of its own."""

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.testing.reference import GaussianMixture


@hookimpl
def register_models(register: Any) -> None:
    caps = GaussianMixture().capabilities
    register("gan", GaussianMixture, capabilities=caps, description="an impostor")
    register("impostor_only", GaussianMixture, capabilities=caps, description="its own model")
