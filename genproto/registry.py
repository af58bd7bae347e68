"""Finding models: a fault-isolated pluggy registry over entry-point plugins.

Plugins are distributions with an entry point in group ``genproto``; each
implements the ``register_models`` hook (see :mod:`genproto.hookspecs`). The
registry is built on first use, never at import. Unlike pluggy's own
``load_setuptools_entrypoints``, which aborts on the first plugin that fails,
each entry point is loaded and called on its own, so one broken plugin is
reported (distribution, version, cause) while every other one still loads.
``check_pending`` catches misspelled hook names, which pluggy would otherwise
register silently.

A registration may declare the trained weights its package ships
(``shipped=Shipped(...)``, see :class:`genproto.options.Shipped`). The registry
then owns the ``pretrained`` factory option (default True): it loads the weights
of the shipped configuration the options fit, and refuses any other
configuration with :class:`~genproto.errors.NoShippedWeights`, which says how to
train it. The plugin's factory never sees ``pretrained``.

The environment variable ``GENPROTO_PLUGINS`` (comma-separated entry-point or
distribution names; empty for none) restricts which plugins load.

Typical use::

    import genproto
    model = genproto.registry.get("diffusion", steps=50)
    exact = genproto.registry.find(likelihood="exact")
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import pluggy

from genproto.errors import (
    AmbiguousModelError,
    DuplicateModelError,
    GenprotoError,
    InvalidArgumentError,
    NoShippedWeights,
    PluginError,
    UnknownModelError,
)
from genproto.hookspecs import PROJECT, Specs
from genproto.options import Option, Shipped, validate_options
from genproto.protocol import (
    Capabilities,
    CostGrowth,
    EventKind,
    GenerativeModel,
    Likelihood,
    Paradigm,
    protocol_compatible,
)

__all__ = [
    "ENV_PLUGINS",
    "ENV_PREFER",
    "ENTRY_POINT_GROUP",
    "FIRST_PARTY",
    "Collision",
    "ModelEntry",
    "NAME_PATTERN",
    "PluginRecord",
    "Registry",
    "default",
    "entries",
    "find",
    "get",
    "names",
    "plugins",
    "register",
    "reset",
]

ENTRY_POINT_GROUP = "genproto"
ENV_PLUGINS = "GENPROTO_PLUGINS"
#: ``name=DISTRIBUTION[,name=DISTRIBUTION...]``: who gets a model name several plugins offer.
ENV_PREFER = "GENPROTO_PREFER"
#: The distributions this project ships: on a name collision with any other plugin they keep
#: the name (a third-party plugin can never silently replace one of them).
FIRST_PARTY = frozenset({
    "genproto-ar", "genproto-vae", "genproto-gan", "genproto-diffusion", "genproto-flow",
    "genproto-latent-diffusion", "genproto-transformers", "genproto-diffusers",
})
IN_PROCESS = "<in-process>"
PRETRAINED = "pretrained"


@attrs.frozen
class ModelEntry:
    """A registered model: how to build it and what it declares, before it is built.

    ``options`` are the factory's declared options, plus ``pretrained`` when the
    registration declares ``shipped`` weights.
    """

    name: str
    factory: Callable[..., Any] = attrs.field(eq=False, repr=False)
    capabilities: Capabilities
    options: tuple[Option, ...]
    description: str
    plugin: str
    distribution: str | None
    version: str | None
    shipped: tuple[Shipped, ...] = ()
    #: ``capabilities(**factory options)`` when they follow the options (else ``None``).
    configure: Callable[..., Capabilities] | None = attrs.field(
        default=None, eq=False, repr=False
    )

    def capabilities_for(self, **options: Any) -> Capabilities:
        """What the model built with these factory options declares (options validated).

        ``capabilities`` is this at the default options; a registration whose vocabulary,
        length or shape follows the options gives a function, so ``genproto info NAME -M
        k=v`` and provenance describe the configured model.
        """
        values = validate_options(options, self.options, where=f"model {self.name!r}")
        if self.configure is None:
            return self.capabilities
        return _configured(self.name, self.configure, values)


@attrs.frozen
class PluginRecord:
    """What the registry knows about one plugin: where it came from and how loading went."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    error: str | None = None

    @property
    def loaded(self) -> bool:
        return self.error is None

    def label(self) -> str:
        """``name (distribution version)`` for messages."""
        if self.distribution is None:
            return self.name
        return f"{self.name} ({self.distribution} {self.version})"


