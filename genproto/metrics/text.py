"""Text metrics for models of the Census names (:mod:`genproto.data.names`), one list at a time.

A *text model* (:func:`is_text_model`) has a variable-length sequence event, a
text condition and the :class:`~genproto.protocol.TextCodec` methods; for the
names it is conditioned on the list's name (``condition="female"``). For one
list, from the model's samples drawn with that condition and its
log-likelihoods of the list's test names:

* :func:`cross_entropy` -- ``-sum_x q(x) log m(x)``, nats per name, over the
  test names weighted by the truth renormalised over them (``q``), beside the
  truth's own ``-sum_x q(x) log p(x)`` on the same names and the list's entropy
  ``H(p)``. The gap (model minus truth) is ``KL(q || m) - KL(q || p)``: zero for
  the truth, positive for a model worse than it on the held-out names.
* :func:`name_shares` -- novelty (share of samples that are not train names of
  the list), the share that are real names of the list, and the share that are
  real but unseen (test names): a model that only copies its training set has
  novelty 0, the truth has novelty = the test split's mass (about 0.2).
* :func:`validity` -- share of samples of the letters ``a-z`` only, non-empty,
  that stopped within the maximum length.
* :func:`length_distance` -- the total variation distance between the samples'
  length histogram and the truth's length distribution (by probability, over
  the whole list).
* :func:`~genproto.metrics.names_classifier.list_accuracy` -- the share of the
  samples the reference names classifier puts on the list asked for (invalid
  samples count as wrong); read it against
  :data:`~genproto.metrics.names_classifier.TRUTH_ACCURACY`.

:func:`text_metrics` computes all of them into one :class:`TextMetrics`;
:func:`evaluate_text` draws the samples and asks the likelihoods first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs
import torch

from genproto.data.names import NAMES_LISTS, NamesList, load_names, names_entropy
from genproto.errors import (
    ArgumentTypeError,
    GenprotoError,
    InputError,
    InputTypeError,
    InvalidArgumentError,
)
from genproto.metrics.names_classifier import list_accuracy
from genproto.protocol import ConditionKind, EventSpace, Likelihood, TextCodec

if TYPE_CHECKING:
    from genproto.protocol import Capabilities, GenerativeModel

__all__ = [
    "CrossEntropy",
    "NameShares",
    "TextMetrics",
    "cross_entropy",
    "evaluate_text",
    "is_text_model",
    "length_distance",
    "name_shares",
    "stopped_rows",
    "log_likelihood_of_test_names",
    "text_metrics",
    "truth_lengths",
    "validity",
]

_NAME = re.compile(r"[a-z]+")


def _check_list(value: Any, function: str) -> NamesList:
    if not (isinstance(value, str) and value in NAMES_LISTS):
        raise InvalidArgumentError(f"{function}() argument 'list'", value=value,
                                   allowed=" | ".join(map(repr, NAMES_LISTS)),
                                   fix="Name one of the three Census lists")
    return value


def _check_texts(texts: Any, function: str) -> list[str]:
    what = f"{function}() argument 'texts'"
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ArgumentTypeError(what, value=texts, allowed="a sequence of strings",
                                fix="Pass model.to_text(samples), a list of str")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise ArgumentTypeError(f"{what}[{i}]", value=text, allowed="a str")
    return out


def _is_name(text: str) -> bool:
    return _NAME.fullmatch(text) is not None


# ---------------------------------------------------------------------------
# cross-entropy on the test names
# ---------------------------------------------------------------------------


@attrs.frozen
class CrossEntropy:
    """Cross-entropies in nats per name on one list's test names, weighted by ``q``.

    Attributes:
        list: the list.
        model: ``-sum_x q(x) log m(x)`` (``inf`` when the model gives a test name
            probability 0, or cannot encode it).
        truth: ``-sum_x q(x) log p(x)``, the same for the truth.
        entropy: ``H(p)`` of the whole list (:func:`~genproto.data.names.names_entropy`).
        names: the number of test names.
        unencodable: test names the model's ``from_text`` refused (each counted with
            probability 0).
    """

    list: str
    model: float
    truth: float
    entropy: float
    names: int
    unencodable: int = 0

    @property
    def gap(self) -> float:
        """``model - truth`` = ``KL(q || m) - KL(q || p)`` (``>= 0`` in expectation for any
        model only when ``m`` is normalised; the truth's is 0)."""
        return self.model - self.truth


def cross_entropy(log_likelihood: Any, list: NamesList, *, unencodable: int = 0) -> CrossEntropy:
    """The model's cross-entropy on the test names of ``list`` beside the truth's.

    Args:
        log_likelihood: the model's ``log m(name + stop | list)`` in nats of each test name
            (``load_names("test", list).names``, in that order): a real tensor ``(N,)``;
            ``-inf`` is allowed, NaN and ``+inf`` are not.
        list: ``"female"``, ``"male"`` or ``"surname"``.
        unencodable: how many of the names the model could not encode (for the record).

    Raises:
        InputTypeError / InputError: ``log_likelihood`` is not a real tensor of that shape, or
            holds NaN or ``+inf``.
    """
    list = _check_list(list, "cross_entropy")
    test = load_names("test", list)
    what = "cross_entropy() argument 'log_likelihood'"
    allowed = f"a real tensor of shape ({len(test)},), one value per test name of {list!r}"
    if not isinstance(log_likelihood, torch.Tensor) or not log_likelihood.is_floating_point():
        raise InputTypeError(what, value=getattr(log_likelihood, "dtype", log_likelihood),
                             allowed=allowed, fix="Pass model.log_likelihood(...) as it came")
    if tuple(log_likelihood.shape) != (len(test),):
        raise InputError(f"shape of {what}", value=tuple(log_likelihood.shape), allowed=allowed,
                         fix="Ask the likelihood of load_names('test', list).names, in order")
    m = log_likelihood.detach().to("cpu", torch.float64)
    if bool(torch.isnan(m).any() | (m == math.inf).any()):
        raise InputError(f"values of {what}", value="NaN or +inf",
                         allowed="log-probabilities: finite or -inf")
    q = test.probs / test.probs.sum()  # (N,) the truth renormalised over the test names
    truth = -float((q * torch.log(test.probs)).sum())
    model = math.inf if bool((m == -math.inf).any()) else -float((q * m).sum())
    return CrossEntropy(list, model, truth, names_entropy(list), len(test), unencodable)


# ---------------------------------------------------------------------------
# sample statistics
# ---------------------------------------------------------------------------


@attrs.frozen
class NameShares:
    """What share of the samples are which kind of name (each in ``[0, 1]``).

    Attributes:
        novel: not a train name of the list (invalid strings included).
        real: a name of the list (train or test).
        unseen_real: a test name of the list: real, and novel to a model of the train split.
    """

    novel: float
    real: float
    unseen_real: float


def name_shares(texts: Sequence[str], list: NamesList) -> NameShares:
    """Novelty and realness of sampled ``texts`` for ``list`` (all 0 for no texts)."""
    texts = _check_texts(texts, "name_shares")
    list = _check_list(list, "name_shares")
    if not texts:
        return NameShares(0.0, 0.0, 0.0)
    train = set(load_names("train", list).names)
    test = set(load_names("test", list).names)
    n = len(texts)
    return NameShares(
        novel=sum(t not in train for t in texts) / n,
        real=sum(t in train or t in test for t in texts) / n,
        unseen_real=sum(t in test for t in texts) / n,
    )


def stopped_rows(event: EventSpace, x: torch.Tensor) -> torch.Tensor:
    """bool ``(N,)``: which rows of a sequence batch ``x`` hold a stop token (a row without
    one was cut at the maximum length)."""
    if not event.is_sequence:
        raise InvalidArgumentError("stopped_rows() argument 'event'", value=event.describe(),
                                   allowed="a variable-length sequence (EventSpace.sequence)")
    stops = x.eq(cast(int, event.stop))  # (N, L)
    return stops.any(dim=1).cpu()


def validity(texts: Sequence[str], stopped: Any = None) -> float:
    """Share of ``texts`` that are names: letters ``a-z`` only, non-empty, and (when ``stopped``
    is given, bool ``(N,)`` as from :func:`stopped_rows`) ended by a stop (0.0 for no texts)."""
    texts = _check_texts(texts, "validity")
    ok = torch.tensor([_is_name(t) for t in texts], dtype=torch.bool)
    if stopped is not None:
        if not isinstance(stopped, torch.Tensor) or stopped.dtype != torch.bool \
                or tuple(stopped.shape) != (len(texts),):
            raise InputError("validity() argument 'stopped'",
                             value=getattr(stopped, "shape", stopped),
                             allowed=f"a bool tensor of shape ({len(texts)},)",
                             fix="Pass stopped_rows(event, samples)")
        ok &= stopped.cpu()
    return float(ok.double().mean()) if texts else 0.0


def truth_lengths(list: NamesList) -> torch.Tensor:
    """``P(len(name) = k)`` under the truth of ``list``: float64 ``(K + 1,)``, K the longest."""
    list = _check_list(list, "truth_lengths")
    data = load_names("all", list)
    lengths = torch.tensor([len(n) for n in data.names])
    return torch.zeros(int(lengths.max()) + 1, dtype=torch.float64).index_add_(
        0, lengths, data.probs)


def length_distance(texts: Sequence[str], list: NamesList) -> float:
    """Total variation ``1/2 sum_k |P_samples(k) - P_truth(k)|`` between the texts' lengths
    (in characters, invalid texts included) and the truth's (:func:`truth_lengths`)."""
    texts = _check_texts(texts, "length_distance")
    truth = truth_lengths(list)
    if not texts:
        return 1.0
    lengths = torch.tensor([len(t) for t in texts])
    size = max(len(truth), int(lengths.max()) + 1)
    samples = torch.bincount(lengths, minlength=size).double() / len(texts)
    return 0.5 * float((samples - torch.nn.functional.pad(truth, (0, size - len(truth))))
                       .abs().sum())


# ---------------------------------------------------------------------------
# all of them
# ---------------------------------------------------------------------------


@attrs.frozen
class TextMetrics:
    """The text metrics of one list (see the module docstring).

    Attributes:
        list: the list the samples were conditioned on.
        samples: how many samples.
        cross_entropy: on the test names, or ``None`` when not measured (no likelihood).
        novelty, real, unseen_real: :class:`NameShares`.
        validity: :func:`validity`.
        length_tv: :func:`length_distance`.
        accuracy: share the reference names classifier puts on ``list``.
    """

    list: str
    samples: int
    cross_entropy: CrossEntropy | None
    novelty: float
    real: float
    unseen_real: float
    validity: float
    length_tv: float
    accuracy: float


def text_metrics(texts: Sequence[str], list: NamesList, *, log_likelihood: Any = None,
                 stopped: Any = None, unencodable: int = 0, prior: Any = None) -> TextMetrics:
    """Every text metric of ``list`` from sampled ``texts`` and, if given, the model's
    ``log_likelihood`` of the test names (see :func:`cross_entropy`).

    Args:
        texts: the samples, decoded (``model.to_text(x)``), drawn with ``condition=list``.
        stopped: bool ``(N,)``, which samples stopped (:func:`stopped_rows`); ``None``: all.
        prior: the classifier's list prior (``None``: uniform).
    """
    texts = _check_texts(texts, "text_metrics")
    list = _check_list(list, "text_metrics")
    shares = name_shares(texts, list)
    names = [t for t in texts if _is_name(t)]
    return TextMetrics(
        list=list,
        samples=len(texts),
        cross_entropy=None if log_likelihood is None
        else cross_entropy(log_likelihood, list, unencodable=unencodable),
        novelty=shares.novel,
        real=shares.real,
        unseen_real=shares.unseen_real,
        validity=validity(texts, stopped),
        length_tv=length_distance(texts, list),
        accuracy=list_accuracy(names, list, prior) * len(names) / len(texts) if texts else 0.0,
    )


# ---------------------------------------------------------------------------
# driving a model
# ---------------------------------------------------------------------------


def is_text_model(model: GenerativeModel, capabilities: Capabilities | None = None) -> bool:
    """A sequence event, :class:`~genproto.protocol.TextCodec`, and a condition that takes a
    list's name: text (the name as a prompt), or a class whose labels (protocol 2.2) include
    every Census list (``condition="female"`` is then that list's class)."""
    caps = capabilities if capabilities is not None else model.capabilities
    spec = caps.condition
    if not caps.event.is_sequence or spec is None or not isinstance(model, TextCodec):
        return False
    if spec.kind is ConditionKind.CLASS:
        return spec.labels is not None and set(NAMES_LISTS) <= set(spec.labels)
    return spec.kind is ConditionKind.TEXT


def _encode(model: TextCodec, names: Sequence[str]) -> tuple[torch.Tensor | None, list[int]]:
    """``model.from_text(names)``; names it refuses are encoded one by one and left out:
    the events of the others and the positions of the refused ones."""
    try:
        return model.from_text(names), []
    except (InputError, InputTypeError, InvalidArgumentError):
        pass
    rows, refused = [], []
    for i, name in enumerate(names):
        try:
            rows.append(model.from_text([name]))
        except GenprotoError:
            refused.append(i)
    return (torch.cat(rows) if rows else None), refused


def log_likelihood_of_test_names(model: GenerativeModel, list: NamesList, *, seed: int = 0,
                              batch_size: int | None = None, **options: Any
                              ) -> tuple[torch.Tensor, int]:
    """The model's ``log m(name | list)`` of every test name of ``list`` (float64 ``(N,)``,
    ``-inf`` for a name its ``from_text`` refuses) and how many it refused; ``options`` are
    the model's likelihood options (e.g. a VAE's importance samples ``k``)."""
    list = _check_list(list, "log_likelihood_of_test_names")
    if not isinstance(model, TextCodec):
        raise ArgumentTypeError("log_likelihood_of_test_names() argument 'model'", value=model,
                                allowed="a text model (TextCodec: to_text and from_text)")
    names = load_names("test", list).names
    x, refused = _encode(model, names)
    out = torch.full((len(names),), -math.inf, dtype=torch.float64)
    if x is not None:
        keep = torch.ones(len(names), dtype=torch.bool)
        keep[refused] = False
        out[keep] = model.log_likelihood(x, list, seed=seed, batch_size=batch_size,
                                         **options).to("cpu", torch.float64)
    return out, len(refused)


def evaluate_text(model: GenerativeModel, list: NamesList, *, n: int = 1000, seed: int = 0,
                  batch_size: int | None = None, prior: Any = None) -> TextMetrics:
    """Draw ``n`` samples with ``condition=list`` and compute every text metric; the
    cross-entropy is ``None`` for a model that declares no likelihood.

    Raises:
        ArgumentTypeError: ``model`` is not a text model (:func:`is_text_model`).
    """
    list = _check_list(list, "evaluate_text")
    if not is_text_model(model):
        raise ArgumentTypeError(
            "evaluate_text() argument 'model'", value=getattr(model, "name", model),
            allowed="a text model: a sequence event, to_text and from_text, and a text "
                    "condition or class labels naming the three lists",
        )
    assert isinstance(model, TextCodec)  # is_text_model checked it
    x = model.sample(n, condition=list, seed=seed, batch_size=batch_size)
    log_likelihood, refused = None, 0
    if model.capabilities.likelihood is not Likelihood.NONE:
        log_likelihood, refused = log_likelihood_of_test_names(model, list, seed=seed,
                                                            batch_size=batch_size)
    return text_metrics(model.to_text(x), list, log_likelihood=log_likelihood,
                        stopped=stopped_rows(model.capabilities.event, x),
                        unencodable=refused, prior=prior)
