"""``truth`` -- no model beats the truth: a declared log-likelihood against the data's own density.

Where the density of a model's data is known (the toy 2-D densities of :mod:`genproto.data.toy`,
or any object with the same ``log_prob(x)`` / ``sample(n, generator)`` protocol), the suite draws
held-out points ``x_1..x_N`` from it and pairs ``log p_data(x_i)`` with the model's
``log_likelihood(x_i, condition=None)``. Their mean difference estimates
``KL(data || model) = E_data[log p_data - log p_model]`` with its standard error
(:func:`genproto.metrics.kl_to_truth`). KL is never negative, so

===========  ====================================================================================
declared     verdict
===========  ====================================================================================
exact        FAIL when the KL estimate plus :data:`~genproto.metrics.points.TRUTH_Z` = 3.09
             standard errors is below zero (:func:`genproto.metrics.beats_truth`): the model's
             density integrates to more than 1 (it is not normalised)
bound        the same: a lower bound on ``log p`` only makes the KL estimate larger, so a bound
             above the truth is not a bound (or the density under it is not normalised)
estimate     never fails: the same numbers are reported as a note (an estimator's bias, e.g. the
             discretisation of a probability-flow ODE, is not a broken density)
none         N/A: there is no log-likelihood to compare
===========  ====================================================================================

For a correct exact or bound model the KL estimate's mean is at least 0, so the test flags it with
probability at most the one-sided normal tail beyond 3.09: a **false-alarm rate of 0.1 %** (the
central limit theorem for the mean of N paired differences; N is 2,000 or more). The points come
from a ``torch.Generator`` seeded with :func:`~genproto.testing._core.fixed_seed` ``(6)``: the same
points on every run unless a suite seed is chosen.

Where the truth comes from, first match wins: the ``truth=`` argument of
:func:`~genproto.testing.check_model`, :class:`~genproto.testing.ContractSession` and
:func:`~genproto.testing.contract_tests` (a density object or a toy2d name); ``genproto check NAME
--truth NAME2D``; ``pytest --genproto-model NAME --genproto-truth NAME2D``; else the model's
factory options -- its :class:`~genproto.protocol.Origin`, or the options a session builds it with
-- when they hold ``dataset`` equal to a name in :data:`genproto.data.TOY2D_NAMES` (so ``genproto
check flow -M dataset=eight_gaussians`` runs it with no flag). Without one the property is N/A and
says how to give one. A truth that does not fit the model's events (a 2-D density for an 8x8 image
model, points outside a declared range, a discrete event) is N/A with that reason.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

import attrs
import torch

from genproto.data import TOY2D_NAMES, toy2d
from genproto.errors import ArgumentTypeError, InvalidArgumentError
from genproto.metrics.points import TRUTH_Z, KLEstimate, beats_truth, kl_to_truth
from genproto.protocol import EventKind, GenerativeModel, Likelihood, Origin
from genproto.testing import strategies as gs
from genproto.testing._core import NotApplicable, Notes, fail, fixed_seed
from genproto.testing.likelihood import _ll

__all__ = [
    "ESTIMATE_POINTS",
    "POINTS",
    "SEED_OFFSET",
    "Truth",
    "check_truth",
    "find_truth",
    "resolve_truth",
    "truth_misfit",
]

PROP = "truth"

#: Held-out points drawn from the truth for an exact or a bound likelihood, by profile. The toy
#: densities' log p varies by about 1 nat, so the KL's standard error is about 0.02 nats (ci) and
#: 0.007 nats (thorough); the shipped toy flow evaluates 20,000 points in about 0.1 s.
POINTS = {gs.CI_PROFILE: 2_000, gs.THOROUGH_PROFILE: 20_000}
#: Points for an estimate, which is only reported: the shipped toy diffusion model's
#: probability-flow ODE (48 RK4 steps) costs about 2.5 ms a point on two CPU cores, so 500
#: points take about 1.3 s and 4,000 about 10 s.
ESTIMATE_POINTS = {gs.CI_PROFILE: 500, gs.THOROUGH_PROFILE: 4_000}
#: The offset of the property's draws from the suite's seed (:func:`fixed_seed`).
SEED_OFFSET = 6

_HOW_TO_GIVE = (
    "pass truth= (a genproto.data.toy2d name, or an object with log_prob(x) and "
    "sample(n, generator)) to check_model, ContractSession or contract_tests; "
    "`genproto check NAME --truth NAME2D`; `pytest --genproto-model NAME --genproto-truth "
    "NAME2D`; or build the model with dataset= one of " + ", ".join(TOY2D_NAMES)
)


@attrs.frozen
class Truth:
    """A known density of a model's data and how the suite came by it.

    Attributes:
        density: the object with ``log_prob(x)`` and ``sample(n, generator)``
            (:class:`genproto.data.Toy2D`).
        code: Python that rebuilds it in a reproduction, e.g. ``toy2d('eight_gaussians')``.
        source: where it came from, e.g. ``"truth="`` or ``"the model's option dataset=..."``.
    """

    density: Any = attrs.field(repr=False)
    code: str
    source: str


def resolve_truth(value: Any, *, argument: str = "truth") -> Truth:
    """``value`` as a :class:`Truth`: a toy2d name, a :class:`Truth`, or a density object.

    Raises:
        InvalidArgumentError: an unknown toy2d name (close matches suggested).
        ArgumentTypeError: an object without callable ``log_prob`` and ``sample``.
    """
    if isinstance(value, Truth):
        return value
    if isinstance(value, str):
        if value not in TOY2D_NAMES:
            close = difflib.get_close_matches(value, TOY2D_NAMES, n=3)
            raise InvalidArgumentError(
                f"{argument}: unknown toy2d density", value=value,
                allowed=", ".join(TOY2D_NAMES),
                fix=(f"Did you mean {', '.join(repr(c) for c in close)}?" if close
                     else "Name one of genproto.data.TOY2D_NAMES, or pass a density object"),
            )
        return Truth(toy2d(value), f"toy2d({value!r})", _given(argument))
    missing = [m for m in ("log_prob", "sample") if not callable(getattr(value, m, None))]
    if missing:
        raise ArgumentTypeError(
            argument, value=value,
            allowed="a genproto.data.toy2d name or an object with log_prob(x) and "
                    "sample(n, generator) (the genproto.data.Toy2D protocol)",
            fix=f"It has no {' or '.join(missing)}; pass e.g. genproto.data.toy2d('gaussian')",
        )
    name = getattr(value, "name", None)
    code = (f"toy2d({name!r})" if isinstance(name, str) and name in TOY2D_NAMES
            and value == toy2d(name) else "truth")
    return Truth(value, code, _given(argument))


def _given(argument: str) -> str:
    return f"given as {argument}" if argument.startswith("-") else f"given as {argument}="


def find_truth(
    model: GenerativeModel, given: Truth | None = None,
    options: Mapping[str, Any] | None = None,
) -> Truth | None:
    """The truth to hold ``model`` to: ``given``, else inferred from its factory options (its
    :class:`~genproto.protocol.Origin`, else ``options``) when ``dataset`` names a toy2d
    density; ``None`` when there is none."""
    if given is not None:
        return given
    origin = getattr(model, "origin", None)
    for where, values in (("model's option", origin.options if isinstance(origin, Origin)
                           else None), ("option", options)):
        dataset = (values or {}).get("dataset")
        if isinstance(dataset, str) and dataset in TOY2D_NAMES:
            return Truth(toy2d(dataset), f"toy2d({dataset!r})",
                         f"inferred from the {where} dataset={dataset!r}")
    return None


def truth_misfit(truth: Truth, model: GenerativeModel, points: torch.Tensor | None = None
                 ) -> str | None:
    """Why ``truth``'s points cannot be ``model``'s events, or ``None`` when they can.

    ``points`` are the truth's draws (a few are drawn when not given). A sampler that raises, or
    returns anything but ``(N, *event.shape)`` finite floats in the declared range, is a misfit
    too: the truth is not usable."""
    event = model.capabilities.event
    name = f"the truth {truth.code}"
    if event.kind is not EventKind.CONTINUOUS:
        return (f"the model's events are {event.describe()}; {name} is a density of continuous "
                "points: give the density of this model's data")
    if points is None:
        try:
            points = truth.density.sample(4, torch.Generator().manual_seed(0))
        except Exception as exc:
            return f"{name} is not usable: sample(4, generator) raised {type(exc).__name__}: {exc}"
    if not isinstance(points, torch.Tensor) or not points.is_floating_point():
        return (f"{name} is not usable: sample(n, generator) returned "
                f"{type(points).__name__ if not isinstance(points, torch.Tensor) else points.dtype}"
                "; expected a floating tensor (n, *event shape)")
    if tuple(points.shape[1:]) != event.shape:
        return (f"{name} draws points of shape {tuple(points.shape[1:])}, the model's events are "
                f"{event.describe()} {event.shape}: it is the density of other data; give the "
                "density of this model's data")
    outside = int((~event.contains(points.detach().cpu())).sum())
    if outside:
        return (f"{outside} of {points.shape[0]} points drawn from {name} lie outside the model's "
                f"events ({event.describe()}): the model may not be asked about them, so "
                "the truth is not the density of this model's data")
    return None


def check_truth(
    model: GenerativeModel,
    *,
    truth: Truth | None = None,
    options: Mapping[str, Any] | None = None,
    profile: str = gs.CI_PROFILE,
) -> Notes:
    """No model beats the truth (see the module docstring): the declared exact or bound
    log-likelihood of held-out points of the data's known density is not above that density's
    beyond its error (false-alarm rate 0.1 %); an estimate's comparison is a note.

    Args:
        model: the model; its ``log_likelihood(x, condition=None)`` is compared.
        truth: the known density (:func:`resolve_truth`); default: inferred from the model's
            factory options (``dataset=`` a toy2d name), if any.
        options: the factory options the model was built with, where it has no ``origin``.
        profile: ``"ci"`` draws :data:`POINTS` 2,000 points (500 for an estimate),
            ``"thorough"`` 20,000 (4,000).
    """
    caps = model.capabilities
    kind = caps.likelihood
    if kind is Likelihood.NONE:
        raise NotApplicable("likelihood is none: there is no declared log-likelihood to hold "
                            "against the truth")
    found = find_truth(model, truth, options)
    if found is None:
        raise NotApplicable(f"no known density of the model's data: {_HOW_TO_GIVE}")
    spec = caps.condition
    if spec is not None and spec.required:
        raise NotApplicable("the model's condition is required, so it has no log-likelihood of "
                            "x alone (condition=None) to hold against the truth")
    table = ESTIMATE_POINTS if kind is Likelihood.ESTIMATE else POINTS
    n, seed = table[gs.profile_name(profile)], fixed_seed(SEED_OFFSET)
    # 1. held-out points from the truth, on the suite's fixed generator
    try:
        drawn = found.density.sample(n, torch.Generator().manual_seed(seed))
    except Exception as exc:
        raise NotApplicable(f"the truth {found.code} is not usable: sample({n}, generator) "
                            f"raised {type(exc).__name__}: {exc}") from exc
    misfit = truth_misfit(found, model, drawn)
    if misfit is not None:
        raise NotApplicable(misfit)
    x = drawn.to(getattr(model, "device", drawn.device), caps.event.dtype)  # (N, *event)
    # 2. the truth's log-density and the model's declared log-likelihood of the same points
    try:
        log_data = found.density.log_prob(drawn.double())
    except Exception as exc:
        raise NotApplicable(f"the truth {found.code} is not usable: log_prob(x) raised "
                            f"{type(exc).__name__}: {exc}") from exc
    if (not isinstance(log_data, torch.Tensor) or tuple(log_data.shape) != (n,)
            or not log_data.is_floating_point() or not bool(torch.isfinite(log_data).all())):
        raise NotApplicable(f"the truth {found.code} is not usable: log_prob(x) of its own "
                            f"{n} points must be {n} finite floats")
    log_model = _ll(model, x, None, prop=PROP)
    # 3. KL(data || model) from the paired differences, and the one-sided test at z = 3.09
    estimate = kl_to_truth(log_data.double().cpu(), log_model.double().cpu(), kind)
    beaten = beats_truth(estimate)
    where = f"{n} points drawn from {found.code} ({found.source})"
    if kind is Likelihood.ESTIMATE:
        verdict = (f"above the truth beyond its error (more than {TRUTH_Z} standard errors "
                   "below 0): the estimator is biased upward here" if beaten
                   else "not above the truth beyond its error")
        return (f"reported, not judged (the likelihood is an estimate): on {where} "
                f"{_numbers(estimate)}, {verdict}; an estimator's discretisation bias is not a "
                "broken density, so an estimate is never failed",)
    if beaten:
        meaning = ("exp(log_likelihood) is not a normalised density: it integrates to more "
                   "than 1" if kind is Likelihood.EXACT else
                   "the bound is not a bound (a lower bound cannot exceed log p), or the density "
                   "under it is not normalised")
        fail(PROP, f"the declared {kind.value} log-likelihood beats the truth: on {where} "
                   f"{_numbers(estimate)}, below 0 by more than {TRUTH_Z} standard errors "
                   f"(one-sided false alarm 0.1 %); KL is never negative, so {meaning}",
             reproduction=_reproduction(found, n, seed, kind), n=n, seed=seed)
    return ()


def _numbers(estimate: KLEstimate) -> str:
    """The means and the KL estimate, in nats."""
    return (f"the model's mean log-likelihood is {estimate.model_log_prob:.4f} nats and the "
            f"truth's mean log-density {estimate.data_log_prob:.4f} nats, so KL(data || model) "
            f"{estimate.relation} {_signed(estimate.value)} +- {estimate.stderr:.4f} nats "
            "(standard error)")


def _signed(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.4f}"


def _reproduction(found: Truth, n: int, seed: int, kind: Likelihood) -> str:
    head = ("from genproto.data import toy2d; truth = " + found.code + "; "
            if found.code.startswith("toy2d(") else "")  # else `truth` is the caller's object
    return (f"{head}from genproto.metrics import kl_to_truth; "
            f"x = truth.sample({n}, torch.Generator().manual_seed({seed})); "
            f"e = kl_to_truth(truth.log_prob(x.double()), model.log_likelihood(x).double(), "
            f"genproto.Likelihood.{kind.name}); e.value + {TRUTH_Z} * e.stderr  # < 0")
