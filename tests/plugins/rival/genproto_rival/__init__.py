"""Registers 'rival', which genproto-hostile registers too."""

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.testing.reference import Categorical


@hookimpl
def register_models(register: Any) -> None:
    register("rival", Categorical, capabilities=Categorical().capabilities,
             description="rival from genproto-rival")
