"""The public contract of genproto: value types and the ``GenerativeModel`` protocol.

This module holds types only. It says what a generative model *declares* about
itself; whether the declaration is true is checked elsewhere (the shared
sampler counts network evaluations, the contract suite in ``genproto.testing``
tests likelihood kinds and determinism).

The paradigms and how the protocol sees them (the cheatsheet's four, plus flows):

==================  =====================  ===========================  ==========
paradigm            likelihood             cost of one sample           growth
==================  =====================  ===========================  ==========
autoregressive      exact (chain rule)     L network evaluations        per token
latent_variable     bound (ELBO, IWAE)     one decoder pass             single
adversarial         none                   one generator pass           single
diffusion           bound or estimate      K denoising steps            per step
flow                exact (change of var)  one inverse pass             single
==================  =====================  ===========================  ==========

A hybrid (e.g. latent diffusion) lists every paradigm it is made of, a cost
composed from its parts (:meth:`SampleCost.then`) and the parts themselves
(:class:`Part`); there is no opaque "hybrid". :mod:`genproto.hybrid` composes
them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TypeAlias, runtime_checkable

import attrs
import torch

__all__ = [
    "PROTOCOL_VERSION",
    "Capabilities",
    "Condition",
    "ConditionSpec",
    "CostGrowth",
    "EventKind",
    "EventSpace",
    "GenerativeModel",
    "Likelihood",
    "Origin",
    "Paradigm",
    "Part",
    "SampleCost",
    "protocol_compatible",
]

#: The protocol version this genproto implements, ``MAJOR.MINOR``. A plugin
#: declaring the same major and a minor not above ours is compatible. 1.1 added
#: ``CostGrowth.FIXED`` and ``Capabilities.parts`` (hybrids); 1.0 data read unchanged.
PROTOCOL_VERSION = "1.1"

#: A condition handed to ``sample``/``log_likelihood``: ``None`` (unconditional,
#: or marginal over classes), one class for all n samples, or a tensor of n labels.
Condition: TypeAlias = int | torch.Tensor | None


def protocol_compatible(version: str) -> bool:
    """Whether a plugin declaring protocol ``version`` can run under this genproto."""
    ours = tuple(int(p) for p in PROTOCOL_VERSION.split("."))
    try:
        theirs = tuple(int(p) for p in version.split("."))
    except ValueError:
        return False
    return len(theirs) == 2 and theirs[0] == ours[0] and theirs[1] <= ours[1]


class Paradigm(enum.Enum):
    """The family a model (or one component of a hybrid) belongs to."""

    AUTOREGRESSIVE = "autoregressive"
    LATENT_VARIABLE = "latent_variable"
    ADVERSARIAL = "adversarial"
    DIFFUSION = "diffusion"
    FLOW = "flow"


class Likelihood(enum.Enum):
    """What ``log_likelihood`` returns, in nats per sample.

    * ``EXACT``: log p(x) itself (autoregressive chain rule, flows on continuous data).
    * ``BOUND``: a lower bound on log p(x) (the ELBO, IWAE, a diffusion variational bound,
      a dequantised flow on discrete data).
    * ``ESTIMATE``: a consistent estimate of log p(x) that may lie on either side of it
      (e.g. the probability-flow ODE with a divergence estimator).
    * ``NONE``: no density is defined; ``log_likelihood`` raises ``LikelihoodUnavailable``.
    """

    EXACT = "exact"
    BOUND = "bound"
    ESTIMATE = "estimate"
    NONE = "none"


class CostGrowth(enum.Enum):
    """What the number of network evaluations per sample grows with."""

    SINGLE_PASS = "single_pass"
    PER_TOKEN = "per_token"
    PER_STEP = "per_step"
    #: A fixed number (>= 2) of passes that grows with nothing: a hybrid made of
    #: single-pass parts (e.g. a VAE whose prior is a flow: one flow pass, one decoder pass).
    FIXED = "fixed"

    @property
    def grows(self) -> bool:
        """Whether the number of evaluations depends on a length or a number of steps."""
        return self in (CostGrowth.PER_TOKEN, CostGrowth.PER_STEP)


class EventKind(enum.Enum):
    """Whether one event is made of discrete levels (int64) or real numbers (float32)."""

    DISCRETE = "discrete"
    CONTINUOUS = "continuous"


def _positive(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name!r} must be an int >= 1 (got {value!r})")


def _non_negative(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name!r} must be an int >= 0 (got {value!r})")


@attrs.frozen
class SampleCost:
    """Network evaluations one sample costs, and what that number grows with.

    ``evaluations = units * per_unit + fixed`` where ``units`` is the length L
    (per token), the number of steps K (per step) or 1 (single pass). A
    diffusion model with classifier-free guidance run as two calls per step has
    ``per_unit=2``; a latent-diffusion hybrid has ``fixed=1`` for its decoder.
    A hybrid of single-pass parts is ``FIXED`` with ``units`` passes.
    The sampler counts evaluations and compares them with this number.
    """

    growth: CostGrowth = attrs.field(validator=attrs.validators.instance_of(CostGrowth))
    units: int = attrs.field(default=1, validator=_positive)
    per_unit: int = attrs.field(default=1, validator=_positive)
    fixed: int = attrs.field(default=0, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.growth is CostGrowth.SINGLE_PASS and (self.units, self.per_unit, self.fixed) != (
            1,
            1,
            0,
        ):
            raise ValueError(
                "a single-pass cost is exactly 1 evaluation "
                f"(got units={self.units}, per_unit={self.per_unit}, fixed={self.fixed})"
            )
        if self.growth is CostGrowth.FIXED and (
            self.units < 2 or (self.per_unit, self.fixed) != (1, 0)
        ):
            raise ValueError(
                "a fixed cost is units >= 2 passes with per_unit=1 and fixed=0 (one pass is "
                f"single_pass; got units={self.units}, per_unit={self.per_unit}, "
                f"fixed={self.fixed})"
            )

    @classmethod
    def single_pass(cls) -> SampleCost:
        """One network evaluation per sample (VAE decoder, GAN generator, flow inverse)."""
        return cls(CostGrowth.SINGLE_PASS)

    @classmethod
    def fixed_passes(cls, passes: int) -> SampleCost:
        """``passes`` evaluations whatever the settings (1 is :meth:`single_pass`)."""
        return cls.single_pass() if passes == 1 else cls(CostGrowth.FIXED, units=passes)

    @classmethod
    def per_token(cls, length: int, per_token: int = 1) -> SampleCost:
        """``length`` evaluations, one per generated piece (autoregressive with a KV cache)."""
        return cls(CostGrowth.PER_TOKEN, units=length, per_unit=per_token)

    @classmethod
    def per_step(cls, steps: int, per_step: int = 1) -> SampleCost:
        """``steps * per_step`` evaluations (diffusion with K denoising steps)."""
        return cls(CostGrowth.PER_STEP, units=steps, per_unit=per_step)

    @property
    def evaluations(self) -> int:
        """Network evaluations per sample at these settings."""
        return self.units * self.per_unit + self.fixed

    def then(self, other: SampleCost) -> SampleCost:
        """The cost of running ``self`` and then ``other`` on each sample (a hybrid).

        The growing part of the composition is that of whichever stage grows; two
        growing stages of different kinds cannot be summarised in one unit and
        are rejected.
        """
        growing = [c for c in (self, other) if c.growth.grows]
        if not growing:
            return SampleCost.fixed_passes(self.evaluations + other.evaluations)
        if len(growing) == 2:
            if self.growth is not other.growth or self.per_unit != other.per_unit:
                raise ValueError(
                    f"cannot compose a {self.growth.value} cost with a {other.growth.value} cost"
                )
            return SampleCost(
                self.growth,
                units=self.units + other.units,
                per_unit=self.per_unit,
                fixed=self.fixed + other.fixed,
            )
        main = growing[0]
        rest = other if main is self else self
        return SampleCost(
            main.growth,
            units=main.units,
            per_unit=main.per_unit,
            fixed=main.fixed + rest.evaluations,
        )

    def describe(self) -> str:
        """A short human description, e.g. ``"64 evaluations (per token, L=64)"``."""
        if self.growth is CostGrowth.SINGLE_PASS:
            return "1 evaluation (single pass)"
        if self.growth is CostGrowth.FIXED:
            return f"{self.evaluations} evaluations (fixed, {self.units} passes)"
        unit = "L" if self.growth is CostGrowth.PER_TOKEN else "K"
        formula = f"{unit}={self.units}"
        if self.per_unit != 1:
            formula += f", {self.per_unit} per {'token' if unit == 'L' else 'step'}"
        if self.fixed:
            formula += f", +{self.fixed} fixed"
        growth = self.growth.value.replace("_", " ")
        return f"{self.evaluations} evaluations ({growth}, {formula})"


def _shape(value: Any) -> tuple[int, ...]:
    shape = tuple(value)
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise ValueError(f"event shape must be a non-empty tuple of ints >= 1 (got {value!r})")
    return shape


@attrs.frozen
class EventSpace:
    """The space one sample lives in.

    Discrete events hold int64 levels ``0 .. levels-1`` (the digits: 17 grey
    levels on an 8x8 grid); continuous events hold finite float32 values.
    A plugin's ``sample_batch`` may return a continuous event's samples in
    another floating dtype (float64, float16, bfloat16): the sampler converts
    them to float32, so what ``sample`` returns is always :attr:`dtype`. A
    discrete event's samples must be integer levels; floats are refused.
    """

    shape: tuple[int, ...] = attrs.field(converter=_shape)
    kind: EventKind = attrs.field(validator=attrs.validators.instance_of(EventKind))
    levels: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind is EventKind.DISCRETE:
            if isinstance(self.levels, bool) or not isinstance(self.levels, int) or self.levels < 2:
                raise ValueError(f"a discrete event needs levels >= 2 (got {self.levels!r})")
        elif self.levels is not None:
            raise ValueError(f"a continuous event has no levels (got {self.levels!r})")

    @classmethod
    def discrete(cls, shape: tuple[int, ...], levels: int) -> EventSpace:
        """Integer levels ``0 .. levels-1`` on a grid of ``shape``."""
        return cls(shape, EventKind.DISCRETE, levels)

    @classmethod
    def continuous(cls, shape: tuple[int, ...]) -> EventSpace:
        """Real vectors of ``shape``."""
        return cls(shape, EventKind.CONTINUOUS)

    @property
    def dtype(self) -> torch.dtype:
        """``torch.int64`` for discrete events, ``torch.float32`` for continuous ones."""
        return torch.int64 if self.kind is EventKind.DISCRETE else torch.float32

    @property
    def dimension(self) -> int:
        """Number of scalars in one event (64 for an 8x8 digit), the D of bits/dim."""
        return math.prod(self.shape)

    def describe(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        if self.kind is EventKind.DISCRETE:
            return f"{dims} discrete, levels 0..{self.levels - 1 if self.levels else '?'}"
        return f"{dims} continuous"


@attrs.frozen
class ConditionSpec:
    """What a conditional model is conditioned on: a class label ``0 .. num_classes-1``.

    ``required=False`` means the model also accepts ``condition=None`` and then
    samples from (or evaluates) the marginal over classes.
    """

    num_classes: int = attrs.field(validator=_positive)
    description: str = "class label"
    required: bool = False

    def describe(self) -> str:
        need = "required" if self.required else "optional"
        return f"{self.description} 0..{self.num_classes - 1} ({need})"


def _paradigms(value: Any) -> tuple[Paradigm, ...]:
    items = (value,) if isinstance(value, Paradigm) else tuple(value)
    if not items or not all(isinstance(p, Paradigm) for p in items):
        raise ValueError(f"paradigms must be a non-empty sequence of Paradigm (got {value!r})")
    if len(set(items)) != len(items):
        raise ValueError(f"paradigms must not repeat (got {value!r})")
    return items


def _parts(value: Any) -> tuple[Part, ...]:
    items = tuple(value)
    if not all(isinstance(p, Part) for p in items):
        raise ValueError(f"parts must be a sequence of Part (got {value!r})")
    return items


@attrs.frozen
class Capabilities:
    """Everything a model declares about itself, at its current settings.

    Attributes:
        paradigms: one paradigm, or every component of a hybrid (latent
            diffusion: latent_variable and diffusion).
        likelihood: the meaning of ``log_likelihood``'s numbers.
        cost: network evaluations per sample at the default sampling settings.
        event: the space of one sample.
        condition: what the model is conditioned on, or ``None``.
        objective: the training objective, in words.
        sampling: the sampling procedure, in words.
        protocol_version: the genproto protocol version the plugin implements.
        parts: for a hybrid, what each component declares on its own (its role and
            capabilities), so the composition can be read part by part; empty otherwise.
    """

    paradigms: tuple[Paradigm, ...] = attrs.field(converter=_paradigms)
    likelihood: Likelihood = attrs.field(validator=attrs.validators.instance_of(Likelihood))
    cost: SampleCost = attrs.field(validator=attrs.validators.instance_of(SampleCost))
    event: EventSpace = attrs.field(validator=attrs.validators.instance_of(EventSpace))
    condition: ConditionSpec | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(ConditionSpec)),
    )
    objective: str = ""
    sampling: str = ""
    protocol_version: str = PROTOCOL_VERSION
    parts: tuple[Part, ...] = attrs.field(default=(), converter=_parts)

    @property
    def conditional(self) -> bool:
        return self.condition is not None

    @property
    def is_hybrid(self) -> bool:
        return len(self.paradigms) > 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (used by checkpoints and ``genproto list --json``)."""
        return {
            "paradigms": [p.value for p in self.paradigms],
            "likelihood": self.likelihood.value,
            "cost": {
                "growth": self.cost.growth.value,
                "units": self.cost.units,
                "per_unit": self.cost.per_unit,
                "fixed": self.cost.fixed,
                "evaluations": self.cost.evaluations,
            },
            "event": {
                "shape": list(self.event.shape),
                "kind": self.event.kind.value,
                "levels": self.event.levels,
            },
            "condition": None
            if self.condition is None
            else {
                "num_classes": self.condition.num_classes,
                "description": self.condition.description,
                "required": self.condition.required,
            },
            "objective": self.objective,
            "sampling": self.sampling,
            "protocol_version": self.protocol_version,
            "parts": [
                {"role": p.role, "capabilities": p.capabilities.to_dict()} for p in self.parts
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Capabilities:
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``ValueError`` on bad data."""
        cost = data["cost"]
        event = data["event"]
        cond = data["condition"]
        return cls(
            paradigms=tuple(Paradigm(p) for p in data["paradigms"]),
            likelihood=Likelihood(data["likelihood"]),
            cost=SampleCost(
                CostGrowth(cost["growth"]),
                units=cost["units"],
                per_unit=cost["per_unit"],
                fixed=cost["fixed"],
            ),
            event=EventSpace(tuple(event["shape"]), EventKind(event["kind"]), event["levels"]),
            condition=None
            if cond is None
            else ConditionSpec(cond["num_classes"], cond["description"], cond["required"]),
            objective=data["objective"],
            sampling=data["sampling"],
            protocol_version=data["protocol_version"],
            parts=tuple(
                Part(p["role"], cls.from_dict(p["capabilities"])) for p in data.get("parts", ())
            ),
        )


def _role(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a part's role must be a non-empty string (got {value!r})")


@attrs.frozen
class Part:
    """One component of a hybrid: its role in the whole and what it declares on its own.

    E.g. latent diffusion has ``Part("autoencoder", <the VAE's capabilities>)`` and
    ``Part("prior", <the latent diffusion's capabilities>)``.
    """

    role: str = attrs.field(validator=_role)
    capabilities: Capabilities = attrs.field(
        validator=attrs.validators.instance_of(Capabilities)
    )

    def describe(self) -> str:
        caps = self.capabilities
        kinds = " + ".join(p.value for p in caps.paradigms)
        return f"{self.role}: {kinds}, likelihood {caps.likelihood.value}, {caps.cost.describe()}"


@attrs.frozen
class Origin:
    """Where a model came from: its registry name, factory options and plugin.

    The registry records it on every model it builds; ``save`` writes it into the
    checkpoint and every sampling run's provenance names the plugin and version.
    """

    name: str
    options: Mapping[str, Any]
    distribution: str | None
    version: str | None


@runtime_checkable
class GenerativeModel(Protocol):
    """What every genproto model offers, whatever its paradigm.

    ``isinstance(obj, GenerativeModel)`` checks the member names only; whether
    the behaviour keeps the contract is the job of ``genproto.testing``.
    """

    @property
    def name(self) -> str:
        """The registry name the model was built under (e.g. ``"diffusion"``)."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """The model's declared capabilities at its default settings."""
        ...

    def cost(self, **options: Any) -> SampleCost:
        """Evaluations one sample costs with these sampling options (e.g. ``steps=20``)."""
        ...

    def sample(
        self,
        n: int,
        *,
        condition: Condition = None,
        seed: int | None = None,
        batch_size: int | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Draw ``n`` samples, shape ``(n, *event.shape)``, dtype ``event.dtype``.

        Sample ``i`` depends only on ``(seed, i)`` and the options, never on
        ``batch_size``. ``seed=None`` draws a fresh seed. The dtype is always
        the event's: a ``genproto.Model`` whose ``sample_batch`` computes a
        continuous event in float64 (or float16/bfloat16) gets its samples
        converted to float32 by the sampler, silently and by design.
        """
        ...

    def log_likelihood(
        self, x: torch.Tensor, condition: Condition = None, **options: Any
    ) -> torch.Tensor:
        """Per-sample log-likelihood in nats, meaning ``capabilities.likelihood``.

        Raises ``LikelihoodUnavailable`` when that is ``Likelihood.NONE``.
        ``genproto.Model`` also takes ``seed=0`` (the seed of an estimator's
        draws, keyed by row: an exact likelihood does not depend on it) and
        ``batch_size=None`` (rows per call; never changes the values).
        """
        ...

    def save(self, directory: str | Path) -> Path:
        """Write a checkpoint that ``genproto.load`` reads back; returns the directory."""
        ...
