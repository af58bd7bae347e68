"""The registry, in process: hooks, fault isolation, duplicates, options, queries.

Each test builds a fresh ``Registry`` without entry points and hands it plugin
objects, so nothing global is patched. Discovery through a real ``pip install``
is tested in ``test_plugin_install.py``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from genproto.errors import (
    AmbiguousModelError,
    DuplicateModelError,
    InvalidArgumentError,
    NoShippedWeights,
    OptionError,
    OptionTypeError,
    PluginError,
    UnknownModelError,
)
from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto.protocol import (
    Capabilities,
    EventSpace,
    GenerativeModel,
    Likelihood,
    Paradigm,
    SampleCost,
)
from genproto.registry import Registry

FLOW = Capabilities(Paradigm.FLOW, Likelihood.EXACT, SampleCost.single_pass(),
                    EventSpace.continuous((2,)))
GAN = Capabilities(Paradigm.ADVERSARIAL, Likelihood.NONE, SampleCost.single_pass(),
                   EventSpace.discrete((8, 8), 17))
DIFFUSION = Capabilities(Paradigm.DIFFUSION, Likelihood.BOUND, SampleCost.per_step(50),
                         EventSpace.discrete((8, 8), 17))
LATENT = Capabilities((Paradigm.LATENT_VARIABLE, Paradigm.DIFFUSION), Likelihood.BOUND,
                      SampleCost.per_step(50).then(SampleCost.single_pass()),
                      EventSpace.discrete((8, 8), 17))


class FakeModel:
    """Enough of GenerativeModel for the registry's isinstance check."""

    def __init__(self, capabilities: Capabilities, **options: Any) -> None:
        self.capabilities = capabilities
        self.options = options
        self.name = "fake"

    def cost(self, **options: Any) -> SampleCost:
        return self.capabilities.cost

    def sample(self, n: int, **kwargs: Any) -> Any:
        raise NotImplementedError

    def log_likelihood(self, x: Any, condition: Any = None, **options: Any) -> Any:
        raise NotImplementedError

    def save(self, directory: Any) -> Any:
        raise NotImplementedError


def plugin(register_models: Callable[..., None]) -> types.SimpleNamespace:
    return types.SimpleNamespace(register_models=hookimpl(register_models))


def models_plugin(**models: Capabilities) -> types.SimpleNamespace:
    def register_models(register: Any) -> None:
        for name, capabilities in models.items():
            register(name, lambda c=capabilities, **o: FakeModel(c, **o), capabilities=capabilities,
                     options=[Option("steps", int, 50, "steps", minimum=1)])

    return plugin(register_models)


@pytest.fixture
def registry() -> Registry:
    reg = Registry(entry_points=False)
    reg.add_plugin(models_plugin(flow=FLOW, gan=GAN, diffusion=DIFFUSION, latent=LATENT),
                   name="good", distribution="genproto-good", version="1.2.3")
    return reg


def test_get_builds_a_model_with_validated_options(registry: Registry) -> None:
    model = registry.get("diffusion", steps=20)
    assert isinstance(model, GenerativeModel)
    assert model.options == {"steps": 20}  # type: ignore[attr-defined]
    assert registry.get("diffusion").options == {"steps": 50}  # type: ignore[attr-defined]


def test_unknown_name_suggests_close_matches(registry: Registry) -> None:
    with pytest.raises(UnknownModelError) as info:
        registry.get("difusion")
    assert isinstance(info.value, LookupError)
    assert info.value.suggestions == ("diffusion",)
    assert "Did you mean 'diffusion'" in str(info.value)
    assert "'gan'" in str(info.value)


def test_unknown_name_without_match_says_what_to_install(registry: Registry) -> None:
    with pytest.raises(UnknownModelError, match="pip install genproto-zzz"):
        registry.get("zzz")


def test_bad_factory_option_names_option_and_allowed(registry: Registry) -> None:
    with pytest.raises(OptionError, match="unknown model 'gan' option 'stepz'.*steps"):
        registry.get("gan", stepz=3)
    with pytest.raises(OptionTypeError, match="'steps'.*'many'"):
        registry.get("gan", steps="many")


