"""Protocol 2.2: class labels on ``ConditionSpec``, the optional ``Interpolates``, and what
stays as it was (2.0 and 2.1 plugins and checkpoints).

The names models of issue 21 are class-conditional with the lists' names as labels, so
``genproto.metrics.text`` measures them with ``condition="female"``; a tiny honest model
(:class:`UniformNames`: letters uniform, a stop probability per list) checks that against
log-likelihoods computed by hand.
"""

from __future__ import annotations

import json
import math
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import torch

import genproto
from genproto import Capabilities, ConditionSpec, EventSpace, Likelihood, Paradigm, SampleCost
from genproto.checkpoint import CONFIG_FILE
from genproto.data.names import NAMES_LISTS, load_names
from genproto.data.names_text import NamesCodec, names_condition, names_event
from genproto.errors import CheckpointError, PluginError
from genproto.hookspecs import hookimpl
from genproto.metrics.text import evaluate_text, is_text_model, log_likelihood_of_test_names
from genproto.model import Model
from genproto.protocol import (
    PROTOCOL_VERSION,
    ConditionKind,
    Interpolates,
    TextCodec,
    protocol_compatible,
)
from genproto.registry import Registry
from genproto.streams import KeyedStreams
from genproto.training import seeded_init

LISTS = ("female", "male", "surname")
NAMED = ConditionSpec(3, "Census list", labels=LISTS)


# -- the labels field -------------------------------------------------------------------------


def test_labels_are_optional_and_default_to_2_1s_numbers() -> None:
    plain = ConditionSpec(3, "Census list")
    assert plain.labels is None
    assert "labels" not in plain.to_dict()
    assert plain.to_dict() == {"num_classes": 3, "description": "Census list",
                               "required": False}  # what 2.1 (and 1.x) wrote
    assert NAMED.labels == LISTS


def test_labels_are_converted_to_a_tuple() -> None:
    assert ConditionSpec(2, labels=["a", "b"]).labels == ("a", "b")


@pytest.mark.parametrize(
    ("labels", "phrase"),
    [("female", "not one str"),
     (("female", "male"), "one label per class, num_classes=3 (got 2 labels"),
     (("female", "male", "female"), "distinct (got 'female' more than once"),
     (("female", "", "surname"), "non-empty str (got ''"),
     (("female", "  ", "surname"), "non-empty str (got '  '"),
     (("female", 1, "surname"), "non-empty str (got 1"),
     (("female", "2", "surname"), "must not be a whole number (got '2')"),
     (3, "sequence of str")],
)
def test_bad_labels_are_value_errors_at_construction(labels: Any, phrase: str) -> None:
    with pytest.raises(ValueError, match="labels?") as info:
        ConditionSpec(3, "Census list", labels=labels)
    assert phrase in str(info.value)


@pytest.mark.parametrize(
    "make",
    [lambda: ConditionSpec.text(max_length=4).__class__(kind=ConditionKind.TEXT, labels=("a",)),
     lambda: ConditionSpec(kind=ConditionKind.VECTOR, shape=(2,), labels=("a",)),
     lambda: ConditionSpec(kind=ConditionKind.TOKENS, max_length=2, pad_id=0, labels=("a",))],
)
def test_labels_belong_to_class_conditions_only(make: Any) -> None:
    with pytest.raises(ValueError, match=r"takes .* \(got labels=\('a',\)\)"):
        make()


def test_describe_shows_the_labels() -> None:
    assert NAMED.describe() == "Census list 0..2 (female, male, surname) (optional)"
    assert ConditionSpec(3, "Census list").describe() == "Census list 0..2 (optional)"


def test_labels_round_trip_and_2_1_dicts_read_unchanged() -> None:
    data = NAMED.to_dict()
    assert data["labels"] == list(LISTS)
    assert json.loads(json.dumps(data)) == data
    assert ConditionSpec.from_dict(data) == NAMED
    old = {"num_classes": 3, "description": "Census list", "required": False}
    assert ConditionSpec.from_dict(old) == ConditionSpec(3, "Census list")
    assert ConditionSpec.from_dict({**old, "labels": None}).labels is None
    with pytest.raises(ValueError, match="distinct"):
        ConditionSpec.from_dict({**old, "labels": ["a", "a", "b"]})


def test_different_labels_accept_different_values() -> None:
    plain = ConditionSpec(3, "list")
    assert NAMED.accepts_same(ConditionSpec(3, "other words", labels=LISTS))
    assert not NAMED.accepts_same(plain)
    assert not plain.accepts_same(NAMED)
    assert not NAMED.accepts_same(ConditionSpec(3, labels=("male", "female", "surname")))


def test_names_condition_is_labelled_with_the_lists() -> None:
    spec = names_condition()
    assert spec.labels == NAMES_LISTS == LISTS
    assert spec.description == "Census list"
    assert spec.num_classes == 3
    assert spec.describe() == "Census list 0..2 (female, male, surname) (optional)"


