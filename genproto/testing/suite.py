"""The runner: every contract property on one model, prerequisites first, as a :class:`Report`.

The three front ends -- :func:`check_model`, the pytest plugin and ``genproto check`` -- all run
the properties through a :class:`ContractSession`, which builds the model once, runs each
property at most once (lazily, so pytest can ask for one at a time), and reports a property whose
prerequisite failed as ``prerequisite-failed`` instead of piling a second failure on the first.

=================  ======================================
property           requires
=================  ======================================
conformance        --
shape              conformance
determinism        shape
batch_invariance   determinism
cost               shape
likelihood_values  shape
exact_determinism  likelihood_values
likelihood         shape, exact_determinism
conditioning       determinism, likelihood_values
bad_input          shape
side_effects       determinism, likelihood_values
persistence        determinism, likelihood_values
truth              likelihood_values
=================  ======================================

``truth`` (:mod:`genproto.testing.truth`) applies where the density of the model's data is known:
given as ``truth=`` (here, ``genproto check --truth``, ``pytest --genproto-truth``) or inferred
from the model's factory option ``dataset=`` when it names a toy2d density.

A property that fails nothing but could not decide a sub-check (a quadrature that does not
converge) is ``inconclusive``: reported as such, never as a pass, and not a failure either (no
failing exit status). Every verdict carries the seconds its property took.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import torch

from genproto.errors import ContractViolation, GenprotoError, InvalidArgumentError
from genproto.protocol import GenerativeModel
from genproto.streams import check_seed
from genproto.testing import PROPERTY_NAMES
from genproto.testing import strategies as gs
from genproto.testing._core import (
    Inconclusive,
    ModelSource,
    NotApplicable,
    Notes,
    preserved_global_rng,
    resolve,
    suite_seed,
)

__all__ = [
    "PROPERTY_NAMES",
    "ContractSession",
    "PropertyResult",
    "PropertySpec",
    "Report",
    "Status",
    "check_model",
    "property_specs",
    "summary",
]


class Status(enum.Enum):
    """The verdict on one property."""

    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "not-applicable"
    PREREQUISITE_FAILED = "prerequisite-failed"


_WORDS = {
    Status.PASSED: "PASS",
    Status.FAILED: "FAIL",
    Status.INCONCLUSIVE: "INCONCLUSIVE",
    Status.NOT_APPLICABLE: "N/A",
    Status.PREREQUISITE_FAILED: "SKIP",
}


@attrs.frozen
class PropertyResult:
    """One property's verdict.

    Attributes:
        name: the property's name.
        status: passed, failed, inconclusive, not applicable or prerequisite failed.
        message: the failure, what could not be decided, the declared reason it does not apply,
            or the failed prerequisite (empty for a pass).
        reproduction: one line of Python that shows the failure again.
        example: the shrunk counterexample (``n``, ``seed``, ``batch_size``, ``condition`` ...).
        notes: sub-checks that were skipped, with their reasons (also for a pass).
        seconds: how long the property took.
    """

    name: str
    status: Status
    message: str = ""
    reproduction: str | None = None
    example: Mapping[str, Any] = attrs.field(factory=dict)
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Not a failure (a property that does not apply, or is inconclusive, is not a
        failure)."""
        return self.status is not Status.FAILED

    def line(self, width: int = 18) -> str:
        """One line with the time taken: ``shape  PASS  (0.09 s)`` / ``FAIL  (0.02 s)  <message>
        | counterexample: ... | reproduce: ...`` / ``N/A  (0.00 s)  <reason>``."""
        head = f"{self.name:<{width}} {_WORDS[self.status]:<4}  ({self.seconds:.2f} s)"
        if self.status is Status.PASSED:
            return head
        text = f"{head}  {self.message}"
        if self.example:
            text += " | counterexample: " + ", ".join(f"{k}={v!r}" for k, v in self.example.items())
        if self.reproduction:
            text += f" | reproduce: {self.reproduction}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "property": self.name,
            "status": self.status.value,
            "message": self.message,
            "reproduction": self.reproduction,
            "example": {k: _jsonable(v) for k, v in self.example.items()},
            "notes": list(self.notes),
            "seconds": round(self.seconds, 4),
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