@attrs.frozen
class Collision:
    """Several plugins offered one model name; who got it (if anyone) and why.

    The rule does not depend on the order plugins are found in: the distribution named
    for the model in ``GENPROTO_PREFER`` wins; else the one first-party distribution
    (:data:`FIRST_PARTY`); else nobody, and the name is unavailable until the user
    chooses with ``GENPROTO_PREFER=name=DISTRIBUTION``.
    """

    name: str
    offered_by: tuple[str, ...]
    chosen: str | None
    reason: str

    def describe(self) -> str:
        who = ", ".join(self.offered_by)
        if self.chosen is None:
            return f"{self.name!r} offered by {who}: unavailable ({self.reason})"
        return f"{self.name!r} offered by {who}: {self.chosen} keeps it ({self.reason})"


def _normal(distribution: str | None) -> str:
    return (distribution or "").lower().replace("_", "-").replace(".", "-")


def _preferences() -> dict[str, str]:
    raw = os.environ.get(ENV_PREFER, "")
    pairs = (part.split("=", 1) for part in raw.split(",") if "=" in part)
    return {name.strip(): _normal(dist.strip()) for name, dist in pairs}


def _entry_label(entry: ModelEntry) -> str:
    if entry.distribution is None:
        return entry.plugin
    return f"{entry.plugin} ({entry.distribution} {entry.version})"


def _resolve(name: str, offers: Sequence[ModelEntry]) -> tuple[ModelEntry | None, Collision]:
    """The collision rule (see :class:`Collision`) applied to the offers of one name."""
    labels = tuple(sorted(_entry_label(e) for e in offers))
    preferred = _preferences().get(name)
    if preferred is not None:
        chosen = [e for e in offers if preferred in (_normal(e.distribution), _normal(e.plugin))]
        if len(chosen) == 1:
            return chosen[0], Collision(name, labels, _entry_label(chosen[0]),
                                        f"{ENV_PREFER}={name}={preferred}")
    first = [e for e in offers if _normal(e.distribution) in FIRST_PARTY]
    if len(first) == 1:
        return first[0], Collision(name, labels, _entry_label(first[0]),
                                   "a first-party distribution keeps its names")
    return None, Collision(
        name, labels, None,
        f"choose one with {ENV_PREFER}={name}=DISTRIBUTION, or uninstall all but one",
    )


def _contained(exc: BaseException) -> bool:
    """Whether a plugin's exception is contained (recorded) rather than re-raised.

    Everything a plugin raises at import or in its hook is contained — SystemExit
    included, which would otherwise end every genproto command silently — except a
    real Ctrl-C.
    """
    return not isinstance(exc, KeyboardInterrupt)


#: Model names: letters, digits and '_', with single '-' or '.' between parts.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z0-9_]+)*")


