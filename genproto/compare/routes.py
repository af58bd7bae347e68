"""Likelihood routes and what each costs: every way a model offers to compute ``log p(x)``.

One trained diffusion model has two routes to a likelihood (the cheatsheet's "via score"): a
variational bound and the probability-flow ODE estimate, at very different costs. A plugin offers
several routes on the same weights through a factory option named :data:`LIKELIHOOD_OPTION` with
``choices`` (the ``vdm`` plugin: ``likelihood="bound"`` or ``"ode"``); ``genproto compare``
measures the default route with the model, then builds the model once more for each other choice
and measures that route's likelihood alone (:func:`likelihood_routes`).

Every route's cost is measured where it is computed (:func:`timed_likelihood`): wall seconds
per item, and network evaluations per item counted by the shared sampler's
:class:`~genproto.sampling.EvaluationCounter` (forward calls, weighted by their rows; the
backward passes of an ODE's trace estimate are not forward calls and are not counted, so the
seconds say what they cost).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import torch

from genproto.compare.records import Outcome
from genproto.protocol import Likelihood

if TYPE_CHECKING:
    from genproto.metrics.points import KLEstimate
    from genproto.protocol import Condition, GenerativeModel
    from genproto.registry import ModelEntry

__all__ = ["LIKELIHOOD_OPTION", "PointsRoute", "Route", "Timed", "likelihood_routes",
           "route_label", "timed_likelihood"]

#: The factory option through which a model offers more than one route to its likelihood.
LIKELIHOOD_OPTION = "likelihood"


def likelihood_routes(entry: ModelEntry) -> tuple[str, ...]:
    """The other choices of the registration's :data:`LIKELIHOOD_OPTION` (its default left
    out, measured with the model); ``()`` for a model without such an option."""
    option = next((o for o in entry.options if o.name == LIKELIHOOD_OPTION), None)
    if option is None or not option.choices:
        return ()
    return tuple(str(c) for c in option.choices if c != option.default)


def route_label(choice: str) -> str:
    """``likelihood=ode``: how a route is named in tables and claims."""
    return f"{LIKELIHOOD_OPTION}={choice}"


@attrs.frozen
class Timed:
    """A likelihood computed and measured: ``nats`` ``(N,)`` float64 on the CPU, wall seconds
    and counted network evaluations per item (``None``: not a :class:`genproto.Model`)."""

    nats: torch.Tensor = attrs.field(eq=False)
    seconds_per_item: float
    evaluations_per_item: float | None


def timed_likelihood(model: GenerativeModel, x: torch.Tensor, condition: Condition, *,
                     seed: int, batch_size: int | None,
                     options: Mapping[str, Any] | None = None) -> Timed:
    """``log_likelihood`` of the rows ``x``, timed and its network evaluations counted."""
    from genproto.generative_classifier import log_likelihood
    from genproto.model import Model
    from genproto.sampling import EvaluationCounter

    rows = len(x)
    counted: float | None = None
    start = time.perf_counter()
    if isinstance(model, Model):
        with EvaluationCounter(model.networks()) as counter:
            nats = log_likelihood(model, x, condition, seed=seed, batch_size=batch_size,
                                  options=options)
            counter.settle(rows)
        counted = counter.evaluations_per_sample
    else:
        nats = log_likelihood(model, x, condition, seed=seed, batch_size=batch_size,
                              options=options)
    seconds = time.perf_counter() - start
    return Timed(nats.detach().to("cpu", torch.float64), seconds / max(rows, 1), counted)


def _likelihood(value: Any) -> Likelihood:
    return Likelihood(value)


def _outcome(value: Any) -> Outcome:
    return Outcome(value)


@attrs.frozen
class Route:
    """One more route to a digits model's likelihood (a choice of its ``likelihood`` option).

    Attributes:
        option: ``likelihood=ode``: the factory option that selects it.
        likelihood: what the model built with it declares.
        outcome: whether values came back.
        bits_per_dim: on the digits test split (the same basis as the model's own row).
        stderr: standard error of ``bits_per_dim`` over the test images.
        seconds_per_item: wall seconds per test image.
        evaluations_per_item: forward network evaluations per test image (counted).
        error: why it failed, when it did.
    """

    option: str
    likelihood: Likelihood = attrs.field(converter=_likelihood)
    outcome: Outcome = attrs.field(converter=_outcome)
    bits_per_dim: float | None
    stderr: float | None
    seconds_per_item: float | None
    evaluations_per_item: float | None
    error: str | None = None


@attrs.frozen
class PointsRoute:
    """One more route to a points model's likelihood, against the exact density.

    Attributes:
        option, likelihood, outcome, seconds_per_item, evaluations_per_item, error: as in
            :class:`Route` (per held-out point).
        kl: ``KL(data || model)`` through this route, as the declared kind makes it (an upper
            bound for a bound, an estimate for an estimate).
    """

    option: str
    likelihood: Likelihood = attrs.field(converter=_likelihood)
    outcome: Outcome = attrs.field(converter=_outcome)
    kl: KLEstimate | None
    seconds_per_item: float | None
    evaluations_per_item: float | None
    error: str | None = None