@attrs.frozen
class Report:
    """Every property's verdict on one model.

    Attributes:
        model: the model's name.
        profile: the Hypothesis profile the properties ran under.
        results: one verdict per property run, in the table's order.
        seed: the suite seed they ran with (``None``: the fixed default draws).
    """

    model: str
    profile: str
    results: tuple[PropertyResult, ...]
    seed: int | None = None

    @property
    def ok(self) -> bool:
        """No property failed."""
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> tuple[PropertyResult, ...]:
        return tuple(r for r in self.results if r.status is Status.FAILED)

    @property
    def inconclusive(self) -> tuple[PropertyResult, ...]:
        """Properties that failed nothing but could not decide a sub-check."""
        return tuple(r for r in self.results if r.status is Status.INCONCLUSIVE)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    def __getitem__(self, name: str) -> PropertyResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def status(self) -> dict[str, Status]:
        """``{property: status}``, e.g. to assert which properties a model breaks."""
        return {r.name: r.status for r in self.results}

    def lines(self) -> list[str]:
        """One line per property, the notes of skipped or undecided sub-checks indented below
        (an inconclusive property's undecided sub-checks are its message, not repeated)."""
        out = []
        for r in self.results:
            out.append(f"{self.model}  {r.line()}")
            out.extend(f"{self.model}    note: {note}" for note in r.notes
                       if not isinstance(note, Inconclusive))
        return out

    def format(self) -> str:
        return "\n".join(self.lines())

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "profile": self.profile,
            "seed": self.seed,
            "ok": self.ok,
            "inconclusive": [r.name for r in self.inconclusive],
            "seconds": round(self.seconds, 4),
            "results": [r.to_dict() for r in self.results],
        }

    def raise_for_failures(self) -> None:
        """Raise :class:`ContractViolation` naming every failed property; no-op when ``ok``."""
        failed = self.failures
        if not failed:
            return
        first = failed[0]
        detail = "; ".join(f"[{r.name}] {r.message}" for r in failed)
        raise ContractViolation(
            ", ".join(r.name for r in failed),
            f"model {self.model!r} failed {len(failed)} propert"
            f"{'y' if len(failed) == 1 else 'ies'}: {detail}",
            reproduction=first.reproduction,
            example=first.example,
        )


# -- the properties ----------------------------------------------------------------------------


@attrs.frozen
class PropertySpec:
    """A property of the contract: its name, what it checks, what it needs first, how to run it."""

    name: str
    summary: str
    requires: tuple[str, ...]
    run: Callable[[ContractSession], Notes] = attrs.field(eq=False, repr=False)


def _spec_table() -> tuple[PropertySpec, ...]:
    from genproto.testing import likelihood as lk
    from genproto.testing import properties as pr
    from genproto.testing import truth as tr

    def on_model(fn: Callable[..., Notes]) -> Callable[[ContractSession], Notes]:
        return lambda s: fn(s.model, profile=s.profile)

    return (
        PropertySpec("conformance", "GenerativeModel implemented; capabilities consistent", (),
                     lambda s: pr.check_conformance(s.model, registry=s.registry)),
        PropertySpec("shape", "shape, dtype, device and support of samples", ("conformance",),
                     on_model(pr.check_shape)),
        PropertySpec("determinism", "same seed same samples; no global RNG", ("shape",),
                     on_model(pr.check_determinism)),
        PropertySpec("batch_invariance", "samples independent of batching", ("determinism",),
                     on_model(pr.check_batch_invariance)),
        PropertySpec("cost", "counted evaluations equal the declared cost", ("shape",),
                     on_model(pr.check_cost)),
        PropertySpec("likelihood_values", "one finite float per row, reproducible",
                     ("shape",), on_model(lk.check_likelihood_values)),
        PropertySpec("exact_determinism", "an exact likelihood ignores seed, row and batch",
                     ("likelihood_values",), on_model(lk.check_exact_determinism)),
        PropertySpec("likelihood", "log_likelihood honest about its declared kind",
                     ("shape", "exact_determinism"),
                     lambda s: lk.check_likelihood(s.model, tiny=s.tiny,
                                                   exact_log_prob=s.exact_log_prob,
                                                   profile=s.profile)),
        PropertySpec("conditioning", "samples follow the condition; bad ones refused",
                     ("determinism", "likelihood_values"),
                     lambda s: pr.check_conditioning(s.model, tiny=s.tiny, profile=s.profile)),
        PropertySpec("bad_input", "bad arguments raise the documented typed error",
                     ("shape",), on_model(pr.check_bad_input)),
        PropertySpec("side_effects", "a fresh model's first calls change nothing outside",
                     ("determinism", "likelihood_values"),
                     lambda s: pr.check_side_effects(s.model, factory=s.factory,
                                                     profile=s.profile)),
        PropertySpec("persistence", "save then load gives the same samples and likelihoods",
                     ("determinism", "likelihood_values"),
                     lambda s: pr.check_persistence(s.factory or s.model, registry=s.registry,
                                                    profile=s.profile)),
        PropertySpec("truth", "no model beats the truth: not above the data's known density",
                     ("likelihood_values",),
                     lambda s: tr.check_truth(s.model, truth=s.truth, options=s.options,
                                              profile=s.profile)),
    )


