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
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeAlias, runtime_checkable

import attrs
import torch

__all__ = [
    "PROTOCOL_VERSION",
    "RANGE_TOLERANCE",
    "STORAGE_DTYPES",
    "BatchCondition",
    "BatchTolerance",
    "Capabilities",
    "Condition",
    "ConditionKind",
    "ConditionSpec",
    "CostGrowth",
    "EventKind",
    "EventSpace",
    "GenerativeModel",
    "Interpolates",
    "LEGACY_VERSIONS",
    "Layout",
    "Likelihood",
    "NoneMeans",
    "Origin",
    "Paradigm",
    "Part",
    "SampleCost",
    "TextCodec",
    "protocol_compatible",
    "smallest_storage",
]

#: The protocol version this genproto implements, ``MAJOR.MINOR``. A plugin or
#: checkpoint declaring the same major and a minor not above ours is compatible, and so is
#: every version in :data:`LEGACY_VERSIONS`. 1.1 added ``CostGrowth.FIXED`` and
#: ``Capabilities.parts`` (hybrids). 2.0 (third-party models) added condition kinds
#: (tokens, text, vector; a class prior; what ``None`` means), cost upper bounds counted
#: per sample, event value ranges, storage dtypes, layouts and variable-length
#: sequences, a declared batch tolerance, capabilities that follow the factory options,
#: names with '-' and '.', per-instance options and ``genproto.distributions.draw``.
#: Every 2.0 addition has a default that means what 1.x meant, which is why 1.x plugins
#: and checkpoints keep working unchanged. 2.1 (adapters) added the optional
#: :class:`TextCodec` (a model whose events are text says how tokens and strings map) and
#: ``KeyedStreams.categorical(..., method="inverse")`` (one word a draw, for large
#: vocabularies); 2.0 plugins implement neither and are unchanged. 2.2 (every paradigm on
#: text) added class ``labels`` (``ConditionSpec(3, "Census list", labels=("female", "male",
#: "surname"))``: ``condition="female"`` is class 0) and the optional :class:`Interpolates`
#: (a decoded path through a model's latent space); a spec without labels and a model
#: without ``interpolate`` mean what they meant in 2.1, so 2.0 and 2.1 plugins and
#: checkpoints are unchanged.
PROTOCOL_VERSION = "2.2"

#: Earlier versions whose plugins and checkpoints this genproto still runs and reads
#: (2.0 is covered by the same-major rule of :func:`protocol_compatible`).
LEGACY_VERSIONS = ("1.0", "1.1")

#: A condition handed to ``sample``/``log_likelihood``, of the model's declared
#: :class:`ConditionKind`: ``None`` (what it means is :attr:`ConditionSpec.none_means`),
#: one value for all n samples, or n per-sample values. Class: an int, or n labels (where
#: the spec declares :attr:`ConditionSpec.labels`, also one label's str, or n of them);
#: tokens: an int tensor ``(L,)`` or ``(n, L)``; text: a str, or a list of n str; vector: a
#: float tensor ``shape`` or ``(n, *shape)``.
Condition: TypeAlias = int | str | Sequence[int] | Sequence[str] | torch.Tensor | None

#: One batch's condition as the engine hands it to ``sample_batch`` and
#: ``log_likelihood_batch``: ``None`` (an unconditional model, or the null condition),
#: or the batch's rows of the validated condition -- int64 labels ``(B,)`` (class),
#: int64 ids ``(B, L)`` (tokens), float32 ``(B, *shape)`` (vector), or a ``list`` of B
#: ``str`` (text). ``Any`` so that a plugin may annotate the kinds it declares.
BatchCondition: TypeAlias = Any


def protocol_compatible(version: str) -> bool:
    """Whether a plugin declaring protocol ``version`` can run under this genproto."""
    if version in LEGACY_VERSIONS:
        return True
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
    """Whether one event is made of discrete levels (integers) or real numbers (float32)."""

    DISCRETE = "discrete"
    CONTINUOUS = "continuous"


class Layout(enum.Enum):
    """How an event's axes are arranged, so that tools know how to show it.

    * ``UNSPECIFIED``: nothing declared (every protocol 1 event). ``genproto sample -o
      x.png`` still draws a 2-D discrete event as a grid of grey "ink" images (level 0
      white, as the digits) and a 2-D continuous event as a scatter plot.
    * ``IMAGE``: ``(H, W)`` or channels first ``(C, H, W)``; drawn as a grid (1 or 3
      channels), value 0 (or ``low``) black, the top level (or ``high``) white.
    * ``POINTS``: one point of R^D, shape ``(D,)``; drawn as a scatter plot when D = 2.
    * ``TOKENS``: a discrete sequence, shape ``(L,)``; no picture (save ``.npy``). A
      variable-length sequence (:meth:`EventSpace.sequence`) has this layout.
    """

    UNSPECIFIED = "unspecified"
    IMAGE = "image"
    POINTS = "points"
    TOKENS = "tokens"


#: The integer dtypes a discrete event may be stored in, smallest first.
STORAGE_DTYPES: tuple[torch.dtype, ...] = (torch.uint8, torch.int16, torch.int32, torch.int64)

#: How far (relative to ``max(1, |low|, |high|)``) a sample or a data value may lie outside a
#: continuous event's declared range before it is refused: float32 rounding of a tanh or of an
#: affine rescale lands a few ulps outside. Values within this slack are clamped into the range
#: (so what ``sample`` returns, and what ``log_likelihood_batch`` receives, is inside it).
RANGE_TOLERANCE = 1e-5