def test_broken_plugin_is_reported_and_the_others_still_load(registry: Registry) -> None:
    def register_models(register: Any) -> None:
        raise RuntimeError("weights missing")

    record = registry.add_plugin(plugin(register_models), name="bad", distribution="genproto-bad",
                                 version="0.0.1")
    assert not record.loaded
    assert "RuntimeError: weights missing" in (record.error or "")
    assert [p.name for p in registry.failures()] == ["bad"]
    assert registry.get("flow") is not None
    with pytest.raises(UnknownModelError, match=r"failed to load: bad \(genproto-bad 0.0.1\)"):
        registry.get("nothing_like_it")


def test_models_of_a_plugin_that_fails_half_way_are_withdrawn(registry: Registry) -> None:
    def register_models(register: Any) -> None:
        register("half", lambda: FakeModel(FLOW), capabilities=FLOW)
        raise ValueError("then it broke")

    registry.add_plugin(plugin(register_models), name="half")
    assert "half" not in registry.names()


def test_misspelled_hook_is_caught_with_a_suggestion() -> None:
    reg = Registry(entry_points=False)

    def register_model(register: Any) -> None:  # missing the final "s"
        register("x", FakeModel, capabilities=FLOW)

    record = reg.add_plugin(types.SimpleNamespace(register_model=hookimpl(register_model)),
                            name="typo")
    assert not record.loaded
    assert "did you mean 'register_models'" in (record.error or "")
    assert reg.names() == []


def test_hook_with_wrong_argument_is_reported() -> None:
    reg = Registry(entry_points=False)

    def register_models(registrar: Any) -> None:
        pass

    record = reg.add_plugin(plugin(register_models), name="wrongarg")
    assert "registrar" in (record.error or "")


