"""The generative classifier: classify a digit by which class makes it most likely.

A class-conditional model with a likelihood is also a classifier, by Bayes'
rule: ``p(c | x) = p(x | c) p(c) / p(x)``, so

    c_hat(x) = argmax_c  log p(x | c) + log p(c)

with the class prior ``p(c)`` the model declares (``ConditionSpec.prior``): by
default uniform, ``1/C``, which shifts every class equally, so the argmax is that of
the class-conditional likelihood. Comparing its accuracy with a discriminative
classifier's on the same test images is the cheatsheet's "discriminative versus
generative" line made measurable (Ng & Jordan 2002, "On discriminative vs.
generative classifiers"): the reference CNN of :mod:`genproto.metrics` models
``p(c | x)`` directly; a generative model must model every pixel of ``x``.

For a model whose likelihood is a bound (a VAE's ELBO) or an estimate, the
classifier compares bounds or estimates; the random numbers they use come
from the keyed streams of ``(seed, row)`` and are the *same* for every class
(common random numbers), so the comparison between classes is not blurred by
independent noise.

Also here, because :mod:`genproto.compare` shares them: how digits (integer
levels ``0..16``) are handed to a model whose events are continuous ``8x8``
arrays (uniform dequantisation, ``z = x + u``, unit-width cells) and how its
samples are read back as levels.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import attrs
import torch

from genproto.errors import InvalidArgumentError, LikelihoodUnavailable
from genproto.protocol import (
    Condition,
    ConditionKind,
    EventKind,
    EventSpace,
    GenerativeModel,
    Likelihood,
)
from genproto.streams import KeyedStreams

__all__ = [
    "DIGITS_LEVELS",
    "GenerativeClassification",
    "class_log_likelihoods",
    "digits_input",
    "generative_accuracy",
    "generative_classify",
    "is_digits_event",
    "log_likelihood",
    "to_levels",
]

#: The grey levels of the digits (0..16).
DIGITS_LEVELS = 17
_DIGITS_SHAPE = (8, 8)
#: The digit classes (0..9).
NUM_DIGIT_CLASSES = 10
#: Fork of the keyed streams that dequantisation noise comes from.
DEQUANTISE_FORK = "dequantise"


def is_digits_event(event: EventSpace) -> bool:
    """Whether a model's events are 8x8 digits: 17 discrete levels, or a continuous 8x8 array."""
    if event.shape != _DIGITS_SHAPE:
        return False
    return event.kind is EventKind.CONTINUOUS or event.levels == DIGITS_LEVELS