@functools.cache
def property_specs() -> tuple[PropertySpec, ...]:
    """Every property of the contract, in the order they run."""
    return _spec_table()


def _spec(name: str) -> PropertySpec:
    for spec in property_specs():
        if spec.name == name:
            return spec
    raise InvalidArgumentError("contract property", value=name,
                               allowed=", ".join(PROPERTY_NAMES))


# -- running -----------------------------------------------------------------------------------


class ContractSession:
    """Runs the contract properties on one model, each at most once, prerequisites first.

    Args:
        source: the model, a factory without arguments that builds it, or the registry name of
            an installed model.
        tiny: a small configuration of the same model (or its factory) for the checks that sum
            or integrate over the event space (likelihood, conditioning).
        exact_log_prob: the known log-density of the (tiny) model's class marginal, if any.
        profile: the Hypothesis settings profile: ``"ci"`` (``"genproto-ci"``, the default) or
            ``"thorough"`` (``"genproto-thorough"``).
        registry: the registry a model of ``source`` (a name) comes from; default: the installed
            plugins.
        options: model options for a ``source`` given by name.
        seed: the seed of everything the suite draws: Hypothesis's examples (drawn at random
            from it instead of the profile's fixed ones) and the statistical checks' samples;
            default ``None``, the fixed draws that make CI runs identical.
        truth: the known density of the model's data for the ``truth`` property: a toy2d name
            (``"eight_gaussians"``) or an object with ``log_prob(x)`` and ``sample(n,
            generator)`` (:class:`genproto.data.Toy2D`); default: inferred from the factory
            option ``dataset=`` when it names a toy2d density.

    Raises:
        InvalidArgumentError: an unknown profile, a bad seed or an unknown toy2d name.
        ArgumentTypeError: a ``truth`` without ``log_prob`` and ``sample``.
    """

    def __init__(
        self,
        source: ModelSource | str,
        *,
        tiny: ModelSource | None = None,
        exact_log_prob: Callable[[torch.Tensor], torch.Tensor] | None = None,
        profile: str = gs.CI_PROFILE,
        registry: Any = None,
        options: Mapping[str, Any] | None = None,
        seed: int | None = None,
        truth: Any = None,
    ) -> None:
        from genproto.testing.truth import Truth, resolve_truth

        # an unknown profile, a bad seed or a bad truth fails here, before anything runs
        self.profile = gs.profile_name(profile)
        self.seed = None if seed is None else check_seed(seed)
        self.truth: Truth | None = None if truth is None else resolve_truth(truth)
        self.options: dict[str, Any] = dict(options or {})
        self.exact_log_prob = exact_log_prob
        self.registry = registry
        self._results: dict[str, PropertyResult] = {}
        self._tiny_source = tiny
        self._tiny: GenerativeModel | None = None
        self._model: GenerativeModel | None = None
        self.factory: Callable[[], GenerativeModel] | None = None
        if isinstance(source, str):
            from genproto import registry as registry_module

            reg = registry if registry is not None else registry_module.default()
            reg.entry(source)  # UnknownModelError (with suggestions) now, not mid-run
            self.registry = reg
            values = dict(options or {})
            self.label = source
            self._source: ModelSource = lambda: reg.get(source, **values)
        else:
            self._source = source
            name = getattr(source, "name", None)
            self.label = name if isinstance(name, str) else getattr(source, "__name__", "model")

    @property
    def model(self) -> GenerativeModel:
        """The model under test, built on first use."""
        if self._model is None:
            model, factory = resolve(self._source)
            self._model, self.factory = model, factory
            self.label = model.name if isinstance(model.name, str) else self.label
        return self._model

    @property
    def tiny(self) -> GenerativeModel | None:
        """The tiny configuration, built on first use (``None`` when none was given)."""
        if self._tiny is None and self._tiny_source is not None:
            self._tiny = resolve(self._tiny_source)[0]
        return self._tiny

    def result(self, name: str) -> PropertyResult:
        """Run ``name`` (after its prerequisites) unless done; its verdict."""
        if name in self._results:
            return self._results[name]
        spec = _spec(name)
        failed = []
        for need in spec.requires:
            if self.result(need).status in (Status.FAILED, Status.PREREQUISITE_FAILED):
                failed.append(need)
        if failed:
            outcome = PropertyResult(
                name, Status.PREREQUISITE_FAILED,
                f"prerequisite failed: {', '.join(failed)} (fix that first)",
            )
        else:
            outcome = self._run(spec)
        self._results[name] = outcome
        return outcome

    def _run(self, spec: PropertySpec) -> PropertyResult:
        started = time.perf_counter()
        try:
            with preserved_global_rng(), suite_seed(self.seed):
                notes = spec.run(self)
        except ContractViolation as exc:
            return PropertyResult(spec.name, Status.FAILED, exc.detail, exc.reproduction,
                                  exc.example, (), time.perf_counter() - started)
        except NotApplicable as exc:
            return PropertyResult(spec.name, Status.NOT_APPLICABLE, f"not applicable: {exc.reason}",
                                  seconds=time.perf_counter() - started)
        except GenprotoError as exc:
            return PropertyResult(spec.name, Status.FAILED, f"{type(exc).__name__}: {exc}",
                                  seconds=time.perf_counter() - started)
        except Exception as exc:
            return PropertyResult(spec.name, Status.FAILED,
                                  f"unexpected {type(exc).__name__}: {exc}".replace("\n", " "),
                                  seconds=time.perf_counter() - started)
        notes = tuple(notes)
        undecided = [note for note in notes if isinstance(note, Inconclusive)]
        if undecided:
            return PropertyResult(spec.name, Status.INCONCLUSIVE,
                                  "inconclusive: " + "; ".join(undecided), notes=notes,
                                  seconds=time.perf_counter() - started)
        return PropertyResult(spec.name, Status.PASSED, notes=notes,
                              seconds=time.perf_counter() - started)

    def report(self, properties: Iterable[str] | None = None) -> Report:
        """Run ``properties`` (default: all) and report on them, in the table's order."""
        wanted = list(PROPERTY_NAMES if properties is None else properties)
        for name in wanted:
            _spec(name)
        results = tuple(self.result(name) for name in PROPERTY_NAMES if name in wanted)
        return Report(self.label, self.profile, results, self.seed)