def smallest_storage(levels: int) -> torch.dtype:
    """The smallest of :data:`STORAGE_DTYPES` that holds the levels ``0 .. levels-1``."""
    for dtype in STORAGE_DTYPES:
        if levels - 1 <= torch.iinfo(dtype).max:
            return dtype
    raise ValueError(f"no integer dtype holds levels 0..{levels - 1}")


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
    The sampler counts evaluations and compares them with this number
    (:meth:`admits`).

    ``bound=False`` (the default) declares the exact number; ``bound=True`` an
    upper bound, for a model whose samples may take fewer evaluations: a
    variable-length model that stops at its stop token costs *at most* L
    (``SampleCost.per_token(L, bound=True)``), a sampler that stops early at most K.

    *An evaluation of a sample* is one forward call of a declared network whose
    batch includes that sample's row: what a sample waits for, not arithmetic. The
    sampler reads a call's rows as the leading dimension of its first tensor
    argument; in a batch of B samples a call on r rows counts min(r, B) sample
    evaluations. So a per-row loop (B calls of 1 row) is 1 per sample, a call on the
    r rows still running counts those r, and classifier-free guidance batched as
    one call on 2B rows (conditional and null rows) is 1 per sample and step, as a
    flattened call on B x T rows is 1; guidance run as two calls per step is 2.
    """

    growth: CostGrowth = attrs.field(validator=attrs.validators.instance_of(CostGrowth))
    units: int = attrs.field(default=1, validator=_positive)
    per_unit: int = attrs.field(default=1, validator=_positive)
    fixed: int = attrs.field(default=0, validator=_non_negative)
    bound: bool = attrs.field(
        default=False, kw_only=True, validator=attrs.validators.instance_of(bool)
    )

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
    def single_pass(cls, *, bound: bool = False) -> SampleCost:
        """One network evaluation per sample (VAE decoder, GAN generator, flow inverse)."""
        return cls(CostGrowth.SINGLE_PASS, bound=bound)

    @classmethod
    def fixed_passes(cls, passes: int, *, bound: bool = False) -> SampleCost:
        """``passes`` evaluations whatever the settings (1 is :meth:`single_pass`)."""
        if passes == 1:
            return cls.single_pass(bound=bound)
        return cls(CostGrowth.FIXED, units=passes, bound=bound)

    @classmethod
    def per_token(cls, length: int, per_token: int = 1, *, bound: bool = False) -> SampleCost:
        """``length`` evaluations, one per generated piece (autoregressive with a KV cache);
        ``bound=True``: at most that many (a sequence that may stop early)."""
        return cls(CostGrowth.PER_TOKEN, units=length, per_unit=per_token, bound=bound)

    @classmethod
    def per_step(cls, steps: int, per_step: int = 1, *, bound: bool = False) -> SampleCost:
        """``steps * per_step`` evaluations (diffusion with K denoising steps);
        ``bound=True``: at most that many (a sampler that may stop early)."""
        return cls(CostGrowth.PER_STEP, units=steps, per_unit=per_step, bound=bound)

    @property
    def evaluations(self) -> int:
        """Network evaluations per sample at these settings (the most, for a bound)."""
        return self.units * self.per_unit + self.fixed

    def admits(self, counted: float) -> bool:
        """Whether ``counted`` evaluations per sample keep this declaration.

        Exact: ``counted == evaluations``; a bound: ``0 <= counted <= evaluations``.
        ``counted`` is what the sampler measured
        (``SampleResult.evaluations_per_sample``, a mean over samples, or
        ``peak_evaluations_per_sample``, which with ``batch_size=1`` is the most any
        one sample took); a tolerance of 1e-9 absorbs the division.
        """
        if isinstance(counted, bool) or not isinstance(counted, int | float) \
                or not math.isfinite(counted):
            return False
        if self.bound:
            return -1e-9 <= counted <= self.evaluations + 1e-9
        return math.isclose(counted, self.evaluations, rel_tol=1e-12, abs_tol=1e-9)

    def then(self, other: SampleCost) -> SampleCost:
        """The cost of running ``self`` and then ``other`` on each sample (a hybrid).

        The growing part of the composition is that of whichever stage grows; two
        growing stages of different kinds cannot be summarised in one unit and
        are rejected.
        """
        bound = self.bound or other.bound  # a stage that may stop early makes the whole a bound
        growing = [c for c in (self, other) if c.growth.grows]
        if not growing:
            return SampleCost.fixed_passes(self.evaluations + other.evaluations, bound=bound)
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
                bound=bound,
            )
        main = growing[0]
        rest = other if main is self else self
        return SampleCost(
            main.growth,
            units=main.units,
            per_unit=main.per_unit,
            fixed=main.fixed + rest.evaluations,
            bound=bound,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``"bound"`` is written only when true, so exact costs read as in 1.x."""
        data: dict[str, Any] = {
            "growth": self.growth.value, "units": self.units, "per_unit": self.per_unit,
            "fixed": self.fixed, "evaluations": self.evaluations,
        }
        if self.bound:
            data["bound"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleCost:
        """Inverse of :meth:`to_dict` (a missing ``"bound"`` is an exact cost)."""
        return cls(CostGrowth(data["growth"]), units=data["units"], per_unit=data["per_unit"],
                   fixed=data["fixed"], bound=data.get("bound", False))

    def describe(self) -> str:
        """A short human description, e.g. ``"64 evaluations (per token, L=64)"``; a bound
        reads ``"at most 64 evaluations (per token, L=64)"``."""
        return ("at most " if self.bound else "") + self._describe_exact()

    def _describe_exact(self) -> str:
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


def _bound(value: Any) -> float | None:
    """A range end: ``None`` (no bound on that side) or a finite real number, as a float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value):
        raise ValueError(
            f"a range end ('low' or 'high') must be a finite number, or None for no bound "
            f"(got {value!r})"
        )
    return float(value)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


_STORAGE_NAMES = {_dtype_name(d): d for d in STORAGE_DTYPES}


def _storage(value: Any) -> torch.dtype | None:
    """``None`` (int64 for a discrete event), or one of :data:`STORAGE_DTYPES` or its name."""
    if value is None or (isinstance(value, torch.dtype) and value in STORAGE_DTYPES):
        return value
    if isinstance(value, str) and value in _STORAGE_NAMES:
        return _STORAGE_NAMES[value]
    raise ValueError(
        f"'storage' must be one of {', '.join(_STORAGE_NAMES)} (a torch dtype or its name) "
        f"or None for int64 (got {value!r})"
    )


def _layout(value: Any) -> Layout:
    if isinstance(value, Layout):
        return value
    try:
        return Layout(value)
    except ValueError:
        raise ValueError(
            f"'layout' must be a Layout or one of {', '.join(x.value for x in Layout)} "
            f"(got {value!r})"
        ) from None


def _token(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"a stop or pad token must be an int level (got {value!r})")
    return int(value)


def _levels(x: torch.Tensor) -> torch.Tensor:
    """Integer ``x`` as int64, so comparing it with a level never wraps (uint8 vs 256)."""
    return x if x.is_floating_point() or x.dtype == torch.int64 else x.to(torch.int64)


@attrs.frozen
class EventSpace:
    """The space one sample lives in.

    Discrete events hold integer levels ``0 .. levels-1`` (the digits: 17 grey
    levels on an 8x8 grid), stored as :attr:`storage`; continuous events hold finite
    float32 values. A plugin's ``sample_batch`` may return a continuous event's samples
    in another floating dtype (float64, float16, bfloat16) and a discrete event's levels
    in any integer dtype: the sampler converts them, so what ``sample`` returns is always
    :attr:`dtype`. A discrete event's samples must be integer levels; floats are refused.

    The declarations after ``levels`` are keyword-only, and each one's default is
    protocol 1's behaviour (an event declared without them works as before):

    * ``low``/``high`` (continuous): the value range. Every sample batch and every ``x``
      given to ``log_likelihood`` must lie in ``[low, high]`` up to a slack of
      :data:`RANGE_TOLERANCE` (:attr:`range_slack`), and what is within the slack is
      clamped into the range. A sample further out is a ``PluginError``; such an ``x`` is
      an ``InputError`` naming the row and the value, not a log-likelihood of ``-inf``:
      data outside a declared support is almost always data in other units (``[0, 255]``
      or ``[0, 1]`` for a ``[-1, 1]`` model), which ``-inf`` would hide in a mean.
    * ``storage`` (discrete): the integer dtype ``sample`` returns and ``write_npy``
      stores: uint8, int16, int32 or int64 (the default, protocol 1's). It must hold the
      levels; ``storage="smallest"`` in :meth:`discrete` picks the smallest that does
      (:func:`smallest_storage`). ``log_likelihood_batch`` always receives int64 levels
      (torch's index dtype), whatever the storage.
    * ``layout``: how the axes are arranged (:class:`Layout`), so that tools can show the
      event (``genproto sample -o x.png`` draws an image grid).
    * ``stop``/``pad`` (discrete, shape ``(L,)``, layout tokens): a variable-length
      sequence (:meth:`sequence`). A row is its tokens up to and including its first
      ``stop``; every position after that holds ``pad``, and ``pad`` never comes before
      it. A row without a stop token is a sequence cut at the maximum length ``L`` (it
      never chose to stop). ``pad`` may equal ``stop`` (a tokenizer that pads with its
      end-of-sequence token): then only the first stop ends the row. The likelihood is
      that of the tokens up to and including the stop (:meth:`lengths`); padding carries
      no probability. The sampler checks every batch (``PluginError`` naming the row and
      position) and ``log_likelihood`` every ``x`` (``InputError``): "a stop token in the
      middle of padding", padding before the stop.
    """

    shape: tuple[int, ...] = attrs.field(converter=_shape)
    kind: EventKind = attrs.field(validator=attrs.validators.instance_of(EventKind))
    levels: int | None = None
    low: float | None = attrs.field(default=None, converter=_bound, kw_only=True)
    high: float | None = attrs.field(default=None, converter=_bound, kw_only=True)
    storage: torch.dtype | None = attrs.field(default=None, converter=_storage, kw_only=True)
    layout: Layout = attrs.field(default=Layout.UNSPECIFIED, converter=_layout, kw_only=True)
    stop: int | None = attrs.field(default=None, converter=_token, kw_only=True)
    pad: int | None = attrs.field(default=None, converter=_token, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.kind is EventKind.DISCRETE:
            if isinstance(self.levels, bool) or not isinstance(self.levels, int) or self.levels < 2:
                raise ValueError(f"a discrete event needs levels >= 2 (got {self.levels!r})")
            if self.low is not None or self.high is not None:
                raise ValueError(
                    f"a discrete event's range is its levels 0..{self.levels - 1}: it takes "
                    f"no low or high (got low={self.low!r}, high={self.high!r})"
                )
            if self.storage is None:
                object.__setattr__(self, "storage", torch.int64)  # protocol 1's dtype
            elif self.levels - 1 > torch.iinfo(self.storage).max:
                raise ValueError(
                    f"storage {_dtype_name(self.storage)} holds at most level "
                    f"{torch.iinfo(self.storage).max}, not levels 0..{self.levels - 1}: use "
                    f"{_dtype_name(smallest_storage(self.levels))} (storage='smallest')"
                )
        else:
            if self.levels is not None:
                raise ValueError(f"a continuous event has no levels (got {self.levels!r})")
            if self.storage is not None:
                raise ValueError(
                    f"a continuous event is stored as float32: it takes no storage "
                    f"(got {self.storage!r})"
                )
            if self.low is not None and self.high is not None and not self.low < self.high:
                raise ValueError(
                    f"a value range needs low < high (got low={self.low!r}, high={self.high!r})"
                )
        rank = len(self.shape)
        if self.layout is Layout.IMAGE and rank not in (2, 3):
            raise ValueError(f"an image event has shape (H, W) or (C, H, W) (got {self.shape})")
        if self.layout is Layout.POINTS and rank != 1:
            raise ValueError(f"a points event has shape (D,) (got {self.shape})")
        if self.layout is Layout.TOKENS and (self.kind is not EventKind.DISCRETE or rank != 1):
            raise ValueError(
                f"a tokens event is discrete with shape (L,) (got {self.kind.value}, {self.shape})"
            )
        if (self.stop is None) != (self.pad is None):
            raise ValueError(
                "a variable-length sequence declares both a stop and a pad token "
                f"(got stop={self.stop!r}, pad={self.pad!r})"
            )
        if self.stop is not None and self.pad is not None:
            if self.layout is not Layout.TOKENS:
                raise ValueError(
                    "stop and pad tokens belong to a discrete sequence of layout tokens, shape "
                    f"(L,) (got {self.kind.value}, {self.shape}, layout {self.layout.value}); "
                    "declare it with EventSpace.sequence(...)"
                )
            top = (self.levels or 0) - 1
            for name, token in (("stop", self.stop), ("pad", self.pad)):
                if not 0 <= token <= top:
                    raise ValueError(f"the {name} token must be a level 0..{top} (got {token})")

    @classmethod
    def discrete(
        cls,
        shape: tuple[int, ...],
        levels: int,
        *,
        storage: torch.dtype | str | None = None,
        layout: Layout | str = Layout.UNSPECIFIED,
    ) -> EventSpace:
        """Integer levels ``0 .. levels-1`` on a grid of ``shape``.

        ``storage``: the dtype of the samples (int64 by default, as in protocol 1;
        ``"smallest"`` for the smallest of uint8/int16/int32/int64 that holds the levels).
        """
        if storage == "smallest":
            storage = smallest_storage(levels)
        return cls(shape, EventKind.DISCRETE, levels, storage=storage, layout=layout)

    @classmethod
    def continuous(
        cls,
        shape: tuple[int, ...],
        *,
        low: float | None = None,
        high: float | None = None,
        layout: Layout | str = Layout.UNSPECIFIED,
    ) -> EventSpace:
        """Real vectors of ``shape``, in ``[low, high]`` when a range is declared
        (``None`` for an unbounded side), e.g. ``continuous((3, 32, 32), low=-1.0,
        high=1.0, layout="image")``."""
        return cls(shape, EventKind.CONTINUOUS, low=low, high=high, layout=layout)

    @classmethod
    def sequence(
        cls,
        max_length: int,
        vocabulary: int,
        *,
        stop: int,
        pad: int,
        storage: torch.dtype | str | None = "smallest",
    ) -> EventSpace:
        """Variable-length token sequences: up to ``max_length`` tokens of
        ``0 .. vocabulary-1``, ended by ``stop`` and filled up with ``pad`` (both
        tokens of the vocabulary). Stored in the smallest integer dtype that holds the
        vocabulary unless ``storage`` says otherwise."""
        if storage == "smallest":
            storage = smallest_storage(vocabulary)
        return cls(
            (max_length,), EventKind.DISCRETE, vocabulary, storage=storage,
            layout=Layout.TOKENS, stop=stop, pad=pad,
        )

    @property
    def dtype(self) -> torch.dtype:
        """What ``sample`` returns: :attr:`storage` for discrete events (int64 unless
        declared otherwise), ``torch.float32`` for continuous ones."""
        return torch.float32 if self.storage is None else self.storage

    @property
    def dimension(self) -> int:
        """Number of scalars in one event (64 for an 8x8 digit), the D of bits/dim."""
        return math.prod(self.shape)

    @property
    def is_sequence(self) -> bool:
        """Whether the event is a variable-length sequence (declares ``stop`` and ``pad``)."""
        return self.stop is not None

    @property
    def range_slack(self) -> float:
        """How far outside ``[low, high]`` a value may lie before it is refused:
        :data:`RANGE_TOLERANCE` times ``max(1, |low|, |high|)``."""
        ends = [abs(b) for b in (self.low, self.high) if b is not None]
        return RANGE_TOLERANCE * max([1.0, *ends])

    def _first_stop(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) int64: the position of each row's first stop token, ``L`` when it has none."""
        if self.stop is None:
            raise ValueError(
                f"only a variable-length sequence event has stops and lengths ({self.describe()})"
            )
        stops = _levels(x) == self.stop  # (N, L)
        first = stops.to(torch.uint8).argmax(dim=1)  # the first maximum: the first stop
        return torch.where(stops.any(dim=1), first, self.shape[0])

    def lengths(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) int64: each row's length, its tokens up to and including the first stop
        (``L`` for a row without one). The positions a likelihood counts are
        ``torch.arange(L) < lengths[:, None]``."""
        return (self._first_stop(x) + 1).clamp(max=self.shape[0])

    def misplaced(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L) bool: the positions of a sequence batch ``x`` that break the stop/pad
        rule (padding before the first stop, anything but padding after it)."""
        first = self._first_stop(x)[:, None]  # (N, 1)
        position = torch.arange(self.shape[0], device=x.device)  # (L,)
        tokens = _levels(x)
        return torch.where(position > first, tokens != self.pad,
                           (position < first) & (tokens == self.pad))

    def contains(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) bool: which rows of ``x`` (shape ``(N, *shape)``) lie in this space:
        whole levels ``0 .. levels-1``, or finite values in the range (within
        :attr:`range_slack`), and for a sequence the stop/pad rule. E.g. to keep only the
        valid events of an enumeration."""
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, self.shape))}) "
                             f"(got {tuple(x.shape)})")
        flat = _levels(x).reshape(x.shape[0], -1)
        if self.kind is EventKind.DISCRETE:
            ok = (flat >= 0) & (flat < (self.levels or 0))
            if flat.is_floating_point():
                ok &= flat == flat.round()
        else:
            ok = torch.isfinite(flat)
            if self.low is not None:
                ok &= flat >= self.low - self.range_slack
            if self.high is not None:
                ok &= flat <= self.high + self.range_slack
        rows = ok.all(dim=1)
        if self.is_sequence:
            rows &= ~self.misplaced(x).any(dim=1)
        return rows

    def describe(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        if self.is_sequence:
            text = (f"sequences of up to {self.shape[0]} tokens 0..{(self.levels or 0) - 1} "
                    f"(stop {self.stop}, pad {self.pad})")
        elif self.kind is EventKind.DISCRETE:
            text = f"{dims} discrete, levels 0..{self.levels - 1 if self.levels else '?'}"
        else:
            text = f"{dims} continuous"
            if self.low is not None or self.high is not None:
                left = "(-inf" if self.low is None else f"[{self.low:g}"
                right = "inf)" if self.high is None else f"{self.high:g}]"
                text += f" in {left}, {right}"
        if self.storage is not None and self.storage != torch.int64:
            text += f", stored as {_dtype_name(self.storage)}"
        if self.layout not in (Layout.UNSPECIFIED, Layout.TOKENS) or (
            self.layout is Layout.TOKENS and not self.is_sequence
        ):
            text += f", {self.layout.value}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the keys protocol 1 knows always, each newer one only when declared
        (so an event declared the protocol 1 way writes what protocol 1 wrote)."""
        data: dict[str, Any] = {
            "shape": list(self.shape), "kind": self.kind.value, "levels": self.levels,
        }
        if self.low is not None:
            data["low"] = self.low
        if self.high is not None:
            data["high"] = self.high
        if self.storage is not None and self.storage != torch.int64:
            data["storage"] = _dtype_name(self.storage)
        if self.layout is not Layout.UNSPECIFIED:
            data["layout"] = self.layout.value
        if self.stop is not None:
            data["stop"], data["pad"] = self.stop, self.pad
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventSpace:
        """Inverse of :meth:`to_dict`; a missing newer key takes its default (1.x files)."""
        return cls(
            tuple(data["shape"]), EventKind(data["kind"]), data["levels"],
            low=data.get("low"), high=data.get("high"), storage=data.get("storage"),
            layout=data.get("layout", Layout.UNSPECIFIED.value), stop=data.get("stop"),
            pad=data.get("pad"),
        )


class ConditionKind(enum.Enum):
    """What a conditional model is conditioned on: the values ``condition=`` takes.

    Every kind takes one value for all n samples or n per-sample values, which the
    sampler slices per batch like the samples themselves.
    """

    #: A class label ``0 .. num_classes-1``: an int, or ``n`` labels.
    CLASS = "class"
    #: A token sequence (a prompt already in ids): an int tensor ``(L,)`` or ``(n, L)``,
    #: ``1 <= L <= max_length``, padded with ``pad_id``.
    TOKENS = "tokens"
    #: Text: a ``str``, or a list of ``n``; the plugin tokenizes it with its own tokenizer.
    TEXT = "text"
    #: A float embedding of a declared ``shape``: ``shape`` or ``(n, *shape)``, finite.
    VECTOR = "vector"


class NoneMeans(enum.Enum):
    """What ``condition=None`` means for a conditional model that does not require one."""

    #: The marginal over the class prior (class conditions only): the sampler draws each
    #: sample's class from the prior; ``log_likelihood`` is ``log sum_c p(c) p(x | c)``.
    MARGINAL = "marginal"
    #: The model's own null (unconditional) condition, e.g. the empty prompt or
    #: classifier-free guidance's null label: ``sample_batch`` and
    #: ``log_likelihood_batch`` receive ``None`` and compute ``p(x)`` themselves.
    NULL = "null"


_KIND_DESCRIPTIONS = {
    ConditionKind.CLASS: "class label",
    ConditionKind.TOKENS: "token sequence",
    ConditionKind.TEXT: "text prompt",
    ConditionKind.VECTOR: "embedding",
}

#: The fields of :class:`ConditionSpec` each kind takes (besides kind, description,
#: required and none_means); any other must be left ``None``.
_KIND_FIELDS = {
    ConditionKind.CLASS: ("classes", "prior", "labels"),
    ConditionKind.TOKENS: ("max_length", "pad_id", "vocab_size"),
    ConditionKind.TEXT: ("max_length",),
    ConditionKind.VECTOR: ("shape",),
}


def _prior(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        items = list(value)
    except TypeError:
        raise ValueError(
            f"a class prior must be a sequence of probabilities (got {value!r})"
        ) from None
    if any(isinstance(p, bool | str) for p in items):
        raise ValueError(f"a class prior must hold numbers (got {value!r})")
    try:
        return tuple(float(p) for p in items)
    except (TypeError, ValueError):
        raise ValueError(f"a class prior must hold numbers (got {value!r})") from None


def _class_labels(value: Any) -> tuple[str, ...] | None:
    """``None`` (no labels: protocol 2.1's class condition), or a tuple of distinct, non-empty
    str that are not whole numbers (the command line reads ``--condition 3`` as class 3)."""
    if value is None:
        return None
    if isinstance(value, str):
        raise ValueError(
            f"'labels' must be a sequence of str, one per class, not one str (got {value!r}); "
            f"write labels=({value!r},)"
        )
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(
            f"'labels' must be a sequence of str, one per class (got {value!r})"
        ) from None
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"a class label must be a non-empty str (got {item!r} in {items!r})")
        try:
            int(item)
        except ValueError:
            continue
        raise ValueError(
            f"a class label must not be a whole number (got {item!r}): '--condition {item}' "
            "would mean a class index"
        )
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise ValueError(f"class labels must be distinct (got {', '.join(map(repr, repeated))} "
                         f"more than once in {items!r})")
    return items


def _optional_shape(value: Any) -> tuple[int, ...] | None:
    return None if value is None else _shape(value)


def _optional_int(minimum: int) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[int | None], value: int | None) -> None:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < minimum
        ):
            raise ValueError(f"{attribute.name!r} must be an int >= {minimum} (got {value!r})")

    return check


@attrs.frozen
class ConditionSpec:
    """What a conditional model is conditioned on, and what ``condition=None`` means.

    The class condition is today's ``ConditionSpec(num_classes, description)``; the
    others are built with :meth:`tokens`, :meth:`text` and :meth:`vector`::

        ConditionSpec(10, "digit class")                    # labels 0..9, None: marginal
        ConditionSpec(3, "class", prior=(0.5, 0.3, 0.2))    # ... over this prior
        ConditionSpec(10, "digit", none_means=NoneMeans.NULL)  # None: guidance's null label
        ConditionSpec(3, "Census list", labels=("female", "male", "surname"))  # "male" is 1
        ConditionSpec.tokens(32, pad_id=0, vocab_size=100)  # prompt ids, (L,) or (n, L)
        ConditionSpec.text(max_length=200)                  # str, or a list of n str
        ConditionSpec.vector((16,))                         # (16,) or (n, 16) floats

    Attributes:
        kind: what a condition is (:class:`ConditionKind`); keyword only.
        classes: the number of classes (class kind; ``None`` otherwise). The
            constructor's first argument, ``num_classes``; :attr:`num_classes` reads it.
        description: what the condition is, in words.
        required: ``True``: ``condition=None`` is refused; ``False``: it means
            :attr:`none_means`.
        none_means: :attr:`NoneMeans.MARGINAL` (the default for classes) or
            :attr:`NoneMeans.NULL` (the default, and only choice, for the other kinds).
        prior: class probabilities ``p(c)`` (class kind): draws for ``condition=None``
            and weights of the marginal likelihood; ``None`` is uniform (the default).
        labels: a name for each class, in class order (class kind, protocol 2.2; ``None``:
            classes are numbers only, as in 2.1). Distinct non-empty str that are not whole
            numbers. ``condition="male"`` (or ``n`` such str) is then the class it names:
            :func:`genproto.conditions.check_condition` turns it into the index before the
            model sees it, so ``sample_batch`` still receives int64 labels.
        max_length: tokens: the most ids in a sequence (required); text: the most
            characters in a string (``None``: no limit). A plugin whose tokenizer
            gives more tokens than it handles raises ``ConditionError`` itself.
        pad_id: tokens: the id that pads shorter sequences to a common length (required).
        vocab_size: tokens: ids must lie in ``0 .. vocab_size-1`` (``None``: not checked
            beyond ``>= 0``).
        shape: vector: the shape of one embedding (required).
    """

    kind: ConditionKind = attrs.field(
        default=ConditionKind.CLASS, kw_only=True,
        validator=attrs.validators.instance_of(ConditionKind),
    )
    classes: int | None = attrs.field(
        default=None, alias="num_classes", validator=_optional_int(1)
    )
    description: str = attrs.field(
        default=attrs.Factory(
            lambda self: _KIND_DESCRIPTIONS.get(self.kind, "condition"), takes_self=True
        ),
        validator=attrs.validators.instance_of(str),
    )
    required: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    none_means: NoneMeans = attrs.field(
        default=attrs.Factory(
            lambda self: NoneMeans.MARGINAL if self.kind is ConditionKind.CLASS
            else NoneMeans.NULL,
            takes_self=True,
        ),
        kw_only=True, validator=attrs.validators.instance_of(NoneMeans),
    )
    prior: tuple[float, ...] | None = attrs.field(default=None, kw_only=True, converter=_prior)
    labels: tuple[str, ...] | None = attrs.field(
        default=None, kw_only=True, converter=_class_labels
    )
    max_length: int | None = attrs.field(default=None, kw_only=True, validator=_optional_int(1))
    pad_id: int | None = attrs.field(default=None, kw_only=True, validator=_optional_int(0))
    vocab_size: int | None = attrs.field(
        default=None, kw_only=True, validator=_optional_int(1)
    )
    shape: tuple[int, ...] | None = attrs.field(
        default=None, kw_only=True, converter=_optional_shape
    )

    def __attrs_post_init__(self) -> None:
        kind = self.kind
        extra = [
            name for name in ("classes", "prior", "labels", "max_length", "pad_id", "vocab_size",
                              "shape")
            if name not in _KIND_FIELDS[kind] and getattr(self, name) is not None
        ]
        if extra:
            shown = ", ".join(
                f"{'num_classes' if n == 'classes' else n}={getattr(self, n)!r}" for n in extra
            )
            raise ValueError(
                f"a {kind.value} condition takes {', '.join(_KIND_FIELDS[kind])} (got {shown})"
            )
        if self.none_means is NoneMeans.MARGINAL and kind is not ConditionKind.CLASS:
            raise ValueError(
                f"condition=None can mean the marginal over a prior only for class conditions "
                f"(a {kind.value} condition's None is NoneMeans.NULL, or set required=True)"
            )
        if kind is ConditionKind.CLASS:
            if self.classes is None:
                raise ValueError("a class condition needs 'num_classes', an int >= 1")
            if self.prior is not None:
                self._check_prior(self.classes, self.prior)
            if self.labels is not None and len(self.labels) != self.classes:
                raise ValueError(
                    f"class labels name every class: one label per class, num_classes="
                    f"{self.classes} (got {len(self.labels)} labels: {self.labels!r})"
                )
        elif kind is ConditionKind.TOKENS:
            if self.max_length is None or self.pad_id is None:
                raise ValueError(
                    "a token condition needs max_length (ids per sequence, >= 1) and pad_id "
                    f"(got max_length={self.max_length!r}, pad_id={self.pad_id!r})"
                )
            if self.vocab_size is not None and self.pad_id >= self.vocab_size:
                raise ValueError(
                    f"pad_id must be a token id 0..{self.vocab_size - 1} (got {self.pad_id})"
                )
        elif kind is ConditionKind.VECTOR and self.shape is None:
            raise ValueError("a vector condition needs shape, e.g. (16,)")

    @staticmethod
    def _check_prior(classes: int, prior: tuple[float, ...]) -> None:
        if len(prior) != classes:
            raise ValueError(
                f"a class prior needs one probability per class ({classes}; got {len(prior)})"
            )
        if not all(math.isfinite(p) and p >= 0 for p in prior):
            raise ValueError(f"class prior probabilities must be finite and >= 0 (got {prior})")
        if abs(math.fsum(prior) - 1) > 1e-6:
            raise ValueError(
                f"class prior probabilities must sum to 1 (got {prior}, sum {math.fsum(prior)})"
            )

    @classmethod
    def tokens(
        cls, max_length: int, pad_id: int, *, vocab_size: int | None = None,
        description: str = "token sequence", required: bool = False,
    ) -> ConditionSpec:
        """Token ids: an int tensor ``(L,)`` for all n or ``(n, L)``, ``1 <= L <= max_length``."""
        return cls(kind=ConditionKind.TOKENS, max_length=max_length, pad_id=pad_id,
                   vocab_size=vocab_size, description=description, required=required)

    @classmethod
    def text(
        cls, *, max_length: int | None = None, description: str = "text prompt",
        required: bool = False,
    ) -> ConditionSpec:
        """Strings (one for all n, or a list of n), at most ``max_length`` characters."""
        return cls(kind=ConditionKind.TEXT, max_length=max_length, description=description,
                   required=required)

    @classmethod
    def vector(
        cls, shape: tuple[int, ...], *, description: str = "embedding", required: bool = False,
    ) -> ConditionSpec:
        """Float embeddings: a tensor ``shape`` for all n or ``(n, *shape)``, finite."""
        return cls(kind=ConditionKind.VECTOR, shape=shape, description=description,
                   required=required)

    @property
    def num_classes(self) -> int:
        """The number of classes of a class condition (an ``AttributeError`` for other kinds:
        branch on :attr:`kind`)."""
        if self.classes is None:
            raise AttributeError(
                f"a {self.kind.value} condition has no num_classes (only kind 'class' has): "
                "branch on ConditionSpec.kind"
            )
        return self.classes

    @property
    def uniform_prior(self) -> bool:
        """Whether the class prior is uniform (no prior declared, or equal probabilities)."""
        return self.prior is None or len(set(self.prior)) == 1

    @property
    def class_prior(self) -> tuple[float, ...]:
        """``p(c)`` for every class, summing to 1 (uniform unless a prior is declared)."""
        if self.prior is None:
            return (1 / self.num_classes,) * self.num_classes
        total = math.fsum(self.prior)
        return tuple(p / total for p in self.prior)

    def accepts_same(self, other: ConditionSpec) -> bool:
        """Whether ``other`` takes the same condition values (descriptions aside); different
        class labels are different values (``"male"`` may be class 1 or none at all)."""
        return (self.kind, self.classes, self.labels, self.max_length, self.pad_id,
                self.vocab_size, self.shape) == (other.kind, other.classes, other.labels,
                                                 other.max_length, other.pad_id,
                                                 other.vocab_size, other.shape)

    def describe(self) -> str:
        """E.g. ``"digit class 0..9 (optional)"``, ``"Census list 0..2 (female, male,
        surname) (optional)"``, ``"text prompt, up to 200 characters (optional, None: null
        condition)"``."""
        kind = self.kind
        if kind is ConditionKind.CLASS:
            what = f"{self.description} 0..{self.num_classes - 1}"
            if self.labels is not None:
                what += f" ({', '.join(self.labels)})"
        elif kind is ConditionKind.TOKENS:
            vocab = "" if self.vocab_size is None else f", ids 0..{self.vocab_size - 1}"
            what = f"{self.description}, up to {self.max_length} ids (pad {self.pad_id}{vocab})"
        elif kind is ConditionKind.TEXT:
            limit = "" if self.max_length is None else f", up to {self.max_length} characters"
            what = f"{self.description}{limit}"
        else:
            dims = "x".join(str(d) for d in self.shape or ())
            what = f"{self.description}, {dims} floats"
        if self.required:
            need = "required"
        elif self.none_means is NoneMeans.NULL:
            need = "optional, None: null condition"
        elif not self.uniform_prior:
            need = "optional, None: marginal over prior " + "/".join(
                f"{p:g}" for p in self.class_prior)
        else:
            need = "optional"
        return f"{what} ({need})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; a class condition with the defaults writes protocol 1.x's three keys
        (``"labels"`` only when declared, so a 2.1 spec writes what 2.1 wrote)."""
        data: dict[str, Any] = {}
        if self.kind is ConditionKind.CLASS:
            data["num_classes"] = self.classes
        else:
            data["kind"] = self.kind.value
        data["description"] = self.description
        data["required"] = self.required
        default_none = NoneMeans.MARGINAL if self.kind is ConditionKind.CLASS else NoneMeans.NULL
        if self.none_means is not default_none:
            data["none_means"] = self.none_means.value
        for name in ("prior", "labels", "max_length", "pad_id", "vocab_size", "shape"):
            value = getattr(self, name)
            if value is not None:
                data[name] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConditionSpec:
        """Inverse of :meth:`to_dict`; reads protocol 1.x's ``{num_classes, description,
        required}`` and 2.1's keys (no ``"labels"``) unchanged. Raises
        ``KeyError``/``ValueError`` on bad data."""
        kind = ConditionKind(data.get("kind", ConditionKind.CLASS.value))
        extra: dict[str, Any] = {}
        if "none_means" in data:
            extra["none_means"] = NoneMeans(data["none_means"])
        for name in ("prior", "labels", "max_length", "pad_id", "vocab_size", "shape"):
            if data.get(name) is not None:
                extra[name] = data[name]
        return cls(
            data["num_classes"] if kind is ConditionKind.CLASS else None,
            data["description"], data["required"], kind=kind, **extra,
        )


def _paradigms(value: Any) -> tuple[Paradigm, ...]:
    items = (value,) if isinstance(value, Paradigm) else tuple(value)
    if not items or not all(isinstance(p, Paradigm) for p in items):
        raise ValueError(f"paradigms must be a non-empty sequence of Paradigm (got {value!r})")
    if len(set(items)) != len(items):
        raise ValueError(f"paradigms must not repeat (got {value!r})")
    return items


def _tolerance(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"{attribute.name} must be a finite number >= 0 (got {value!r})")


@attrs.frozen
class BatchTolerance:
    """How much a model's samples may move between batch sizes (and processes).

    Sample ``i`` depends only on ``(seed, i)``; bit for bit where the arithmetic allows.
    Row-wise float arithmetic can differ in the last bits between batch shapes (a CPU
    convolution differs by ~1e-6, and a few denoising steps amplify it), so a model
    declares what it keeps: continuous samples agree within ``atol + rtol * |x|``;
    for discrete samples at most ``flip_fraction`` of the rows may differ (a float
    difference that flips a draw). The defaults are the strict ones every shipped
    model keeps; the contract suite holds a model to what it declares.
    """

    atol: float = attrs.field(default=1e-5, validator=_tolerance)
    rtol: float = attrs.field(default=1e-4, validator=_tolerance)
    flip_fraction: float = attrs.field(default=0.0, validator=_tolerance)

    def __attrs_post_init__(self) -> None:
        if self.flip_fraction > 1:
            raise ValueError(f"flip_fraction is a fraction of rows (got {self.flip_fraction})")

    @property
    def strict(self) -> bool:
        return self == BatchTolerance()

    def agree(self, a: torch.Tensor, b: torch.Tensor, *, discrete: bool) -> bool:
        """Whether two runs' samples of the same indices agree within this tolerance."""
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if not discrete:
            return bool(torch.allclose(a, b, rtol=self.rtol, atol=self.atol))
        if a.shape[0] == 0:
            return True
        differ = (a != b).reshape(a.shape[0], -1).any(1)
        return float(differ.double().mean()) <= self.flip_fraction

    def to_dict(self) -> dict[str, float]:
        return {"atol": self.atol, "rtol": self.rtol, "flip_fraction": self.flip_fraction}


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
        batch_tolerance: how much samples may move between batch sizes
            (:class:`BatchTolerance`; strict by default).
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
    batch_tolerance: BatchTolerance = attrs.field(
        factory=BatchTolerance, validator=attrs.validators.instance_of(BatchTolerance)
    )

    @property
    def conditional(self) -> bool:
        return self.condition is not None

    @property
    def is_hybrid(self) -> bool:
        return len(self.paradigms) > 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (used by checkpoints and ``genproto list --json``).

        ``batch_tolerance`` is written only when it is not the strict default, so a
        checkpoint of a model that declares none reads the same as before protocol 2.
        """
        extra = {} if self.batch_tolerance.strict else {
            "batch_tolerance": self.batch_tolerance.to_dict()
        }
        return extra | {
            "paradigms": [p.value for p in self.paradigms],
            "likelihood": self.likelihood.value,
            "cost": self.cost.to_dict(),
            "event": self.event.to_dict(),
            "condition": None if self.condition is None else self.condition.to_dict(),
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
        cond = data["condition"]
        return cls(
            paradigms=tuple(Paradigm(p) for p in data["paradigms"]),
            likelihood=Likelihood(data["likelihood"]),
            cost=SampleCost.from_dict(cost),
            event=EventSpace.from_dict(data["event"]),
            condition=None
            if cond is None
            else ConditionSpec.from_dict(cond),
            objective=data["objective"],
            sampling=data["sampling"],
            protocol_version=data["protocol_version"],
            parts=tuple(
                Part(p["role"], cls.from_dict(p["capabilities"])) for p in data.get("parts", ())
            ),
            batch_tolerance=BatchTolerance(**data.get("batch_tolerance", {})),
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


@runtime_checkable
class TextCodec(Protocol):
    """Optional (protocol 2.1): a model whose events are text says how they map to strings.

    A model with a variable-length sequence event (:meth:`EventSpace.sequence`) whose
    tokens spell text implements both methods; ``genproto sample -o names.txt`` (one
    sample a line) and ``.jsonl`` then write text, and ``genproto compare`` measures
    it with the text metrics. The two are inverse on the model's valid texts:
    ``to_text(from_text(t)) == t``.
    """

    def to_text(self, x: torch.Tensor) -> list[str]:
        """The text of each row of ``x`` ``(N, *event.shape)``: the tokens before the first
        stop, decoded (special tokens left out)."""
        ...

    def from_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Events ``(N, *event.shape)`` of ``event.dtype`` spelling ``texts``, each ended by the
        stop and filled with the pad; a ``genproto.errors.InputError`` naming a text that does
        not fit (too long, or characters the vocabulary lacks)."""
        ...