def test_a_name_two_third_party_plugins_offer_is_unavailable_until_chosen(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = registry.add_plugin(models_plugin(flow=FLOW, extra=FLOW), name="other")
    assert record.error is None  # its other models still load
    assert "extra" in registry.names()
    assert "flow" not in registry.names()
    [collision] = registry.collisions()
    assert collision.offered_by == ("good (genproto-good 1.2.3)", "other")
    assert collision.chosen is None
    with pytest.raises(AmbiguousModelError, match="GENPROTO_PREFER=flow=DISTRIBUTION"):
        registry.get("flow")
    with pytest.raises(DuplicateModelError, match="'good' and '<in-process>'"):
        registry.register("flow", FakeModel, capabilities=FLOW)


def test_the_collision_rule_does_not_depend_on_loading_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GENPROTO_PREFER", "flow=second")
    chosen = []
    for order in (("first", "second"), ("second", "first")):
        reg = Registry(entry_points=False)
        for name in order:
            reg.add_plugin(models_plugin(flow=FLOW), name=name)
        chosen.append((reg.entry("flow").plugin, reg.collisions()[0].chosen))
    assert chosen == [("second", "second")] * 2


def test_same_plugin_name_twice_is_an_error(registry: Registry) -> None:
    with pytest.raises(PluginError, match="already registered"):
        registry.add_plugin(models_plugin(), name="good")


def test_incompatible_protocol_version_is_refused() -> None:
    reg = Registry(entry_points=False)
    future = Capabilities(Paradigm.FLOW, Likelihood.EXACT, SampleCost.single_pass(),
                          EventSpace.continuous((2,)), protocol_version="99.0")
    record = reg.add_plugin(models_plugin(future=future), name="future")
    assert "protocol 99.0" in (record.error or "")
    assert "Upgrade genproto" in (record.error or "")


@pytest.mark.parametrize(
    ("name", "kwargs", "phrase"),
    [("not a name", {"capabilities": FLOW}, "model name"),
     ("ok", {"capabilities": "exact"}, "capabilities"),
     ("ok", {"capabilities": FLOW, "options": ["steps"]}, "options")],
)
def test_malformed_registrations_are_plugin_errors(name: str, kwargs: dict[str, Any],
                                                   phrase: str) -> None:
    reg = Registry(entry_points=False)
    with pytest.raises(PluginError, match=phrase):
        reg.register(name, FakeModel, **kwargs)


def test_factory_returning_a_non_model_is_a_plugin_error() -> None:
    reg = Registry(entry_points=False)
    reg.register("nothing", lambda: object(), capabilities=FLOW)
    with pytest.raises(PluginError, match="GenerativeModel"):
        reg.get("nothing")


def test_factory_crash_is_wrapped_with_the_plugin_named() -> None:
    reg = Registry(entry_points=False)

    def explode() -> Any:
        raise ZeroDivisionError("oops")

    reg.register("boom", explode, capabilities=FLOW)
    with pytest.raises(PluginError, match="'boom'.*ZeroDivisionError: oops"):
        reg.get("boom")


def test_find_by_declared_capability(registry: Registry) -> None:
    def names(**criteria: Any) -> list[str]:
        return [e.name for e in registry.find(**criteria)]

    assert names(likelihood="exact") == ["flow"]
    assert names(likelihood=Likelihood.BOUND) == ["diffusion", "latent"]
    assert names(cost="single_pass") == ["flow", "gan"]
    assert names(paradigm="diffusion") == ["diffusion", "latent"]
    assert names(event="continuous") == ["flow"]
    assert names(conditional=True) == []
    assert names(likelihood="none", cost="per_step") == []


def test_find_rejects_unknown_criteria_values(registry: Registry) -> None:
    with pytest.raises(InvalidArgumentError, match="'exact', 'bound', 'estimate', 'none'"):
        registry.find(likelihood="exactly")


def test_in_process_registration_and_removal() -> None:
    reg = Registry(entry_points=False)
    entry = reg.register("mine", lambda: FakeModel(FLOW), capabilities=FLOW, description="d")
    assert entry.plugin == "<in-process>"
    assert reg.names() == ["mine"]
    reg.unregister("mine")
    assert reg.names() == []


def test_plugin_records_list_hooks_and_models(registry: Registry) -> None:
    (record,) = registry.plugins()
    assert record.hooks == ("register_models",)
    assert set(record.models) == {"flow", "gan", "diffusion", "latent"}
    assert record.label() == "good (genproto-good 1.2.3)"


# -- shipped weights: the registry owns ``pretrained`` ------------------------------------------


class WeightedModel(FakeModel):
    """A FakeModel that records which packaged checkpoint it was asked to load."""

    loaded: tuple[str, ...] | None = None

    def load_packaged_weights(self, package: str, *parts: str) -> None:
        self.loaded = (package, *parts)

    def bind_origin(self, **origin: Any) -> None:
        self.origin = origin


SIZES = [Option("dataset", str, "digits", choices=("digits", "toy")),
         Option("hidden", int, None, minimum=1, nullable=True),
         Option("loss", str, "hinge", choices=("hinge", "bce"))]
SHIPPED = [Shipped("pkg", "weights/digits", {"dataset": "digits", "hidden": (None, 256)}),
           Shipped("pkg", ("weights", "toy"), {"dataset": "toy", "hidden": (None, 64)})]


@pytest.fixture
def weighted() -> Registry:
    reg = Registry(entry_points=False)
    reg.register("w", lambda **o: WeightedModel(FLOW, **o), capabilities=FLOW, options=SIZES,
                 shipped=SHIPPED)
    return reg


def test_shipped_weights_load_by_default_and_the_factory_never_sees_pretrained(
    weighted: Registry,
) -> None:
    assert [o.name for o in weighted.entry("w").options][-1] == "pretrained"
    model: Any = weighted.get("w")
    assert model.loaded == ("pkg", "weights", "digits")
    assert model.options == {"dataset": "digits", "hidden": None, "loss": "hinge"}
    assert model.origin["options"]["pretrained"] is True  # checkpoints record it, as before
    toy: Any = weighted.get("w", dataset="toy", hidden=64, loss="bce")
    assert toy.loaded == ("pkg", "weights", "toy")
    untrained: Any = weighted.get("w", hidden=8, pretrained=False)
    assert untrained.loaded is None
    assert untrained.options == {"dataset": "digits", "hidden": 8, "loss": "hinge"}


def test_a_configuration_without_shipped_weights_says_how_to_train_it(weighted: Registry) -> None:
    with pytest.raises(NoShippedWeights) as info:
        weighted.get("w", hidden=8, loss="bce")
    error = info.value
    assert isinstance(error, OptionError)
    assert isinstance(error, ValueError)
    assert error.option == "pretrained"
    assert error.differing == {"hidden": 8}
    assert error.configurations == ("dataset='digits', hidden=None|256",
                                    "dataset='toy', hidden=None|64")
    assert error.command == "genproto train w -M hidden=8 -M loss=bce -M pretrained=false -o DIR"
    assert "Pass pretrained=False and train it: genproto train w" in str(error)


@pytest.mark.parametrize(
    ("options", "shipped", "phrase"),
    [(SIZES, Shipped("pkg", "w", {"hiden": 3}), "undeclared option"),
     (SIZES, Shipped("pkg", "w", {"hidden": 0}), "hidden"),
     ([*SIZES, Option("pretrained", bool, True)], SHIPPED[0], "its own 'pretrained'"),
     (SIZES, ["weights/digits"], "Shipped")],
)
def test_malformed_shipped_weights_are_plugin_errors(options: list[Option], shipped: Any,
                                                     phrase: str) -> None:
    with pytest.raises(PluginError, match=phrase):
        Registry(entry_points=False).register("w", FakeModel, capabilities=FLOW,
                                              options=options, shipped=shipped)


def test_shipped_weights_need_a_model_that_can_load_them() -> None:
    reg = Registry(entry_points=False)
    reg.register("w", lambda **o: FakeModel(FLOW), capabilities=FLOW, options=SIZES,
                 shipped=SHIPPED)
    with pytest.raises(PluginError, match="load_packaged_weights"):
        reg.get("w")
    assert isinstance(reg.get("w", pretrained=False), FakeModel)


@pytest.mark.parametrize("name", ["hf-causal-lm", "org.model", "vae_large", "a1.b-2"])
def test_names_may_hold_dashes_and_dots(name: str) -> None:
    reg = Registry(entry_points=False)
    reg.register(name, FakeModel, capabilities=FLOW)
    assert reg.entry(name).name == name


@pytest.mark.parametrize("name", ["", "-x", "x-", "a..b", "a b", "1abc", "a/b", "a--b"])
def test_bad_names_say_the_allowed_pattern(name: str) -> None:
    reg = Registry(entry_points=False)
    with pytest.raises(PluginError, match="'hf-causal-lm'"):
        reg.register(name, FakeModel, capabilities=FLOW)


def _sized(dataset: str = "digits") -> Capabilities:
    event = EventSpace.discrete((8, 8), 17) if dataset == "digits" else \
        EventSpace.continuous((2,))
    return Capabilities(Paradigm.FLOW, Likelihood.EXACT, SampleCost.single_pass(), event)


def test_capabilities_may_follow_the_factory_options() -> None:
    reg = Registry(entry_points=False)
    options = [Option("dataset", str, "digits", "data", choices=("digits", "moons")),
               Option("width", int, 4, "width", minimum=1)]
    reg.register("sized", FakeModel, capabilities=_sized, options=options)
    entry = reg.entry("sized")
    assert entry.capabilities.event.shape == (8, 8)  # find() and list use the defaults
    assert entry.capabilities_for(dataset="moons", width=9).event.shape == (2,)
    assert reg.find(event="discrete") == [entry]
    with pytest.raises(OptionError, match="dataset"):
        entry.capabilities_for(dataset="mnist")


def test_a_broken_capabilities_function_is_a_plugin_error() -> None:
    def broken(dataset: str = "digits") -> Capabilities:
        raise RuntimeError("oops")

    reg = Registry(entry_points=False)
    with pytest.raises(PluginError, match="capabilities of model 'b'.*RuntimeError: oops"):
        reg.register("b", FakeModel, capabilities=broken,
                     options=[Option("dataset", str, "digits", "data")])