def _configured(
    name: str, configure: Callable[..., Capabilities], values: Mapping[str, Any]
) -> Capabilities:
    """Call a registration's capabilities function with the factory options it names.

    A function with ``**kwargs`` gets every factory option; otherwise only the ones its
    signature names (so a plugin's ``capabilities(dataset="digits")`` is passed as is).
    """
    arguments = {k: v for k, v in values.items() if k != PRETRAINED}
    try:
        parameters = inspect.signature(configure).parameters.values()
    except (TypeError, ValueError):
        parameters = None
    if parameters is not None and not any(p.kind is p.VAR_KEYWORD for p in parameters):
        names = {p.name for p in parameters}
        arguments = {k: v for k, v in arguments.items() if k in names}
    try:
        caps = configure(**arguments)
    except GenprotoError:
        raise
    except Exception as exc:
        raise PluginError(
            f"capabilities of model {name!r} for options {arguments} failed: "
            f"{type(exc).__name__}: {exc}",
            fix="This is a bug in the plugin; report it to its authors",
        ) from exc
    if not isinstance(caps, Capabilities):
        raise PluginError(f"capabilities function of model {name!r} returned", value=caps,
                          allowed="a genproto.Capabilities")
    return caps


def _entry(
    name: str, factory: Callable[..., Any], capabilities: Any, options: Sequence[Option],
    description: str, plugin: str, distribution: str | None, version: str | None,
    shipped: Shipped | Sequence[Shipped],
) -> ModelEntry:
    """A ModelEntry from ``register``'s arguments; capabilities may be a function of options."""
    weights = _shipped_tuple(shipped)
    declared = _declared_options(name, options, weights)
    configure = None
    if callable(capabilities) and not isinstance(capabilities, Capabilities):
        configure = capabilities
        defaults = {o.name: o.default for o in declared if isinstance(o, Option)}
        capabilities = _configured(name, configure, defaults)
    return ModelEntry(name, factory, capabilities, declared, description, plugin,
                      distribution, version, weights, configure)


def _allowed_from_env() -> frozenset[str] | None:
    raw = os.environ.get(ENV_PLUGINS)
    if raw is None:
        return None
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _coerce_enum(enum_type: type[Any], value: Any, argument: str) -> Any:
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        raise InvalidArgumentError(
            f"find() argument {argument!r}",
            value=value,
            allowed=", ".join(repr(m.value) for m in enum_type),
        ) from None


def _shipped_tuple(shipped: Shipped | Sequence[Shipped]) -> tuple[Shipped, ...]:
    return (shipped,) if isinstance(shipped, Shipped) else tuple(shipped)


def _declared_options(
    name: str, options: Sequence[Option], shipped: tuple[Shipped, ...]
) -> tuple[Option, ...]:
    """The factory's options, plus the registry's own ``pretrained`` when weights ship.

    Checks that every shipped configuration names declared options with allowed values.
    """
    declared = tuple(options)
    if not shipped:
        return declared
    if not all(isinstance(s, Shipped) for s in shipped):
        raise PluginError(f"shipped weights of model {name!r}", value=shipped,
                          allowed="a genproto.options.Shipped or a sequence of them")
    specs = {o.name: o for o in declared if isinstance(o, Option)}
    if PRETRAINED in specs:
        raise PluginError(
            f"model {name!r} declares its own {PRETRAINED!r} option beside shipped weights",
            allowed=f"shipped=... alone: the registry adds {PRETRAINED!r}",
            fix=f"Remove the {PRETRAINED!r} Option and its handling from the factory",
        )
    for weights in shipped:
        for option in weights.options:
            spec = specs.get(option)
            if spec is None:
                raise PluginError(
                    f"shipped weights {'/'.join(weights.path)} of model {name!r} name an "
                    "undeclared option", value=option, allowed=", ".join(specs) or "no options",
                )
            for value in weights.accepted(option):
                try:
                    spec.validate(value, where=f"shipped weights of model {name!r}")
                except GenprotoError as exc:
                    raise PluginError(str(exc)) from None
    where = " or ".join(f"({s.describe()})" for s in shipped)
    pretrained = Option(PRETRAINED, bool, True,
                        f"load the shipped weights (only with {where}); False: untrained")
    return (*declared, pretrained)