@runtime_checkable
class Interpolates(Protocol):
    """Optional (protocol 2.2): a model with a latent space decodes the path between two events.

    A latent-variable model (a VAE: encode each end to its posterior mean, walk the line
    between the two codes, decode each point; Kingma and Welling 2014, and Bowman et al.
    2016, "Generating Sentences from a Continuous Space", for interpolating sentences) or any
    model with an encoder into its sampling noise implements it; ``genproto sample MODEL
    --interpolate A B --steps N`` calls it. ``isinstance`` checks the name only; the
    command line also checks that the method takes these arguments and what it returns.
    """

    def interpolate(
        self,
        start: torch.Tensor,
        end: torch.Tensor,
        steps: int,
        *,
        condition: Any = None,
        seed: int = 0,
    ) -> torch.Tensor:
        """``steps`` (>= 2) events ``(steps, *event.shape)`` of ``event.dtype`` decoded along
        the model's latent path from ``start``'s code to ``end``'s, both ends included.

        ``start`` and ``end`` are one event each (``event.shape``). ``condition`` is one
        condition of the model's spec for the whole path (a class label, its str where the
        spec declares labels, a prompt ...; ``None`` as in ``sample``); ``seed`` keys any
        random number the path uses (a decoder that samples rather than takes its mode), so
        the same arguments give the same events.
        """
        ...