def digits_input(event: EventSpace, x: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Digit levels ``x`` ``(N, 8, 8)`` as a model with this event space takes them.

    Discrete models get the levels unchanged. Continuous models get uniformly
    dequantised values ``z = x + u``, ``u ~ U[0, 1)^64`` drawn from the keyed
    streams ``(seed, row)`` (fork ``"dequantise"``), i.e. unit-width cells, the
    ``bin_width=1`` convention of :func:`genproto.metrics.bits_per_dim`; then
    ``log p(z)`` is a stochastic lower bound on the probability of ``x``'s cell
    (Theis, van den Oord & Bethge 2016, section 3.1).
    """
    if not is_digits_event(event):
        raise InvalidArgumentError(
            "a model's event space for digits", value=event.describe(),
            allowed="8x8 discrete with 17 levels, or 8x8 continuous",
            fix="Pick a model trained on the digits (genproto list shows each event space)",
        )
    if event.kind is EventKind.DISCRETE:
        return x
    streams = KeyedStreams.for_range(seed, 0, x.shape[0]).fork(DEQUANTISE_FORK)
    u = streams.uniform(*_DIGITS_SHAPE).to(x.device)  # (N, 8, 8) in (0, 1)
    return x.to(torch.float32) + u


def to_levels(event: EventSpace, samples: torch.Tensor) -> torch.Tensor:
    """A digits model's samples as int64 levels ``0..16`` (continuous values: floor, clamped)."""
    if event.kind is EventKind.DISCRETE:
        return samples.to(torch.int64)
    return samples.floor().clamp(0, DIGITS_LEVELS - 1).to(torch.int64)


def _check_classifiable(model: GenerativeModel) -> int:
    caps = model.capabilities
    if caps.likelihood is Likelihood.NONE:
        raise LikelihoodUnavailable(
            model.name, [p.value for p in caps.paradigms],
            fix="A generative classifier needs log p(x | c); pick a model with a likelihood: "
            "genproto.registry.find(likelihood='exact', conditional=True)",
        )
    if caps.condition is None:
        raise InvalidArgumentError(
            f"model {model.name!r} for a generative classifier", value="unconditional",
            allowed="a class-conditional model (capabilities.condition set)",
            fix="Pick one with genproto.registry.find(conditional=True)",
        )
    if caps.condition.kind is not ConditionKind.CLASS:
        raise InvalidArgumentError(
            f"model {model.name!r} for a generative classifier",
            value=f"a {caps.condition.kind.value} condition",
            allowed="a class-conditional model (ConditionSpec of kind 'class')",
            fix="Pick one with genproto.registry.find(conditional=True) whose condition is a "
            "class",
        )
    return caps.condition.num_classes


def log_likelihood(
    model: GenerativeModel, x: torch.Tensor, condition: Condition = None, *, seed: int = 0,
    batch_size: int | None = None, options: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """``model.log_likelihood(x, condition, **options)``, with ``seed``/``batch_size`` where
    the model takes them.

    :class:`genproto.Model` s draw any random numbers of the likelihood from the
    keyed streams of ``seed``; other :class:`GenerativeModel` s get only the
    options (the protocol does not promise the other two).
    """
    from genproto.model import Model

    if isinstance(model, Model):
        return model.log_likelihood(x, condition, seed=seed, batch_size=batch_size,
                                    **(options or {}))
    return model.log_likelihood(x, condition, **(options or {}))


def class_log_likelihoods(
    model: GenerativeModel, x: torch.Tensor, *, seed: int = 0, batch_size: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """``log p(x_i | c)`` for every row ``i`` and class ``c``: float ``(N, C)``, in nats.

    ``x`` must be in the model's event space (see :func:`digits_input`). Each
    class is evaluated with the same ``seed``, so stochastic bounds and
    estimates use the same random numbers for every class of a row.
    """
    classes = _check_classifiable(model)
    columns = [
        log_likelihood(model, x, c, seed=seed, batch_size=batch_size, options=options)
        .to("cpu", torch.float64)
        for c in range(classes)
    ]
    return torch.stack(columns, dim=1)  # (N, C)


def generative_classify(
    model: GenerativeModel, x: torch.Tensor, *, seed: int = 0, batch_size: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """``argmax_c log p(x | c) + log p(c)`` with the declared ``p(c)`` (uniform by default):
    int64 labels ``(N,)``.

    ``options`` go to ``log_likelihood`` (e.g. ``{"k": 64}`` for a VAE's IWAE bound).
    """
    scores = class_log_likelihoods(model, x, seed=seed, batch_size=batch_size, options=options)
    spec = model.capabilities.condition
    assert spec is not None  # class_log_likelihoods checked it
    log_prior: float | torch.Tensor = -math.log(scores.shape[1])  # uniform: the same for all
    if not spec.uniform_prior:
        log_prior = torch.tensor(spec.class_prior, dtype=torch.float64).log()  # -inf for p = 0
    return (scores + log_prior).argmax(dim=1)


@attrs.frozen
class GenerativeClassification:
    """Test accuracy of a model used as a generative classifier, beside the reference CNN's.

    Attributes:
        model: the registry name.
        likelihood: the kind of ``log p(x | c)`` compared (exact, bound, estimate).
        n: test images classified (the first ``n`` of the digits test split).
        accuracy: fraction the generative classifier got right.
        reference_accuracy: the reference (discriminative) classifier's accuracy
            on the same images.
        seconds: wall time of the generative classifier.
        seed: seed of any random numbers the likelihood used.
        options: the likelihood options used (e.g. ``{"k": 64}``).
    """

    model: str
    likelihood: str
    n: int
    accuracy: float
    reference_accuracy: float
    seconds: float
    seed: int
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def generative_accuracy(
    model: GenerativeModel, *, n: int | None = None, seed: int = 0,
    batch_size: int | None = None, options: Mapping[str, Any] | None = None,
) -> GenerativeClassification:
    """Classify the digits test split (its first ``n`` images, default all 359) both ways.

    Raises:
        LikelihoodUnavailable: the model has no likelihood.
        InvalidArgumentError: the model is unconditional, does not model the
            digits, or ``n`` is not in ``1..359``.
    """
    from genproto.data import load_digits
    from genproto.metrics import accuracy

    classes = _check_classifiable(model)
    caps = model.capabilities
    if not is_digits_event(caps.event) or classes != NUM_DIGIT_CLASSES:
        raise InvalidArgumentError(
            f"model {model.name!r} for the digits generative classifier",
            value=f"{caps.event.describe()}, {classes} classes",
            allowed="a model of the 8x8 digits conditioned on the 10 digit classes",
            fix="Pick a digits model (genproto list shows each event space)",
        )
    data = load_digits("test")
    assert data.y is not None  # the digits are labelled
    total = len(data)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= total):
        raise InvalidArgumentError(
            "number of test images 'n'", value=n, allowed=f"an int in 1..{total}, or None (all)"
        )
    count = total if n is None else n
    x, y = data.x[:count], data.y[:count]
    start = time.perf_counter()
    predicted = generative_classify(
        model, digits_input(caps.event, x, seed=seed), seed=seed, batch_size=batch_size,
        options=options,
    )
    seconds = time.perf_counter() - start
    return GenerativeClassification(
        model=model.name,
        likelihood=caps.likelihood.value,
        n=count,
        accuracy=float((predicted == y).double().mean()),
        reference_accuracy=accuracy(x, y),
        seconds=seconds,
        seed=seed,
        options=dict(options or {}),
    )