def _cli_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _shipped_weights(entry: ModelEntry, values: Mapping[str, Any]) -> Shipped | None:
    """The shipped weights that fit ``values`` (None with ``pretrained=False``), or raise."""
    if not entry.shipped or not values[PRETRAINED]:
        return None
    for weights in entry.shipped:
        if not weights.differing(values):
            return weights
    nearest = min(entry.shipped, key=lambda w: len(w.differing(values)))
    asked = "".join(
        f"-M {o.name}={_cli_value(values[o.name])} "
        for o in entry.options
        if o.name != PRETRAINED and values[o.name] != o.default
    )
    raise NoShippedWeights(
        entry.name,
        configurations=[w.describe() for w in entry.shipped],
        differing=nearest.differing(values),
        command=f"genproto train {entry.name} {asked}-M {PRETRAINED}=false -o DIR",
    )


class Registry:
    """Models registered by plugins (from entry points) and in-process.

    Args:
        entry_points: whether to load plugins from the ``genproto`` entry-point group.
        allow: names of the entry points or distributions to load; ``None`` reads
            ``GENPROTO_PLUGINS`` (unset: load all).
    """

    def __init__(
        self, *, entry_points: bool = True, allow: Iterable[str] | None = None
    ) -> None:
        self._use_entry_points = entry_points
        self._allow = frozenset(allow) if allow is not None else _allowed_from_env()
        self._manager = pluggy.PluginManager(PROJECT)
        self._manager.add_hookspecs(Specs)
        self._entries: dict[str, ModelEntry] = {}
        # Every model name a plugin offered, with every offer: resolved by _resolve.
        self._offers: dict[str, list[ModelEntry]] = {}
        self._collisions: dict[str, Collision] = {}
        self._plugins: dict[str, PluginRecord] = {}
        self._loaded = False
        self._lock = threading.RLock()

    # -- loading ---------------------------------------------------------------------------

    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            if self._use_entry_points:
                for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                    dist = ep.dist
                    dist_name = dist.name if dist is not None else None
                    if self._allow is not None and not (
                        ep.name in self._allow or dist_name in self._allow
                    ):
                        continue
                    self._load_entry_point(ep)

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint) -> None:
        dist = ep.dist
        distribution = dist.name if dist is not None else None
        version = dist.version if dist is not None else None
        try:
            plugin = ep.load()
        except BaseException as exc:  # a broken plugin must not stop the others
            if not _contained(exc):
                raise
            self._plugins[ep.name] = PluginRecord(
                ep.name, distribution, version, error=f"import failed: {type(exc).__name__}: {exc}"
            )
            return
        self.add_plugin(plugin, name=ep.name, distribution=distribution, version=version)

    def add_plugin(
        self,
        plugin: object,
        *,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginRecord:
        """Register a pluggy plugin object (a module or instance with ``@hookimpl`` functions).

        Failures are recorded on the returned :class:`PluginRecord` (and in
        :meth:`plugins`) instead of raised, so one plugin cannot break the rest.
        Models the plugin registered before failing are withdrawn.
        """
        with self._lock:
            if name in self._plugins:
                raise PluginError(
                    "plugin name already registered",
                    value=name,
                    allowed="a name not in " + ", ".join(sorted(self._plugins)),
                    fix="Give the plugin another name",
                )
            record = self._register_plugin(plugin, name, distribution, version)
            self._plugins[name] = record
            return record

    def _register_plugin(
        self, plugin: object, name: str, distribution: str | None, version: str | None
    ) -> PluginRecord:
        try:
            self._manager.register(plugin, name=name)
        except BaseException as exc:
            if not _contained(exc):
                raise
            return PluginRecord(name, distribution, version, error=f"invalid hooks: {exc}")
        hooks = tuple(
            sorted(caller.name for caller in self._manager.get_hookcallers(plugin) or [])
        )
        try:
            self._manager.check_pending()
        except pluggy.PluginValidationError as exc:
            self._manager.unregister(plugin)
            known = [n for n in dir(Specs) if not n.startswith("_")]
            unknown = [h for h in hooks if h not in known]
            close = [m for h in unknown for m in difflib.get_close_matches(h, known, n=1)]
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            return PluginRecord(
                name, distribution, version, hooks, error=f"unknown hook {unknown}{hint}: {exc}"
            )
        registered: list[str] = []
        caller = self._manager.hook.register_models
        try:
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                register = self._make_register(name, distribution, version, registered)
                impl.function(**{arg: register for arg in impl.argnames})
        except BaseException as exc:
            if not _contained(exc):
                raise
            self._withdraw(name, registered)
            self._manager.unregister(plugin)
            return PluginRecord(
                name,
                distribution,
                version,
                hooks,
                error=f"register_models failed: {type(exc).__name__}: {exc}",
            )
        return PluginRecord(name, distribution, version, hooks, tuple(registered))

    def _make_register(
        self,
        plugin_name: str,
        distribution: str | None,
        version: str | None,
        registered: list[str],
    ) -> Callable[..., None]:
        def register(
            name: str,
            factory: Callable[..., Any],
            *,
            capabilities: Capabilities | Callable[..., Capabilities],
            options: Sequence[Option] = (),
            description: str = "",
            shipped: Shipped | Sequence[Shipped] = (),
        ) -> None:
            self._offer(_entry(name, factory, capabilities, options, description,
                               plugin_name, distribution, version, shipped))
            registered.append(name)

        return register

    def _offer(self, entry: ModelEntry) -> None:
        """A plugin's registration: validated, then the name goes to whoever the rule says."""
        self._validate_entry(entry)
        offers = self._offers.setdefault(entry.name, [])
        if any(e.plugin == entry.plugin for e in offers):
            raise DuplicateModelError(entry.name, entry.plugin, entry.plugin)
        existing = self._entries.get(entry.name)
        if existing is not None and existing.plugin == IN_PROCESS:
            raise DuplicateModelError(entry.name, existing.plugin, entry.plugin)
        offers.append(entry)
        self._settle(entry.name)

    def _withdraw(self, plugin: str, names: Sequence[str]) -> None:
        """Take back the offers of a plugin that failed half-way."""
        for name in names:
            self._offers[name] = [e for e in self._offers.get(name, []) if e.plugin != plugin]
            self._settle(name)

    def _settle(self, name: str) -> None:
        """Give ``name`` to the offer the collision rule picks (or to nobody)."""
        offers = self._offers.get(name, [])
        self._collisions.pop(name, None)
        self._entries.pop(name, None)
        if not offers:
            self._offers.pop(name, None)
            return
        if len(offers) == 1:
            self._entries[name] = offers[0]
            return
        chosen, collision = _resolve(name, offers)
        self._collisions[name] = collision
        if chosen is not None:
            self._entries[name] = chosen

    def _add_entry(self, entry: ModelEntry) -> None:
        """An in-process registration: a taken name is an error (the caller chose it)."""
        self._validate_entry(entry)
        existing = self._entries.get(entry.name)
        if existing is not None or entry.name in self._collisions:
            first = existing.plugin if existing else min(
                e.plugin for e in self._offers[entry.name]
            )
            raise DuplicateModelError(entry.name, first, entry.plugin)
        self._entries[entry.name] = entry

    def _validate_entry(self, entry: ModelEntry) -> None:
        if not isinstance(entry.name, str) or not NAME_PATTERN.fullmatch(entry.name):
            raise PluginError(
                "model name",
                value=entry.name,
                allowed="letters, digits and '_', parts joined by single '-' or '.', e.g. "
                f"'diffusion', 'hf-causal-lm', 'org.model' (the pattern {NAME_PATTERN.pattern})",
            )
        if not callable(entry.factory):
            raise PluginError(f"factory of model {entry.name!r}", value=entry.factory,
                              allowed="a callable returning a GenerativeModel")
        if not isinstance(entry.capabilities, Capabilities):
            raise PluginError(
                f"capabilities of model {entry.name!r}",
                value=entry.capabilities,
                allowed="a genproto.Capabilities",
            )
        if not all(isinstance(o, Option) for o in entry.options):
            raise PluginError(
                f"options of model {entry.name!r}",
                value=entry.options,
                allowed="a sequence of genproto.options.Option",
            )
        version = entry.capabilities.protocol_version
        if not protocol_compatible(version):
            from genproto.protocol import LEGACY_VERSIONS, PROTOCOL_VERSION

            raise PluginError(
                f"model {entry.name!r} implements protocol {version}",
                allowed=f"protocol {PROTOCOL_VERSION.split('.')[0]}.x up to {PROTOCOL_VERSION}, "
                f"or {' or '.join(LEGACY_VERSIONS)}",
                fix="Upgrade genproto, or install a plugin version made for this genproto",
            )

    # -- in-process registration ------------------------------------------------------------

    def register(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        capabilities: Capabilities | Callable[..., Capabilities],
        options: Sequence[Option] = (),
        description: str = "",
        shipped: Shipped | Sequence[Shipped] = (),
    ) -> ModelEntry:
        """Register a model factory from the running program (no plugin needed)."""
        self._ensure_loaded()
        with self._lock:
            entry = _entry(name, factory, capabilities, options, description, IN_PROCESS,
                           None, None, shipped)
            self._add_entry(entry)
            return entry

    def unregister(self, name: str) -> None:
        """Remove an in-process registration (plugins' models are removed with the plugin)."""
        with self._lock:
            self.entry(name)
            del self._entries[name]

    # -- queries ----------------------------------------------------------------------------

    def entry(self, name: str) -> ModelEntry:
        """The registration of ``name``; ``UnknownModelError`` with close matches if absent."""
        self._ensure_loaded()
        if not isinstance(name, str):
            raise UnknownModelError(repr(name), available=sorted(self._entries))
        found = self._entries.get(name)
        if found is None and name in self._collisions:
            collision = self._collisions[name]
            raise AmbiguousModelError(name, collision.offered_by, fix=collision.reason)
        if found is None:
            raise UnknownModelError(
                name,
                available=sorted(self._entries),
                suggestions=difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5),
                failed_plugins=[r.label() for r in self._plugins.values() if not r.loaded],
            )
        return found

    def get(self, name: str, **options: Any) -> GenerativeModel:
        """Build a ready model: options are validated against the declared ones first.

        With shipped weights declared, ``pretrained`` (default True) loads them; a
        configuration they do not fit raises :class:`~genproto.errors.NoShippedWeights`.
        """
        entry = self.entry(name)
        values = validate_options(options, entry.options, where=f"model {name!r}")
        weights = _shipped_weights(entry, values)
        arguments = {k: v for k, v in values.items() if not (entry.shipped and k == PRETRAINED)}
        try:
            model = entry.factory(**arguments)
        except GenprotoError:
            raise
        except BaseException as exc:
            if not _contained(exc):
                raise
            raise PluginError(
                f"factory of model {name!r} (plugin {entry.plugin}) failed: "
                f"{type(exc).__name__}: {exc}",
                fix="This is a bug in the plugin; report it to its authors",
            ) from exc
        if not isinstance(model, GenerativeModel):
            raise PluginError(
                f"factory of model {name!r} returned",
                value=model,
                allowed="an object implementing genproto.GenerativeModel",
                fix="This is a bug in the plugin; report it to its authors",
            )
        if weights is not None:
            load = getattr(model, "load_packaged_weights", None)
            if not callable(load):
                raise PluginError(
                    f"model {name!r} declares shipped weights but its factory returned",
                    value=model, allowed="a genproto.Model (which has load_packaged_weights)",
                    fix="This is a bug in the plugin; report it to its authors",
                )
            load(weights.package, *weights.path)
        bind = getattr(model, "bind_origin", None)
        if callable(bind):
            bind(name=name, options=values, distribution=entry.distribution, version=entry.version)
        return model

    def names(self) -> list[str]:
        """Sorted names of every registered model."""
        self._ensure_loaded()
        return sorted(self._entries)

    def entries(self) -> list[ModelEntry]:
        """Every registration, sorted by name."""
        self._ensure_loaded()
        return [self._entries[n] for n in sorted(self._entries)]

    def plugins(self) -> list[PluginRecord]:
        """Every plugin seen, loaded or failed, sorted by name."""
        self._ensure_loaded()
        return [self._plugins[n] for n in sorted(self._plugins)]

    def collisions(self) -> list[Collision]:
        """Every model name that several plugins offered, with who got it, sorted by name."""
        self._ensure_loaded()
        return [self._collisions[n] for n in sorted(self._collisions)]

    def failures(self) -> list[PluginRecord]:
        """Plugins that failed to load, with their causes."""
        return [p for p in self.plugins() if not p.loaded]

    def find(
        self,
        *,
        likelihood: Likelihood | str | None = None,
        cost: CostGrowth | str | None = None,
        paradigm: Paradigm | str | None = None,
        conditional: bool | None = None,
        event: EventKind | str | None = None,
    ) -> list[ModelEntry]:
        """Registrations whose declared capabilities match every criterion given.

        ``find(likelihood="exact")``, ``find(cost="single_pass")``,
        ``find(paradigm="diffusion")`` (matches hybrids containing it).
        """
        want_l = None if likelihood is None else _coerce_enum(Likelihood, likelihood, "likelihood")
        want_c = None if cost is None else _coerce_enum(CostGrowth, cost, "cost")
        want_p = None if paradigm is None else _coerce_enum(Paradigm, paradigm, "paradigm")
        want_e = None if event is None else _coerce_enum(EventKind, event, "event")
        if conditional is not None and not isinstance(conditional, bool):
            raise InvalidArgumentError(
                "find() argument 'conditional'", value=conditional, allowed="True, False or None"
            )
        found = []
        for entry in self.entries():
            caps = entry.capabilities
            if want_l is not None and caps.likelihood is not want_l:
                continue
            if want_c is not None and caps.cost.growth is not want_c:
                continue
            if want_p is not None and want_p not in caps.paradigms:
                continue
            if want_e is not None and caps.event.kind is not want_e:
                continue
            if conditional is not None and caps.conditional is not conditional:
                continue
            found.append(entry)
        return found