def check_model(
    model_or_factory: ModelSource | str,
    *,
    tiny: ModelSource | None = None,
    exact_log_prob: Callable[[torch.Tensor], torch.Tensor] | None = None,
    profile: str = gs.CI_PROFILE,
    properties: Iterable[str] | None = None,
    registry: Any = None,
    seed: int | None = None,
    truth: Any = None,
) -> Report:
    """Check a model against the genproto contract; a :class:`Report` of every property.

    Args:
        model_or_factory: the model, a factory without arguments (needed for the persistence
            property unless the model comes from a registry), or an installed model's name.
        tiny: a small configuration for the checks that sum or integrate over the event space.
        exact_log_prob: the known log-density of the (tiny) model's class marginal, if any.
        profile: ``"ci"`` (fast, derandomized; also ``"genproto-ci"``) or ``"thorough"``
            (``"genproto-thorough"``).
        properties: the properties to run (their prerequisites run too); default: all.
        registry: where a model given by name comes from (default: the installed plugins).
        seed: the seed of the Hypothesis examples and the statistical checks' draws (default:
            the fixed ones).
        truth: the known density of the model's data (a toy2d name or a density object) for the
            ``truth`` property; default: inferred from the factory option ``dataset=``.

    Use ``check_model(...).raise_for_failures()`` in a test.
    """
    session = ContractSession(model_or_factory, tiny=tiny, exact_log_prob=exact_log_prob,
                              profile=profile, registry=registry, seed=seed, truth=truth)
    return session.report(properties)


def summary(reports: Iterable[Report]) -> str:
    """The closing line of a run: models, total time, and failures or inconclusive properties.

    ``2 model(s) checked in 3.1 s: all properties hold``; ``...: 1 failed``; with undecided
    properties ``...: no property failed, 1 inconclusive (flow: likelihood)`` -- never "all
    properties hold" when one could not be decided.
    """
    reports = list(reports)
    seconds = sum(r.seconds for r in reports)
    head = f"{len(reports)} model(s) checked in {seconds:.1f} s"
    failed = sum(len(r.failures) for r in reports)
    undecided = [f"{r.model}: {p.name}" for r in reports for p in r.inconclusive]
    if failed:
        verdict = f"{failed} failed"
        if undecided:
            verdict += f", {len(undecided)} inconclusive ({', '.join(undecided)})"
    elif undecided:
        verdict = f"no property failed, {len(undecided)} inconclusive ({', '.join(undecided)})"
    else:
        verdict = "all properties hold"
    return f"{head}: {verdict}"
