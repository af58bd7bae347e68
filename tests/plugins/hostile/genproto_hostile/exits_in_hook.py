"""Raises SystemExit inside its hook: must not end the genproto command."""

from typing import Any

from genproto.hookspecs import hookimpl


@hookimpl
def register_models(register: Any) -> None:
    raise SystemExit(4)