# -- the process-wide default registry ---------------------------------------------------------

_default: Registry | None = None
_default_lock = threading.Lock()


def default() -> Registry:
    """The process-wide registry, built (and its plugins loaded) on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Registry()
        return _default


def reset() -> None:
    """Forget the default registry so the next use rebuilds it (e.g. after ``pip install``)."""
    global _default
    with _default_lock:
        _default = None


def get(name: str, **options: Any) -> GenerativeModel:
    """Build the model registered as ``name`` in the default registry."""
    return default().get(name, **options)


def find(**criteria: Any) -> list[ModelEntry]:
    """Registrations in the default registry matching the criteria (see :meth:`Registry.find`)."""
    return default().find(**criteria)


def names() -> list[str]:
    """Names of every model in the default registry."""
    return default().names()


def entries() -> list[ModelEntry]:
    """Every registration in the default registry."""
    return default().entries()


def plugins() -> list[PluginRecord]:
    """Every plugin the default registry saw, with load errors."""
    return default().plugins()


def register(
    name: str,
    factory: Callable[..., Any],
    *,
    capabilities: Capabilities | Callable[..., Capabilities],
    options: Sequence[Option] = (),
    description: str = "",
    shipped: Shipped | Sequence[Shipped] = (),
) -> ModelEntry:
    """Register a model factory in the default registry from the running program."""
    return default().register(
        name, factory, capabilities=capabilities, options=options, description=description,
        shipped=shipped,
    )

