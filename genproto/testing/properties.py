"""The contract properties: what every genproto model must do, checked against what it declares.

Each ``check_*`` function takes a model (or a factory, where the property needs a fresh one),
returns the notes of sub-checks it skipped (each with the declared reason), raises
:class:`~genproto.errors.ContractViolation` naming the property and a one-line reproduction when
the model breaks it, and :class:`NotApplicable` when a declared capability rules it out.
The three likelihood properties (``likelihood_values``, ``exact_determinism`` and the
statistical ``likelihood``) live in :mod:`genproto.testing.likelihood`.

=================  =====================================================================
property           what is checked
=================  =====================================================================
conformance        isinstance GenerativeModel; capabilities well-formed and consistent
shape              shape (n, *event.shape), dtype, device, support (levels, the declared
                   range, the stop/pad rule), for n = 0, 1, primes, more than one batch
determinism        same seed, same samples; different seeds differ; global RNGs neither
                   read nor changed; ``seed=None`` reports a seed that replays
batch_invariance   samples independent of batch_size, of a split with ``start`` and of
                   streaming
cost               evaluations the sampler counts == the declared SampleCost, per setting;
                   no output from networks the hooks cannot see
conditioning       samples follow the asked condition (every kind); bad conditions raise
                   ConditionError
bad_input          bad n, seed, batch_size, options and x raise the documented typed error
side_effects       on a freshly built model, from its first sample and log_likelihood
                   calls on: inputs, parameters, buffers, train/eval modes and global
                   RNGs untouched
persistence        save -> genproto.load gives the same samples and log-likelihoods
=================  =====================================================================

Float samples are compared with the tolerance :data:`RTOL` / :data:`ATOL` where bit-equality
is not promised (batch invariance: matrix kernels may sum in a different order for another
batch size); discrete samples are always compared bit for bit.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from hypothesis import strategies as st

from genproto.errors import GenprotoError, OptionError
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import (
    STORAGE_DTYPES,
    BatchTolerance,
    Capabilities,
    Condition,
    ConditionKind,
    ConditionSpec,
    CostGrowth,
    EventKind,
    GenerativeModel,
    Likelihood,
    Paradigm,
    SampleCost,
    protocol_compatible,
)
from genproto.testing import strategies as gs
from genproto.testing._core import (
    FIXED_SEED,
    HANG_SECONDS,
    ModelSource,
    NotApplicable,
    Notes,
    X,
    call_text,
    disturb_global_rng,
    fail,
    fixed_seed,
    global_rng_state,
    guard,
    preserved_global_rng,
    resolve,
    run_given,
    same_rng_state,
)

__all__ = [
    "ATOL",
    "RTOL",
    "check_bad_input",
    "check_batch_invariance",
    "check_conditioning",
    "check_conformance",
    "check_cost",
    "check_determinism",
    "check_persistence",
    "check_shape",
    "check_side_effects",
    "default_condition",
    "example_conditions",
    "fit_condition",
    "per_sample_condition",
    "slice_condition",
    "stack_conditions",
]

#: Relative tolerance for float samples that should agree (batch invariance).
RTOL = 1e-4
#: Absolute tolerance for float samples that should agree (batch invariance).
ATOL = 1e-5

_MEMBERS = ("name", "capabilities", "cost", "sample", "log_likelihood", "save")


#: Distinct conditions tried where a kind has no natural list (tokens, text, vector).
EXAMPLE_CONDITIONS = 4


def example_conditions(spec: ConditionSpec, count: int = EXAMPLE_CONDITIONS) -> list[Condition]:
    """Up to ``count`` distinct conditions of ``spec``'s kind, each one value for all samples:
    classes ``0, 1, ...``; prompts of one repeated id (``[1, 1]``, ``[2, 2]``, ... never the
    pad, at most ``max_length`` long, all of one length); the texts ``"a"``, ``"b"``, ...;
    the embeddings 0, +1, -1, +2, ... (every value the same)."""
    kind = spec.kind
    if kind is ConditionKind.CLASS:
        return list(range(min(spec.num_classes, count)))
    if kind is ConditionKind.TOKENS:
        length = min(2, spec.max_length or 1)
        top = spec.vocab_size if spec.vocab_size is not None else gs.UNDECLARED_VOCABULARY
        ids = [i for i in range(top) if i != spec.pad_id] or [int(spec.pad_id or 0)]
        return [torch.full((length,), i, dtype=torch.int64) for i in ids[:count]]
    if kind is ConditionKind.TEXT:
        return list("abcdefghijklmnopqrstuvwxyz"[:count])
    levels = [0.0] + [sign * k for k in range(1, count) for sign in (1.0, -1.0)]
    return [torch.full(tuple(spec.shape or ()), v) for v in levels[:count]]


def stack_conditions(spec: ConditionSpec, values: Sequence[Condition]) -> Condition:
    """Per-sample conditions made of one single condition per sample (as
    :func:`example_conditions` gives them): labels, ``(n, L)`` ids, ``(n, *shape)``
    embeddings or a list of n str."""
    if spec.kind is ConditionKind.CLASS:
        return torch.tensor([int(v) for v in values], dtype=torch.int64)  # type: ignore[arg-type]
    if spec.kind is ConditionKind.TEXT:
        return [str(v) for v in values]
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    if not tensors:
        shape = (0, 1) if spec.kind is ConditionKind.TOKENS else (0, *(spec.shape or ()))
        return torch.zeros(shape, dtype=torch.int64 if spec.kind is ConditionKind.TOKENS
                           else torch.float32)
    return torch.stack(tensors)


def per_sample_condition(spec: ConditionSpec, n: int) -> Condition:
    """``n`` per-sample conditions cycling through the examples: ``torch.arange(n) % C``
    labels for classes (every class), else :func:`example_conditions` in turn."""
    if spec.kind is ConditionKind.CLASS:
        return torch.arange(n) % spec.num_classes
    examples = example_conditions(spec)
    return stack_conditions(spec, [examples[i % len(examples)] for i in range(n)])


def default_condition(caps: Capabilities) -> Condition:
    """``None``, or for a model whose condition is required one value of its kind (class 0,
    a prompt of id 1, the text "a", the zero embedding: :func:`example_conditions`' first)."""
    spec = caps.condition
    if spec is None or not spec.required:
        return None
    return example_conditions(spec, 1)[0]


def fit_condition(call: gs.SampleCall, caps: Capabilities) -> gs.SampleCall:
    """``call`` with its condition made valid for ``caps`` (:func:`default_condition` where
    one is required)."""
    spec = caps.condition
    if spec is None and call.condition is not None:
        return gs.SampleCall(call.n, call.seed, call.batch_size, None)
    if spec is not None and spec.required and call.condition is None:
        return gs.SampleCall(call.n, call.seed, call.batch_size, default_condition(caps))
    return call


def is_per_sample(condition: Condition, spec: ConditionSpec | None) -> bool:
    """Whether ``condition`` holds one value per sample (labels, ``(n, L)`` ids, ``(n,
    *shape)`` embeddings, a list of str), so that a part of the run takes its rows."""
    if spec is None or condition is None or isinstance(condition, str | int):
        return False
    if isinstance(condition, torch.Tensor):
        if spec.kind is ConditionKind.TOKENS:
            return condition.ndim == 2
        if spec.kind is ConditionKind.VECTOR:
            return condition.ndim == len(spec.shape or ()) + 1
        return condition.ndim == 1
    return True  # a list: labels or strings


def slice_condition(condition: Condition, rows: slice, spec: ConditionSpec | None) -> Condition:
    """The rows of a per-sample condition (anything else is the same for every sample)."""
    if not is_per_sample(condition, spec):
        return condition
    return condition[rows]  # type: ignore[index]


def copy_condition(condition: Condition) -> Condition:
    """A copy to compare with after a call (inputs must not be modified)."""
    if isinstance(condition, torch.Tensor):
        return condition.clone()
    if isinstance(condition, list):
        return list(condition)
    return condition


def same_condition(a: Condition, b: Condition) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and torch.equal(a, b)
    return type(a) is type(b) and a == b


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0


def _agree(a: torch.Tensor, b: torch.Tensor, kind: EventKind, *, exact: bool,
           tolerance: BatchTolerance | None = None) -> bool:
    """Same samples: bit for bit where ``exact``, else within the model's declared
    :class:`~genproto.protocol.BatchTolerance` (strict by default: discrete samples bit
    for bit, floats within ``RTOL``/``ATOL``)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if exact:
        return torch.equal(a, b)
    return (tolerance or BatchTolerance()).agree(a, b, discrete=kind is EventKind.DISCRETE)


# -- 1. conformance --------------------------------------------------------------------------

_GROWS = {Paradigm.AUTOREGRESSIVE: CostGrowth.PER_TOKEN, Paradigm.DIFFUSION: CostGrowth.PER_STEP}


def check_conformance(model: GenerativeModel, *, registry: Any = None) -> Notes:
    """The protocol is implemented and the declared capabilities are well-formed and consistent.

    Single pass <=> exactly one evaluation; autoregressive and diffusion components make the cost
    grow (per token, per step); a discrete event is stored in one of ``STORAGE_DTYPES`` that holds
    its levels (int64 by default), a continuous one in float32; capabilities survive
    the checkpoint round trip; ``cost()`` equals the declared cost; a ``genproto.Model`` declares
    a non-empty mapping of networks that live on its device. A model built by a registry declares
    the same capabilities as its registration did.
    """
    prop = "conformance"
    if not isinstance(model, GenerativeModel):
        missing = [m for m in _MEMBERS if not hasattr(model, m)]
        fail(prop, f"{type(model).__name__} does not implement genproto.GenerativeModel "
                   f"(missing: {', '.join(missing)})")
    name = guard(prop, "model.name", lambda: model.name)
    if not isinstance(name, str) or not name:
        fail(prop, f"model.name must be a non-empty str (got {name!r})", reproduction="model.name")
    caps = guard(prop, "model.capabilities", lambda: model.capabilities)
    if not isinstance(caps, Capabilities):
        fail(prop, "model.capabilities must be a genproto.Capabilities "
                   f"(got {type(caps).__name__})", reproduction="model.capabilities")
    if not protocol_compatible(caps.protocol_version):
        fail(prop, f"declares protocol {caps.protocol_version!r}, not readable by this genproto",
             reproduction="model.capabilities.protocol_version")
    back = guard(prop, "Capabilities.from_dict(caps.to_dict())",
                 lambda: Capabilities.from_dict(caps.to_dict()))
    if back != caps:
        fail(prop, "capabilities do not survive to_dict/from_dict (checkpoints store them)",
             reproduction="Capabilities.from_dict(model.capabilities.to_dict())")
    cost = guard(prop, "model.cost()", model.cost)
    if not isinstance(cost, SampleCost) or cost != caps.cost:
        fail(prop, f"model.cost() with default options is {cost!r}, but capabilities.cost is "
                   f"{caps.cost!r}", reproduction="model.cost()")
    _check_growth(prop, caps)
    _check_storage(prop, caps)
    notes: list[str] = []
    if isinstance(model, Model):
        _check_networks(prop, model)
        _check_options(prop, model)
    else:
        notes.append("networks: not a genproto.Model, so no networks are declared to count")
    _check_registration(prop, model, caps, registry)
    return tuple(notes)


def _check_storage(prop: str, caps: Capabilities) -> None:
    """A discrete event is stored in one of ``STORAGE_DTYPES`` that holds its levels; a
    continuous one is float32."""
    event = caps.event
    dtype = event.dtype
    if event.kind is EventKind.CONTINUOUS:
        if dtype != torch.float32:
            fail(prop, f"a continuous event holds torch.float32 (declares {dtype})")
        return
    allowed = ", ".join(str(d).removeprefix("torch.") for d in STORAGE_DTYPES)
    if dtype not in STORAGE_DTYPES:
        fail(prop, f"a discrete event is stored as one of {allowed} (declares {dtype})")
    top = (event.levels or 0) - 1
    if top > torch.iinfo(dtype).max:
        fail(prop, f"a discrete event of levels 0..{top} cannot be stored as {dtype} (at most "
                   f"{torch.iinfo(dtype).max}); declare a larger storage of {allowed}")


def _check_growth(prop: str, caps: Capabilities) -> None:
    cost = caps.cost
    kinds = {_GROWS[p] for p in caps.paradigms if p in _GROWS}
    names = " + ".join(p.value for p in caps.paradigms)
    if cost.growth is CostGrowth.SINGLE_PASS:
        if cost.evaluations != 1:
            fail(prop, f"a single-pass cost must be 1 evaluation (declares {cost.evaluations})")
        if kinds:
            fail(prop, f"declares a single-pass cost, but {names} sampling grows with "
                       f"{' and '.join(sorted(k.value for k in kinds))}",
                 reproduction="model.capabilities.cost")
    elif kinds and cost.growth not in kinds:
        fail(prop, f"declares a {cost.growth.value} cost, but {names} grows "
                   f"{' or '.join(sorted(k.value for k in kinds))}",
             reproduction="model.capabilities.cost")


def _check_networks(prop: str, model: Model) -> None:
    nets = guard(prop, "model.networks()", model.networks)
    if not isinstance(nets, Mapping) or not nets:
        fail(prop, "networks() must return a non-empty mapping of name to torch.nn.Module "
                   "(the sampler counts evaluations as calls of them)",
             reproduction="model.networks()")
    for key, net in nets.items():
        if not isinstance(key, str) or not isinstance(net, torch.nn.Module):
            fail(prop, f"networks() entry {key!r} must map a str to a torch.nn.Module "
                       f"(got {type(net).__name__})", reproduction="model.networks()")
        for tensor in (*net.parameters(), *net.buffers()):
            if tensor.device != model.device:
                fail(prop, f"network {key!r} holds a tensor on {tensor.device}, but the model "
                           f"says it is on {model.device}", reproduction="model.to(device)")


def _check_options(prop: str, model: Model) -> None:
    for kind in ("sample_options", "likelihood_options"):
        declared = getattr(model, kind)
        if not all(isinstance(o, Option) for o in declared):
            fail(prop, f"{kind} must hold genproto.options.Option values")
        names = [o.name for o in declared]
        if len(set(names)) != len(names):
            fail(prop, f"{kind} declares an option twice: {names}")


def _check_registration(prop: str, model: GenerativeModel, caps: Capabilities, reg: Any) -> None:
    origin = getattr(model, "origin", None)
    if origin is None or reg is None:
        return
    try:
        entry = reg.entry(origin.name)
    except GenprotoError:
        return
    defaults = {o.name: o.default for o in entry.options}
    if dict(origin.options) == defaults and entry.capabilities != caps:
        fail(prop, f"the registry declares {entry.capabilities!r} for {origin.name!r}, but the "
                   f"model built with default options declares {caps!r} (find() would lie)",
             reproduction=f"registry.get({origin.name!r}).capabilities")


# -- 2. shape ---------------------------------------------------------------------------------

_SHAPE_EXAMPLES = (
    gs.SampleCall(0, 0), gs.SampleCall(1, 0), gs.SampleCall(2, 1), gs.SampleCall(7, 2, 3),
    gs.SampleCall(13, 3, 5),
)


def _check_samples(
    prop: str, model: GenerativeModel, x: Any, n: int, call: str, example: dict[str, Any],
    repro: str | None = None,
) -> None:
    """``x`` is a tensor of shape ``(n, *event.shape)``, the event dtype, on the model's device,
    inside the support."""
    repro = repro or call
    event = model.capabilities.event
    want = (n, *event.shape)
    if not isinstance(x, torch.Tensor):
        fail(prop, f"{call} returned {type(x).__name__}, not a torch.Tensor",
             reproduction=repro, **example)
    if tuple(x.shape) != want:
        fail(prop, f"{call} returned shape {tuple(x.shape)}; expected {want} = (n, *event.shape)",
             reproduction=repro, **example)
    if x.dtype != event.dtype:
        fail(prop, f"{call} returned dtype {x.dtype}; a {event.kind.value} event is {event.dtype}",
             reproduction=repro, **example)
    device = getattr(model, "device", x.device)
    if x.device != device:
        fail(prop, f"{call} returned a tensor on {x.device}; the model is on {device}",
             reproduction=repro, **example)
    if not x.numel():
        return
    if event.kind is EventKind.DISCRETE:
        low, high = int(x.min()), int(x.max())
        if low < 0 or high >= (event.levels or 0):
            fail(prop, f"{call} returned level {low if low < 0 else high}, outside the declared "
                       f"levels 0..{(event.levels or 0) - 1}", reproduction=repro, **example)
    elif not bool(torch.isfinite(x).all()):
        rows = (~torch.isfinite(x)).reshape(n, -1).any(1).nonzero().reshape(-1).tolist()
        fail(prop, f"{call} returned NaN or inf in rows {rows[:5]}", reproduction=repro, **example)
    outside = ~event.contains(x.detach().cpu())
    if bool(outside.any()):
        row = int(outside.nonzero()[0, 0])
        if event.is_sequence:
            position = int(event.misplaced(x[row : row + 1].cpu()).nonzero()[0, 1])
            fail(prop, f"{call} returned row {row} = {x[row].tolist()}, which breaks the stop/pad "
                       f"rule at position {position} (stop {event.stop}, pad {event.pad}: the "
                       "tokens up to the first stop, then only padding)",
                 reproduction=repro, **example)
        values = x[row].reshape(-1).double()
        worst = float(values.min()) if event.low is not None and float(values.min()) < \
            event.low else float(values.max())
        fail(prop, f"{call} returned {worst:.6g} in row {row}, outside the declared range "
                   f"[{event.low}, {event.high}] (give or take {event.range_slack:g})",
             reproduction=repro, **example)


def check_shape(model: GenerativeModel, *, profile: str = gs.CI_PROFILE) -> Notes:
    """Samples have shape ``(n, *event.shape)``, the event dtype and device, values in the support,
    for n = 0, 1, primes and more than one batch; ``sample_iter`` chunks too."""
    prop = "shape"
    spec = model.capabilities.condition

    def test(call: gs.SampleCall) -> None:
        call = fit_condition(call, model.capabilities)
        text = call.text()
        x = guard(prop, text, model.sample, call.n, **call.kwargs())
        _check_samples(prop, model, x, call.n, text, call.example())
        if isinstance(model, Model):
            text = f"list({call.text('sample_iter')})"
            chunks = guard(prop, text, lambda: list(model.sample_iter(call.n, **call.kwargs())))
            total = 0
            for chunk in chunks:
                size = chunk.shape[0] if isinstance(chunk, torch.Tensor) and chunk.ndim else -1
                _check_samples(prop, model, chunk, max(size, 0), f"a chunk of {text}",
                               call.example(), f"[c.shape for c in {call.text('sample_iter')}]")
                total += size
            if total != call.n:
                fail(prop, f"{text} yielded {total} samples in all, not n={call.n}",
                     reproduction=text, **call.example())

    run_given(profile, test, {"call": gs.sample_calls(spec)},
              tuple({"call": c} for c in _SHAPE_EXAMPLES))
    return ()


# -- 3. determinism ---------------------------------------------------------------------------


def check_determinism(model: GenerativeModel, *, profile: str = gs.CI_PROFILE) -> Notes:
    """Same seed => same samples (also after the global RNGs are reseeded); different seeds =>
    different samples; sampling neither reads nor changes the global RNGs; ``seed=None``
    reports the fresh seed it used, which replays the samples."""
    prop = "determinism"
    caps = model.capabilities
    cond = default_condition(caps)
    device = getattr(model, "device", None)

    # 1. the global generators are left alone (the most specific diagnosis, checked first)
    text = call_text("sample", 16, seed=0, condition=cond)
    before = global_rng_state(device)
    guard(prop, text, model.sample, 16, seed=0, condition=cond)
    changed = same_rng_state(before, global_rng_state(device))
    if changed:
        fail(prop, f"sampling changed the global RNG state of {', '.join(changed)}: every random "
                   "number must come from the keyed streams of (seed, i), never from a global "
                   "generator", reproduction=f"s = torch.get_rng_state(); {text}; "
                   "torch.equal(s, torch.get_rng_state())  # False", n=16, seed=0)

    # 2. same seed => same samples, whatever the global RNGs hold; other seeds differ
    def test(call: gs.SampleCall, other: int, noise: int) -> None:
        cond_call = fit_condition(call, caps)
        text = cond_call.text()
        first = guard(prop, text, model.sample, cond_call.n, **cond_call.kwargs())
        again = guard(prop, text, model.sample, cond_call.n, **cond_call.kwargs())
        if not torch.equal(first, again):
            fail(prop, f"the same call gave different samples twice (max difference "
                       f"{_max_diff(first, again):.3g}): {text}",
                 reproduction=f"torch.equal({text}, {text})  # False", **cond_call.example())
        disturb_global_rng(noise)
        third = guard(prop, text, model.sample, cond_call.n, **cond_call.kwargs())
        if not torch.equal(first, third):
            fail(prop, "the samples changed after the global RNGs were reseeded: the model reads "
                       "a global generator", reproduction=f"a = {text}; torch.manual_seed("
                       f"{noise % 2**63}); torch.equal(a, {text})  # False",
                 **cond_call.example())
        if other != call.seed:
            _different_seeds(call.seed, other)

    def _different_seeds(seed: int, other: int) -> None:
        # with one condition fixed: labels drawn from the streams would hide a model's own seed
        # use
        m = 64
        fixed = None if caps.condition is None else example_conditions(caps.condition, 1)[0]
        first = call_text("sample", m, seed=seed, condition=fixed)
        second = call_text("sample", m, seed=other, condition=fixed)
        a = guard(prop, first, model.sample, m, seed=seed, condition=fixed)
        b = guard(prop, second, model.sample, m, seed=other, condition=fixed)
        if torch.equal(a, b):
            fail(prop, f"seeds {seed} and {other} gave the same {m} samples: the model ignores "
                       "its seed", reproduction=f"torch.equal({first}, {second})  # True",
                 n=m, seed=seed, other_seed=other, condition=fixed)

    with preserved_global_rng():  # reseeded on purpose above; the caller's state comes back
        run_given(
            profile, test,
            {"call": gs.sample_calls(caps.condition, min_n=1), "other": gs.seeds(),
             "noise": gs.seeds()},
            ({"call": gs.SampleCall(5, 0), "other": 1, "noise": 12345},),
        )

    # 3. a fresh seed is reported and replays
    if isinstance(model, Model):
        text = call_text("sample_run", 8, seed=None, condition=cond)
        run = guard(prop, text, model.sample_run, 8, seed=None, condition=cond)
        replay = guard(prop, call_text("sample", 8, seed=run.seed, condition=cond),
                       model.sample, 8, seed=run.seed, condition=cond)
        if not torch.equal(run.samples, replay):
            fail(prop, f"the seed reported by {text} does not replay its samples",
                 reproduction=f"r = {text}; model.sample(8, seed=r.seed)", n=8, seed=run.seed)
    return ()


# -- 4. batch invariance ----------------------------------------------------------------------


def check_batch_invariance(model: GenerativeModel, *, profile: str = gs.CI_PROFILE) -> Notes:
    """Sample ``i`` depends only on (seed, i) and its condition: not on ``batch_size`` (1, a
    prime, n, automatic), nor on splitting the run with ``start`` (as processes do), nor on
    streaming it with ``sample_iter``. Float samples agree within ``RTOL``/``ATOL``."""
    prop = "batch_invariance"
    caps = model.capabilities
    kind = caps.event.kind
    tol = caps.batch_tolerance

    def test(call: gs.SampleCall, prime: int, split: int) -> None:
        cond = fit_condition(call, caps).condition
        n, seed = call.n, call.seed
        ref_call = gs.SampleCall(n, seed, n, cond)
        reference = guard(prop, ref_call.text(), model.sample, n, **ref_call.kwargs())
        for size in dict.fromkeys((1, prime, None, call.batch_size)):
            other = gs.SampleCall(n, seed, size, cond)
            x = guard(prop, other.text(), model.sample, n, **other.kwargs())
            if not _agree(x, reference, kind, exact=False, tolerance=tol):
                rows = _differing_rows(x, reference, kind, tol)
                fail(prop, f"samples depend on the batch size: batch_size={size} and "
                           f"batch_size={n} differ in rows {rows[:5]} (max difference "
                           f"{_max_diff(x, reference):.3g}){_beyond(tol)}",
                     reproduction=f"{other.text()} vs {ref_call.text()}", **other.example())
        if not isinstance(model, Model):
            return
        from genproto import sampling

        first = split % n
        part = slice(first, n)
        text = call_text("sample_run", n - first, seed=seed, start=first,
                         condition=slice_condition(cond, part, caps.condition))
        piece = guard(prop, text, lambda: sampling.run(
            model, n - first, seed=seed, start=first,
            condition=slice_condition(cond, part, caps.condition)
        ).samples)
        if not _agree(piece, reference[part], kind, exact=False, tolerance=tol):
            fail(prop, f"samples {first}..{n - 1} drawn with start={first} differ from the same "
                       "samples of the whole run (a run split across processes would differ)",
                 reproduction=f"{text} vs {ref_call.text()}[{first}:]", n=n, seed=seed,
                 start=first)
        text = f"torch.cat(list({ref_call.text('sample_iter', batch_size=prime)}))"
        chunks = guard(prop, text, lambda: list(model.sample_iter(n, seed=seed, batch_size=prime,
                                                                  condition=cond)))
        streamed = torch.cat(chunks) if chunks else reference[:0]
        if not _agree(streamed, reference, kind, exact=False, tolerance=tol):
            fail(prop, "sample_iter yields other samples than sample",
                 reproduction=f"{text} vs {ref_call.text()}", n=n, seed=seed)

    run_given(
        profile, test,
        {"call": gs.sample_calls(caps.condition, min_n=2), "prime": st.sampled_from(gs.PRIMES),
         "split": st.integers(0, 64)},
    )
    return ()


def _beyond(tolerance: BatchTolerance) -> str:
    """How a failure relates to the model's declared tolerance (nothing when it is strict)."""
    if tolerance.strict:
        return ""
    return (f", beyond the declared batch tolerance (atol={tolerance.atol:g}, "
            f"rtol={tolerance.rtol:g}, flip_fraction={tolerance.flip_fraction:g})")


def _differing_rows(a: torch.Tensor, b: torch.Tensor, kind: EventKind,
                    tolerance: BatchTolerance | None = None) -> list[int]:
    tol = tolerance or BatchTolerance()
    if a.shape != b.shape:
        return []
    if kind is EventKind.DISCRETE:
        bad = (a != b).reshape(a.shape[0], -1).any(1)
    else:
        bad = ~torch.isclose(a, b, rtol=tol.rtol, atol=tol.atol).reshape(a.shape[0], -1).all(1)
    return [int(i) for i in bad.nonzero().reshape(-1)]


# -- 5. declared cost -------------------------------------------------------------------------


def _cost_settings(model: Model) -> list[dict[str, Any]]:
    """Sample options to try, one changed at a time: booleans flipped, every choice, the
    smallest integers (a few steps is enough to see whether the count follows)."""
    settings: list[dict[str, Any]] = [{}]
    for option in model.sample_options:
        values: list[Any] = []
        if option.type is bool:
            values = [not option.default] if option.default is not None else [True, False]
        elif option.choices is not None:
            values = list(option.choices)[:4]
        elif option.type is int and option.minimum is not None:
            low = math.ceil(option.minimum) + (1 if option.exclusive_minimum else 0)
            values = [v for v in (low, low + 1) if option.maximum is None or v <= option.maximum]
        for value in values:
            if value != option.default:
                settings.append({option.name: value})
    return settings


def check_cost(model: GenerativeModel, *, profile: str = gs.CI_PROFILE) -> Notes:
    """The evaluations the sampler counts on the declared networks equal
    ``model.cost(**options).evaluations`` for every setting tried — or, for a cost declared as
    an upper bound (``SampleCost(..., bound=True)``, e.g. a sequence that stops early), never
    exceed it; a model whose output changes while no evaluation is counted is bypassing its
    declared networks."""
    prop = "cost"
    if not isinstance(model, Model):
        raise NotApplicable("not a genproto.Model: it declares no networks whose calls can be "
                            "counted")
    from genproto import sampling

    cond = default_condition(model.capabilities)
    for options in _cost_settings(model):
        declared = guard(prop, call_text("cost", **options), model.cost, **options)
        for n, size in ((3, 3), (3, 1)):
            text = call_text("sample_run", n, seed=0, batch_size=size, condition=cond, **options)
            result = guard(prop, text, sampling.run, model, n, seed=0, batch_size=size,
                           condition=cond, **options)
            counted = result.evaluations_per_sample
            if counted == 0:
                _check_bypass(prop, model, result.samples, text, n, size, cond, options)
            # exact: counted == declared; a bound: no sample above it (batch_size=1 gives
            # each sample's own count as the peak)
            peak = getattr(result, "peak_evaluations_per_sample", counted)
            if not (declared.admits(counted) and declared.admits(peak)):
                fail(prop, f"declares {declared.describe()} but the sampler counted {counted:g} "
                           f"network evaluations per sample (at most {peak:g} in a batch) "
                           f"with options {options}",
                     reproduction=f"{text}.evaluations_per_sample  # vs "
                                  f"{call_text('cost', **options)}.evaluations",
                     n=n, seed=0, batch_size=size, options=options)
    return ()


def _check_bypass(
    prop: str, model: Model, before: torch.Tensor, text: str, n: int, size: int,
    cond: Condition, options: dict[str, Any],
) -> None:
    """No evaluation was counted: if the output still depends on the networks' parameters, the
    model computes with them outside their forward calls (which the hooks count)."""
    from genproto import sampling

    params = [p for net in model.networks().values() for p in net.parameters()]
    saved = [p.detach().clone() for p in params]
    generator = torch.Generator().manual_seed(FIXED_SEED)
    try:
        with torch.no_grad():
            for p in params:
                noise = torch.randn(p.shape, generator=generator).to(p.device, p.dtype)
                p.add_(0.5 * noise * (p.abs() + 0.1))
        after = sampling.run(model, n, seed=0, batch_size=size, condition=cond, **options).samples
    finally:
        with torch.no_grad():
            for p, value in zip(params, saved, strict=True):
                p.copy_(value)
    if not torch.equal(before, after):
        fail(prop, "the samples depend on the declared networks' parameters, yet the sampler "
                   "counted 0 evaluations: the model bypasses its networks' forward calls "
                   "(e.g. uses net.weight directly), so its declared cost cannot be checked",
             reproduction=f"{text}.evaluations_per_sample  # 0", n=n, seed=0, options=options)


# -- 7. conditioning --------------------------------------------------------------------------

#: Samples per condition for the follow-the-condition check under the ``thorough`` profile, and
#: under every other (``ci``): its likelihood half scores each condition's samples under every
#: condition, k^2 m rows for k conditions (a 10-class diffusion bound over 100 times is then
#: 6,400 rows x 100 network calls at m = 64); the mean gap between classes is several nats a
#: sample for the shipped models, which 16 samples resolve.
FOLLOW_SAMPLES = 64
FOLLOW_SAMPLES_CI = 16


def _bad_condition_test(prop: str, model: GenerativeModel, bad: gs.Bad) -> None:
    caps = model.capabilities
    calls: list[tuple[str, Callable[[], Any]]] = [
        (call_text("sample", 3, seed=0, condition=bad.value),
         lambda: model.sample(3, seed=0, condition=bad.value)),
    ]
    if caps.likelihood is not Likelihood.NONE:
        x = model.sample(3, seed=0, condition=default_condition(caps))
        calls.append((call_text("log_likelihood", X, condition=bad.value),
                      lambda: model.log_likelihood(x, condition=bad.value)))
    for text, fn in calls:
        _expect_error(prop, text, fn, bad)


def check_conditioning(
    model: GenerativeModel,
    *,
    tiny: ModelSource | None = None,
    profile: str = gs.CI_PROFILE,
) -> Notes:
    """Bad conditions (of the declared kind: a string for a class model, a prompt longer than
    its maximum, an embedding of the wrong shape ...), and any condition given to an
    unconditional model, raise ConditionError; a conditional model's samples follow the asked
    condition: samples asked for different classes with one seed differ (for prompts, texts
    and embeddings: not all of a few differ alike), per-sample conditions act like one
    condition per sample, and (with a likelihood) each condition's samples are on average more
    likely under it than under the others -- their mean difference estimates
    KL(p(.|c) || p(.|c')) >= 0 (classes: strictly more likely; other kinds, where two values
    may mean the same: not significantly less). The follow checks run on ``tiny`` when given,
    on :data:`FOLLOW_SAMPLES` samples per condition under the ``thorough`` profile and
    :data:`FOLLOW_SAMPLES_CI` under the others.
    """
    prop = "conditioning"
    caps = model.capabilities
    run_given(profile, lambda bad: _bad_condition_test(prop, model, bad),
              {"bad": gs.bad_conditions(caps.condition, 3)})
    if caps.condition is None:
        return ("unconditional: checked only that every condition is refused",)
    subject = resolve(tiny)[0] if tiny is not None else model
    spec = subject.capabilities.condition
    if spec is None:
        fail(prop, "the tiny configuration is unconditional but the model is conditional")
    kind = spec.kind
    conds = example_conditions(spec, 10)
    k = len(conds)
    thorough = gs.profile_name(profile) == gs.THOROUGH_PROFILE
    m = FOLLOW_SAMPLES if thorough else FOLLOW_SAMPLES_CI
    seed = fixed_seed()
    per_cond = []
    for c in conds:
        per_cond.append(guard(prop, call_text("sample", m, seed=seed, condition=c),
                              subject.sample, m, seed=seed, condition=c))

    def sample_text(c: Condition) -> str:
        return call_text("sample", m, seed=seed, condition=c)

    if kind is ConditionKind.CLASS:  # every class its own distribution
        for c in range(k):
            for d in range(c + 1, k):
                if torch.equal(per_cond[c], per_cond[d]):
                    fail(prop, f"classes {c} and {d} gave the same samples for one seed: the "
                               "model ignores its condition",
                         reproduction=f"torch.equal({sample_text(c)}, {sample_text(d)})",
                         n=m, seed=seed, condition=[c, d])
    elif k >= 2 and all(torch.equal(per_cond[0], other) for other in per_cond[1:]):
        # two prompts may mean the same (a tokenizer may map them to the same ids); all of
        # them may not
        shown = ", ".join(_short(c) for c in conds)
        fail(prop, f"the {k} {kind.value} conditions {shown} all gave the same samples for one "
                   "seed: the model ignores its condition",
             reproduction=f"torch.equal({sample_text(conds[0])}, {sample_text(conds[1])})",
             n=m, seed=seed)
    mixed_cond = stack_conditions(spec, [conds[i % k] for i in range(m)])
    text = call_text("sample", m, seed=seed, condition=mixed_cond)
    mixed = guard(prop, text, subject.sample, m, seed=seed, condition=mixed_cond)
    event_kind = subject.capabilities.event.kind
    for i, c in enumerate(conds):
        rows = torch.arange(m) % k == i
        if not _agree(mixed[rows], per_cond[i][rows], event_kind, exact=False,
                      tolerance=subject.capabilities.batch_tolerance):
            fail(prop, f"sample j with per-sample condition {_short(c)} differs from sample j "
                       f"of condition={_short(c)} (same seed): per-sample conditions are not "
                       "applied per sample",
                 reproduction=f"{text} vs {sample_text(c)}", n=m, seed=seed,
                 condition=_short(c))
    if kind is ConditionKind.CLASS and spec.labels is not None:
        _check_named_classes(prop, subject, spec, mixed_cond, mixed, m, seed)
    if subject.capabilities.likelihood is Likelihood.NONE:
        return ("follow by likelihood: likelihood is none (samples were only checked to differ "
                "between conditions)",)
    scores = _cross_scores(prop, subject, spec, conds, per_cond)
    if kind is ConditionKind.CLASS:
        _follow_classes(prop, [[float(v.mean()) for v in row] for row in scores], m, seed)
    else:
        _follow_kl(prop, conds, scores, m, seed)
    return ()


def _cross_scores(prop: str, model: GenerativeModel, spec: ConditionSpec,
                  conds: list[Condition], per_cond: list[torch.Tensor]
                  ) -> list[list[torch.Tensor]]:
    """``scores[c][d]``: ``log p(x | d)`` of condition ``c``'s samples ``x``, ``(m,)`` each.

    One ``log_likelihood`` call over all ``k^2 m`` rows with per-sample conditions (the
    property's sampling half has just checked that they act per sample), not ``k^2`` calls
    of ``m`` rows: a likelihood that runs its networks many times a call (a diffusion bound
    over 100 times) pays its per-call work once instead of ``k^2`` times (the digits
    diffusion, 10 classes: 41 -> 13 s)."""
    k, m = len(conds), per_cond[0].shape[0]
    x = torch.cat([per_cond[c] for c in range(k) for _ in range(k)])  # (k*k*m, ...) rows (c, d, i)
    labels = stack_conditions(spec, [conds[d] for _ in range(k) for d in range(k)
                                     for _ in range(m)])
    values = guard(prop, call_text("log_likelihood", X, condition=labels),
                   model.log_likelihood, x, condition=labels).double()
    return [[values[(c * k + d) * m:(c * k + d + 1) * m] for d in range(k)] for c in range(k)]


def _check_named_classes(prop: str, model: GenerativeModel, spec: ConditionSpec,
                         labels: Condition, by_index: torch.Tensor, m: int, seed: int) -> None:
    """Class labels (protocol 2.2) name their classes: the samples of ``labels`` given by name
    are those given by index (a model that reads conditions itself must map them too)."""
    assert isinstance(labels, torch.Tensor)
    names = [(spec.labels or ())[int(c)] for c in labels]
    text = call_text("sample", m, seed=seed, condition=names)
    by_name = guard(prop, text, model.sample, m, seed=seed, condition=names)
    if not _agree(by_name, by_index, model.capabilities.event.kind, exact=False,
                  tolerance=model.capabilities.batch_tolerance):
        fail(prop, "samples asked for by class label differ from the same classes asked for by "
                   f"index (labels {', '.join(map(repr, spec.labels or ()))}): the labels do "
                   "not name the classes",
             reproduction=f"{text} vs model.sample({m}, seed={seed}, "
                          f"condition={_short(labels)})", n=m, seed=seed)


def _short(condition: Condition) -> str:
    if isinstance(condition, torch.Tensor):
        return repr(condition.tolist()) if condition.numel() <= 8 else \
            f"<tensor {tuple(condition.shape)}>"
    return repr(condition)


def _follow_classes(prop: str, scores: list[list[float]], m: int, seed: int) -> None:
    """Each class's samples are on average more likely under their class than any other."""
    classes = len(scores)
    for c in range(classes):
        best = max(range(classes), key=lambda d: scores[c][d])
        others = [scores[c][d] for d in range(classes) if d != c]
        if not scores[c][c] > max(others):
            fail(prop, f"samples asked for class {c} are on average more likely under class "
                       f"{best} ({scores[c][best]:.3f} nats) than under class {c} "
                       f"({scores[c][c]:.3f} nats): they do not follow the condition",
                 reproduction=f"x = model.sample({m}, seed={seed}, condition={c}); "
                              f"model.log_likelihood(x, condition={best}).mean() vs "
                              f"model.log_likelihood(x, condition={c}).mean()",
                 n=m, seed=seed, condition=c)


def _follow_kl(prop: str, conds: list[Condition], scores: list[list[torch.Tensor]], m: int,
               seed: int) -> None:
    """``mean_i log p(x_i|c) - log p(x_i|d)`` over samples of c estimates KL(p(.|c) || p(.|d))
    >= 0; it may be 0 (two prompts that mean the same), so only a significantly negative mean
    fails (normal approximation, the pairs share the false-alarm rate)."""
    from genproto.testing import stats

    k = len(conds)
    pairs = max(1, k * (k - 1))
    z = stats.normal_quantile(1 - stats.FALSE_ALARM / (2 * pairs))
    for c in range(k):
        for d in range(k):
            if c == d:
                continue
            diff = scores[c][c] - scores[c][d]
            mean = float(diff.mean())
            spread = float(diff.std()) if diff.numel() > 1 else 0.0
            margin = z * spread / math.sqrt(diff.numel()) + 1e-6
            if mean < -margin:
                fail(prop, f"samples asked for {_short(conds[c])} are on average "
                           f"{-mean:.3f} nats more likely under {_short(conds[d])} than under "
                           f"their own condition (allowed {margin:.3f}, an estimate of "
                           "KL >= 0): they do not follow the condition",
                     reproduction=f"x = model.sample({m}, seed={seed}, "
                                  f"condition={_short(conds[c])}); model.log_likelihood(x, "
                                  f"condition={_short(conds[d])}).mean() vs "
                                  f"model.log_likelihood(x, condition={_short(conds[c])}).mean()",
                     n=m, seed=seed)


# -- 8. bad input -----------------------------------------------------------------------------


def _expect_error(prop: str, text: str, fn: Callable[[], Any], bad: gs.Bad) -> None:
    started = time.perf_counter()
    try:
        result = fn()
    except bad.error:
        elapsed = time.perf_counter() - started
        if elapsed > HANG_SECONDS:
            fail(prop, f"{text} ({bad.label}) took {elapsed:.0f} s to fail",
                 reproduction=text, bad=repr(bad))
        return
    except Exception as exc:
        fail(prop, f"{text} ({bad.label}) raised {type(exc).__name__}: {exc}; expected "
                   f"genproto.errors.{bad.error.__name__}".replace("\n", " "),
             reproduction=text, bad=repr(bad))
    shown = type(result).__name__
    if isinstance(result, torch.Tensor):
        shown = f"a tensor of shape {tuple(result.shape)}"
    fail(prop, f"{text} ({bad.label}) returned {shown} instead of raising "
               f"genproto.errors.{bad.error.__name__}", reproduction=text, bad=repr(bad))


def check_bad_input(model: GenerativeModel, *, profile: str = gs.CI_PROFILE) -> Notes:
    """Negative, float or huge ``n``; bad seeds and batch sizes; unknown options; ``x`` that is no
    tensor, of the wrong shape or dtype, with NaN/inf or levels out of range, outside a declared
    value range, or a sequence breaking its stop/pad rule (a stop token in the middle of
    padding, padding before the stop): each raises the typed error genproto documents, quickly
    -- never a crash from inside torch, a hang or NaN."""
    prop = "bad_input"
    caps = model.capabilities
    cond = default_condition(caps)

    def test(argument: str, bad: gs.Bad) -> None:
        if argument == "n":
            text = call_text("sample", bad.value, seed=0, condition=cond)
            _expect_error(prop, text, lambda: model.sample(bad.value, seed=0, condition=cond),
                          bad)
        elif argument == "seed":
            text = call_text("sample", 2, seed=bad.value, condition=cond)
            _expect_error(prop, text, lambda: model.sample(2, seed=bad.value, condition=cond),
                          bad)
        else:
            text = call_text("sample", 2, seed=0, batch_size=bad.value, condition=cond)
            _expect_error(prop, text,
                          lambda: model.sample(2, seed=0, batch_size=bad.value, condition=cond),
                          bad)

    strategies = st.one_of(
        st.tuples(st.just("n"), gs.bad_counts()),
        st.tuples(st.just("seed"), gs.bad_seeds()),
        st.tuples(st.just("batch_size"), gs.bad_batch_sizes()),
    )
    run_given(profile, lambda case: test(*case), {"case": strategies})

    unknown = gs.Bad(1, OptionError, "unknown option")
    _expect_error(prop, "model.sample(2, seed=0, no_such_option=1)",
                  lambda: model.sample(2, seed=0, condition=cond, no_such_option=1), unknown)
    if caps.likelihood is Likelihood.NONE:
        return ("bad x: likelihood is none",)
    x = guard(prop, call_text("sample", 2, seed=0, condition=cond), model.sample, 2, seed=0,
              condition=cond)
    _expect_error(prop, "model.log_likelihood(x, no_such_option=1)",
                  lambda: model.log_likelihood(x, condition=cond, no_such_option=1), unknown)

    def test_x(bad: gs.Bad) -> None:
        text = f"model.log_likelihood({bad!r}, condition={cond!r})"
        _expect_error(prop, text, lambda: model.log_likelihood(bad.value, condition=cond), bad)

    run_given(profile, test_x, {"bad": gs.bad_data(caps.event)},
              tuple({"bad": bad} for bad in gs.declared_bad_data(caps.event)))
    return ()


# -- 9. side effects --------------------------------------------------------------------------


def _snapshot(model: GenerativeModel) -> dict[str, torch.Tensor]:
    """Copies of every tensor that defines the model: its networks' parameters and buffers, and
    tensors or undeclared modules held as attributes of the model itself (``self.<name>``)."""
    if not isinstance(model, Model):
        return {}
    out = {k: v.detach().clone() for k, v in model.state_tensors().items()}
    declared = {id(net) for net in model.networks().values()}
    for name, value in vars(model).items():
        if isinstance(value, torch.Tensor):
            out[f"self.{name}"] = value.detach().clone()
        elif isinstance(value, torch.nn.Module) and id(value) not in declared:
            for key, tensor in value.state_dict().items():
                out[f"self.{name}.{key}"] = tensor.detach().clone()
    return out


def _modes(model: GenerativeModel) -> list[tuple[str, bool]]:
    if not isinstance(model, Model):
        return []
    return [(f"{name}.{sub}".rstrip("."), module.training)
            for name, net in sorted(model.networks().items())
            for sub, module in net.named_modules()]


def check_side_effects(
    model: GenerativeModel,
    *,
    factory: Callable[[], GenerativeModel] | None = None,
    profile: str = gs.CI_PROFILE,
) -> Notes:
    """Sampling and ``log_likelihood`` leave everything outside their result as it was: the
    model's parameters, buffers and tensor attributes, its networks' train/eval modes, their
    inputs (``x``, condition labels) and the global RNGs of torch, numpy and ``random``.

    With ``factory``, the check runs on a freshly built model and starts with its *very first*
    ``sample`` and ``log_likelihood`` calls: a model that changes itself once and then settles (a
    lazy, data-dependent initialisation, an in-place clamp, a one-time global seeding) is caught
    there, where a model other properties have already used would hide it. Then both calls are
    repeated with the networks in train and in eval mode.
    """
    prop = "side_effects"
    caps = model.capabilities
    notes: list[str] = []
    subject = model
    if factory is not None:
        subject = guard(prop, "factory()", factory)
    else:
        notes.append("first calls: a model was given, not a factory, so its first calls were "
                     "made by earlier properties; pass the factory to check a fresh model's")
    spec = caps.condition
    n = 6
    labels = None if spec is None else per_sample_condition(spec, n)
    device = getattr(subject, "device", None)
    original = _module_modes(subject)
    try:
        if factory is not None:
            _first_calls(prop, subject, n, labels, device)
        _side_effect_rounds(prop, subject, n, labels, device)
    finally:
        for module, mode in original:
            module.training = mode
    if caps.likelihood is Likelihood.NONE:
        notes.append("log_likelihood: likelihood is none")
    if not isinstance(model, Model):
        notes.append("parameters and modes: not a genproto.Model (no declared networks)")
    return tuple(notes)


def _module_modes(model: GenerativeModel) -> list[tuple[torch.nn.Module, bool]]:
    if not isinstance(model, Model):
        return []
    return [(m, m.training) for net in model.networks().values() for m in net.modules()]


def _first_calls(
    prop: str, model: GenerativeModel, n: int, labels: Condition,
    device: torch.device | None,
) -> None:
    """The first ``sample`` and the first ``log_likelihood`` of a freshly built model change
    neither the model nor the global RNGs."""
    first = "the first call on a freshly built model,"
    state, modes = _snapshot(model), _modes(model)
    rng = global_rng_state(device)
    text = call_text("sample", n, seed=0, condition=labels)
    x = guard(prop, text, model.sample, n, seed=0, condition=labels)
    _unchanged(prop, model, state, modes, f"{first} {text},", None,
               reproduction=f"model = factory(); {text}")
    _rng_unchanged(prop, rng, device, f"{first} {text},",
                   reproduction=f"model = factory(); s = np.random.get_state(); {text}")
    if model.capabilities.likelihood is Likelihood.NONE:
        return
    text = call_text("log_likelihood", X, condition=labels)
    rng = global_rng_state(device)
    guard(prop, text, model.log_likelihood, x.clone(), condition=labels)
    _unchanged(prop, model, state, modes, f"{first} {text},", None,
               reproduction=f"model = factory(); x = {call_text('sample', n, seed=0)}; {text}")
    _rng_unchanged(prop, rng, device, f"{first} {text},",
                   reproduction=f"model = factory(); x = ...; s = torch.get_rng_state(); {text}")


def _rng_unchanged(
    prop: str, before: tuple[Any, ...], device: torch.device | None, text: str, *,
    reproduction: str,
) -> None:
    changed = same_rng_state(before, global_rng_state(device))
    if changed:
        fail(prop, f"{text} changed the global RNG state of {', '.join(changed)}: every random "
                   "number must come from the keyed streams, and a model must never seed or "
                   "draw from a global generator (not even once, e.g. in a lazy initialisation "
                   "or a 'for reproducibility' seeding)", reproduction=reproduction)


def _side_effect_rounds(
    prop: str, model: GenerativeModel, n: int, labels: Condition,
    device: torch.device | None,
) -> None:
    caps = model.capabilities
    for training in (True, False):
        if isinstance(model, Model):
            for net in model.networks().values():
                net.train(training)
        state, modes = _snapshot(model), _modes(model)
        label_copy = copy_condition(labels)
        text = sample_text = call_text("sample", n, seed=0, condition=labels)
        x = guard(prop, text, model.sample, n, seed=0, condition=labels)
        _unchanged(prop, model, state, modes, text, training)
        if not same_condition(labels, label_copy):
            fail(prop, f"{text} modified the condition it was given", reproduction=text)
        if caps.likelihood is Likelihood.NONE:
            continue
        x_copy = x.clone()
        text = call_text("log_likelihood", X, condition=labels)
        before = global_rng_state(device)
        guard(prop, text, model.log_likelihood, x, condition=labels)
        if not torch.equal(x, x_copy):
            fail(prop, f"{text} modified its input x in place (max change "
                       f"{_max_diff(x, x_copy):.3g}); inputs must never be mutated",
                 reproduction=f"x = {sample_text}; c = x.clone(); {text}; "
                              "torch.equal(x, c)  # False", n=n, seed=0)
        if not same_condition(labels, label_copy):
            fail(prop, f"{text} modified the condition it was given", reproduction=text)
        changed = same_rng_state(before, global_rng_state(device))
        if changed:
            fail(prop, f"{text} changed the global RNG state of {', '.join(changed)}: likelihood "
                       "estimators must draw from the keyed streams", reproduction=text)
        _unchanged(prop, model, state, modes, text, training)


def _unchanged(
    prop: str, model: GenerativeModel, state: dict[str, torch.Tensor],
    modes: list[tuple[str, bool]], text: str, training: bool | None, *,
    reproduction: str | None = None,
) -> None:
    """Nothing in ``state`` (a :func:`_snapshot`) or ``modes`` changed since they were taken."""
    after = _snapshot(model)
    for key, value in state.items():
        new = after.get(key)
        if new is None or new.shape != value.shape or new.dtype != value.dtype:
            fail(prop, f"{text} replaced the model's tensor {key!r}",
                 reproduction=reproduction or text)
        if not torch.equal(new, value):
            change = _max_diff(new, value) if value.numel() else 0.0
            fail(prop, f"{text} changed the model's parameter {key!r} (max change "
                       f"{change:.3g}): sampling and log_likelihood must never modify the model "
                       "(an initialisation from data belongs in the constructor or in "
                       "training, a clamp in the forward computation)",
                 reproduction=reproduction or text)
    now = _modes(model)
    if now != modes:
        moved = [name for (name, was), (_, is_) in zip(modes, now, strict=False) if was != is_]
        if training is None:
            fail(prop, f"{text} changed networks' train/eval modes "
                       f"({', '.join(moved[:3]) or 'modules changed'}); modes must be restored",
                 reproduction=reproduction or text)
        fail(prop, f"{text} left networks in {'eval' if training else 'train'} mode "
                   f"({', '.join(moved[:3]) or 'modules changed'}); modes must be restored",
             reproduction=f"net.train({training}); {text}; net.training")


# -- 10. persistence --------------------------------------------------------------------------


def _perturb(model: GenerativeModel) -> None:
    """Move every parameter a little (fixed generator), so loaded weights differ from fresh ones."""
    if not isinstance(model, Model):
        return
    generator = torch.Generator().manual_seed(FIXED_SEED)
    with torch.no_grad():
        for _, net in sorted(model.networks().items()):
            for p in net.parameters():
                if p.is_floating_point():
                    noise = torch.randn(p.shape, generator=generator).to(p.device, p.dtype)
                    p.mul_(1 + 0.01 * noise)


def check_persistence(
    source: ModelSource, *, registry: Any = None, profile: str = gs.CI_PROFILE
) -> Notes:
    """``save`` then ``genproto.load`` gives a model with the same capabilities, the same samples
    for the same seed and the same log-likelihoods.

    With a factory, a fresh model is built, its parameters moved slightly (so the check fails if
    the weights are not what is loaded), saved and loaded: through ``registry`` when the factory
    builds registry models (an installed plugin's, with their options), else through a fresh
    in-process registry where the factory is registered. With a model, it must come from
    ``registry`` (default: the installed plugins) so that ``load`` can rebuild it.
    """
    prop = "persistence"
    from genproto import registry as registry_module
    from genproto.loading import load

    model, factory = resolve(source)
    if not isinstance(model, Model):
        raise NotApplicable("not a genproto.Model: genproto.load rebuilds Model subclasses only")
    if factory is not None and model.origin is not None and registry is not None:
        # built by a registry (e.g. an installed plugin): load rebuilds it there, with the
        # options it was built with; a fresh copy is moved so the original is left alone
        reg = registry
        fresh = guard(prop, "factory()", factory)
        if not isinstance(fresh, Model):
            fail(prop, "the factory built a model that is not a genproto.Model")
        model = fresh
        _perturb(model)
    elif factory is not None:
        name = model.name if model.name.isidentifier() else "model_under_test"
        reg = registry_module.Registry(entry_points=False)
        reg.register(name, factory, capabilities=model.capabilities)
        built = guard(prop, f"registry.get({name!r})", reg.get, name)
        if not isinstance(built, Model):
            fail(prop, "the factory built a model that is not a genproto.Model")
        model = built
        _perturb(model)
    else:
        if model.origin is None:
            raise NotApplicable("the model was not built by a registry and no factory was "
                                "given, so genproto.load cannot rebuild it")
        reg = registry if registry is not None else registry_module.default()
    caps = model.capabilities
    cond = default_condition(caps)
    with tempfile.TemporaryDirectory(prefix="genproto-contract-") as tmp:
        path = f"{tmp}/checkpoint"
        guard(prop, f"model.save({path!r})", model.save, path)
        loaded = guard(prop, f"genproto.load({path!r}, registry=...)",
                       lambda: load(path, registry=reg, device=str(model.device)))
    if loaded.capabilities != caps:
        fail(prop, f"the loaded model declares {loaded.capabilities!r}, the saved one {caps!r}",
             reproduction="model.save(d); genproto.load(d).capabilities")
    seed = fixed_seed()
    conditions: list[Condition] = [cond]
    if caps.condition is not None:
        conditions.append(per_sample_condition(caps.condition, 8))
    for c in conditions:
        text = call_text("sample", 8, seed=seed, condition=c)
        want = guard(prop, text, model.sample, 8, seed=seed, condition=c)
        got = guard(prop, f"loaded.{text[6:]}", loaded.sample, 8, seed=seed, condition=c)
        if not torch.equal(want, got):
            fail(prop, f"the loaded model's samples differ from the saved model's (max difference "
                       f"{_max_diff(want, got):.3g}): state outside the declared networks is not "
                       "saved, or load does not restore the weights",
                 reproduction=f"model.save(d); {text} vs genproto.load(d).{text[6:]}",
                 n=8, seed=seed)
        if caps.likelihood is Likelihood.NONE:
            continue
        text = call_text("log_likelihood", want, condition=c)
        a = guard(prop, text, model.log_likelihood, want.clone(), condition=c)
        b = guard(prop, f"loaded.{text[6:]}", loaded.log_likelihood, want.clone(), condition=c)
        if not torch.equal(a, b):
            fail(prop, f"the loaded model's log-likelihoods differ (max difference "
                       f"{_max_diff(a, b):.3g})", reproduction=f"model.save(d); {text} vs "
                       f"genproto.load(d).{text[6:]}", n=8, seed=seed)
    return ()