# -- versions: 2.2, with 2.0 and 2.1 plugins and checkpoints unchanged ----------------------


class Coin(Model):
    """Two biased coins tossed together; the class picks the bias (class 0 tails, class 1
    heads, about 95 %). One pass, exact."""

    def __init__(self, condition: ConditionSpec | None = None, version: str = PROTOCOL_VERSION,
                 ) -> None:
        super().__init__(
            Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT, SampleCost.single_pass(),
                         EventSpace.discrete((2,), 2),
                         condition or ConditionSpec(2, "bias"), protocol_version=version),
            name="coin")
        with seeded_init(3):
            self.net = torch.nn.Linear(2, 2)

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def _logits(self, condition: torch.Tensor) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(condition, 2).float()
        heads = 3.0 * (2 * onehot[:, 1:] - 1) + 0.5 * self.net(onehot)  # (B, 2): class 1 heads
        return torch.stack([torch.zeros_like(heads), heads], -1)  # (B, 2 coins, 2 faces)

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        return streams.categorical(self._logits(condition))

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        logp = self._logits(condition).log_softmax(-1)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)


def test_the_version_is_2_2_and_2_0_and_2_1_stay_compatible() -> None:
    assert PROTOCOL_VERSION == "2.2"
    for version in ("2.0", "2.1", "2.2", "1.0", "1.1"):
        assert protocol_compatible(version), version
    assert not protocol_compatible("2.3")


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_older_plugins_register_and_sample_unchanged(version: str) -> None:
    reg = Registry(entry_points=False)
    reg.register("coin", lambda: Coin(version=version),
                 capabilities=Coin(version=version).capabilities)
    model = reg.get("coin")
    assert model.capabilities.protocol_version == version
    x = model.sample(5, condition=1, seed=4)
    assert torch.equal(x, Coin().sample(5, condition=1, seed=4))


def test_a_2_3_plugin_is_refused() -> None:
    reg = Registry(entry_points=False)
    record = reg.add_plugin(_plugin(Coin(version="2.3")), name="future")
    assert "protocol 2.3" in (record.error or "")
    assert "up to 2.2" in (record.error or "")
    with pytest.raises(PluginError):
        reg.register("coin", Coin, capabilities=Coin(version="2.3").capabilities)


def _plugin(model: Coin) -> object:
    """A plugin object with one hook, as an entry point's module would be."""

    @hookimpl
    def register_models(register: Any) -> None:
        register("coin", lambda: model, capabilities=model.capabilities)

    return types.SimpleNamespace(register_models=register_models)


def _registry(condition: ConditionSpec | None = None) -> Registry:
    reg = Registry(entry_points=False)
    reg.register("coin", lambda: Coin(condition), capabilities=Coin(condition).capabilities)
    return reg


def test_a_2_1_checkpoint_loads_unchanged(tmp_path: Path) -> None:
    reg = _registry()
    model = reg.get("coin")
    saved = model.save(tmp_path / "coin")
    config = json.loads((saved / CONFIG_FILE).read_text())
    config["protocol_version"] = config["capabilities"]["protocol_version"] = "2.1"
    assert "labels" not in json.dumps(config)
    (saved / CONFIG_FILE).write_text(json.dumps(config))
    loaded = genproto.load(saved, registry=reg)
    assert torch.equal(loaded.sample(6, condition=0, seed=1), model.sample(6, condition=0, seed=1))


def test_labels_survive_a_checkpoint_and_a_2_3_checkpoint_is_refused(tmp_path: Path) -> None:
    named = ConditionSpec(2, "bias", labels=("fair", "loaded"))
    reg = _registry(named)
    saved = reg.get("coin").save(tmp_path / "coin")
    config = json.loads((saved / CONFIG_FILE).read_text())
    assert config["capabilities"]["condition"]["labels"] == ["fair", "loaded"]
    assert Capabilities.from_dict(config["capabilities"]).condition == named
    loaded = genproto.load(saved, registry=reg)
    assert torch.equal(loaded.sample(6, condition="loaded", seed=2),
                       loaded.sample(6, condition=1, seed=2))
    config["protocol_version"] = config["capabilities"]["protocol_version"] = "2.3"
    (saved / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="Upgrade genproto"):
        genproto.load(saved, registry=reg)


# -- Interpolates: optional, checked by name ---------------------------------------------------


def test_interpolates_is_optional_and_checked_by_name() -> None:
    class Line:
        def interpolate(self, start: torch.Tensor, end: torch.Tensor, steps: int, *,
                        condition: Any = None, seed: int = 0) -> torch.Tensor:
            t = torch.linspace(0, 1, steps)[:, None]
            return (1 - t) * start + t * end

    assert isinstance(Line(), Interpolates)
    assert not isinstance(Coin(), Interpolates)  # a 2.1 model is not required to have it
    path = Line().interpolate(torch.zeros(2), torch.ones(2), 3)
    assert path.tolist() == [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]
    assert "Interpolates" in genproto.protocol.__all__


