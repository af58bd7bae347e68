"""The hooks a genproto plugin implements (pluggy, project name ``"genproto"``).

A plugin is a distribution declaring an entry point in group ``genproto`` that
points at a module (or object) with ``@hookimpl`` functions. Hooks receive a
``register`` callback rather than returning values, so one plugin can register
any number of models and the host controls what a registration may contain
(the pattern of simonw/llm)::

    from genproto.hookspecs import hookimpl

    @hookimpl
    def register_models(register):
        register("mymodel", MyModel, capabilities=MY_CAPABILITIES, options=MY_OPTIONS,
                 shipped=Shipped("my_package", "weights/default", {"size": 64}))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pluggy

from genproto.options import Option, Shipped
from genproto.protocol import Capabilities

__all__ = ["PROJECT", "RegisterModel", "Specs", "hookimpl", "hookspec"]

PROJECT = "genproto"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RegisterModel(Protocol):
    """The callback handed to ``register_models``."""

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        capabilities: Capabilities,
        options: Sequence[Option] = (),
        description: str = "",
        shipped: Shipped | Sequence[Shipped] = (),
    ) -> None: ...


class Specs:
    """Hook specifications."""

    @hookspec
    def register_models(self, register: RegisterModel) -> None:
        """Register model factories by calling ``register(name, factory, capabilities=...)``.

        ``factory(**options)`` must return a ``GenerativeModel``; ``options`` declares
        the keyword options it accepts, validated by genproto before the call;
        ``capabilities`` are those of the model built with default options, used by
        ``genproto list`` and ``registry.find`` without building the model;
        ``shipped`` declares packaged weights, for which the registry adds and handles
        the ``pretrained`` option (optional: registrations without it are unchanged,
        so adding it needed no protocol version bump).
        """