# -- a class-conditional names model is a text model ------------------------------------------

#: The stop probability of each list's model (female, male, surname): letters share the rest.
STOPS = (0.1, 0.2, 0.3)


class _StopTable(torch.nn.Module):
    """Class labels (B,) -> next-token log-probabilities (B, 27): the 'network', counted."""

    def __init__(self) -> None:
        super().__init__()
        rows = [[math.log((1 - q) / 26)] * 26 + [math.log(q)] for q in STOPS]
        self.register_buffer("table", torch.tensor(rows))

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.get_buffer("table")[labels]


class UniformNames(NamesCodec, Model):
    """Names of independent uniform letters that stop with a probability set by the list:
    ``p(x | c) = ((1 - q_c) / 26)^k q_c`` for k letters and a stop (``(1 - q_c)^16 / 26^16``
    for 16 letters without one). Normalised over the event space, and easy by hand."""

    def __init__(self) -> None:
        event = names_event()
        super().__init__(
            Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT,
                         SampleCost.per_token(event.shape[0]), event, names_condition()),
            name="uniform-names")
        self.table = _StopTable()

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"table": self.table}

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        rows, length = len(streams), self.capabilities.event.shape[0]
        out = torch.full((rows, length), 26, dtype=torch.int64)
        stopped = torch.zeros(rows, dtype=torch.bool)
        for t in range(length):
            token = streams.fork(f"t{t}").categorical(self.table(condition))  # (B,)
            out[:, t] = torch.where(stopped, 26, token)
            stopped |= token == 26
        return out

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        logp = self.table(condition)  # (B, 27)
        per_token = logp.gather(1, x)  # (B, L)
        counted = torch.arange(x.shape[1]) < self.capabilities.event.lengths(x)[:, None]
        return torch.where(counted, per_token, 0.0).sum(1)


def _by_hand(names: list[str], stop: float) -> torch.Tensor:
    return torch.tensor([len(n) * math.log((1 - stop) / 26) + math.log(stop) for n in names],
                        dtype=torch.float64)


def test_a_labelled_class_model_is_a_text_model() -> None:
    model = UniformNames()
    assert isinstance(model, TextCodec)
    assert is_text_model(model)
    spec = names_condition()
    caps = model.capabilities
    assert not is_text_model(model, attrs.evolve(caps, condition=ConditionSpec(3, "list")))
    partial = ConditionSpec(3, "list", labels=("female", "male", "other"))
    assert not is_text_model(model, attrs.evolve(caps, condition=partial))
    assert not is_text_model(model, attrs.evolve(caps, condition=None))
    assert is_text_model(model, attrs.evolve(caps, condition=ConditionSpec(4, labels=(
        "surname", "female", "male", "nickname"))))  # any order, more lists allowed
    assert spec.labels is not None


@pytest.mark.parametrize("which", LISTS)
def test_test_names_log_likelihood_uses_the_labelled_class(which: str) -> None:
    nats, refused = log_likelihood_of_test_names(UniformNames(), which)  # type: ignore[arg-type]
    names = load_names("test", which).names  # type: ignore[arg-type]
    expected = _by_hand(list(names), STOPS[LISTS.index(which)])
    long = torch.tensor([len(n) > 15 for n in names])
    assert refused == int(long.sum())
    assert torch.allclose(nats[~long], expected[~long], atol=1e-4, rtol=0)


def test_evaluate_text_draws_with_the_label() -> None:
    model = UniformNames()
    metrics = evaluate_text(model, "surname", n=300, seed=5)
    assert metrics.cross_entropy is not None
    names = list(load_names("test", "surname").names)
    weights = load_names("test", "surname").probs.double()
    expected = float(-(weights / weights.sum() * _by_hand(names, STOPS[2])).sum())
    assert metrics.cross_entropy.model == pytest.approx(expected, rel=1e-4)
    # the samples are those of class 2: mean letters (1 - q) / q = 2.33, not 9 or 4 (female,
    # male); 300 samples give a standard error of about 0.16 (geometric, var (1 - q) / q^2)
    x = model.sample(300, condition="surname", seed=5)
    assert torch.equal(x, model.sample(300, condition=2, seed=5))
    letters = (x != 26).sum(1).double().mean()
    assert abs(float(letters) - 7 / 3) < 4 * math.sqrt(0.7 / 0.09 / 300)


@pytest.mark.parametrize("name", ["labels", "interpolates"])
def test_the_docs_blocks_run(name: str) -> None:
    """docs/writing-a-plugin.md's ``python labels`` and ``python interpolates`` blocks."""
    page = (Path(__file__).parents[1] / "docs" / "writing-a-plugin.md").read_text()
    block = page.split(f"```python {name}\n", 1)[1].split("```", 1)[0]
    exec(compile(block, f"writing-a-plugin.md ({name})", "exec"), {})
