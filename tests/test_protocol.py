"""The protocol's value types: validation, composition and serialisation."""

from __future__ import annotations

import attrs
import pytest
import torch

import genproto
from genproto.protocol import (
    PROTOCOL_VERSION,
    Capabilities,
    ConditionSpec,
    CostGrowth,
    EventKind,
    EventSpace,
    Likelihood,
    Paradigm,
    SampleCost,
    protocol_compatible,
)


def caps(**changes: object) -> Capabilities:
    base = Capabilities(
        paradigms=(Paradigm.DIFFUSION,),
        likelihood=Likelihood.BOUND,
        cost=SampleCost.per_step(20),
        event=EventSpace.discrete((8, 8), 17),
        condition=ConditionSpec(10, "digit class"),
        objective="noise-prediction MSE",
        sampling="K denoising steps",
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]


def test_cost_counts_follow_settings() -> None:
    assert SampleCost.single_pass().evaluations == 1
    assert SampleCost.per_token(64).evaluations == 64
    assert SampleCost.per_step(20).evaluations == 20
    assert SampleCost.per_step(20, per_step=2).evaluations == 40


def test_single_pass_is_exactly_one_evaluation() -> None:
    with pytest.raises(ValueError, match="single-pass"):
        SampleCost(CostGrowth.SINGLE_PASS, units=3)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_cost_units_must_be_positive_ints(bad: object) -> None:
    with pytest.raises(ValueError, match="units"):
        SampleCost(CostGrowth.PER_STEP, units=bad)  # type: ignore[arg-type]


def test_hybrid_cost_composes_steps_plus_decoder() -> None:
    latent = SampleCost.per_step(50).then(SampleCost.single_pass())
    assert latent.growth is CostGrowth.PER_STEP
    assert latent.evaluations == 51
    assert latent.fixed == 1
    two = SampleCost.single_pass().then(SampleCost.single_pass())
    assert (two.growth, two.evaluations) == (CostGrowth.FIXED, 2)
    assert two.then(SampleCost.single_pass()) == SampleCost.fixed_passes(3)
    assert not two.growth.grows
    assert SampleCost.per_step(3).growth.grows


def test_fixed_cost_is_two_or_more_plain_passes() -> None:
    assert SampleCost.fixed_passes(1) == SampleCost.single_pass()
    assert SampleCost.fixed_passes(4).describe() == "4 evaluations (fixed, 4 passes)"
    with pytest.raises(ValueError, match="fixed cost"):
        SampleCost(CostGrowth.FIXED, units=1)
    with pytest.raises(ValueError, match="fixed cost"):
        SampleCost(CostGrowth.FIXED, units=2, fixed=1)


def test_two_growing_costs_of_different_kinds_do_not_compose() -> None:
    with pytest.raises(ValueError, match="compose"):
        SampleCost.per_step(5).then(SampleCost.per_token(64))


def test_cost_description_names_the_unit() -> None:
    assert "K=20" in SampleCost.per_step(20).describe()
    assert "L=64" in SampleCost.per_token(64).describe()
    assert "single pass" in SampleCost.single_pass().describe()


def test_event_space_dtype_and_dimension() -> None:
    digits = EventSpace.discrete((8, 8), 17)
    assert digits.dtype == torch.int64
    assert digits.dimension == 64
    points = EventSpace.continuous((2,))
    assert points.dtype == torch.float32
    assert points.kind is EventKind.CONTINUOUS


@pytest.mark.parametrize(
    ("shape", "kind", "levels"),
    [((), EventKind.CONTINUOUS, None), ((0,), EventKind.CONTINUOUS, None),
     ((8,), EventKind.DISCRETE, None), ((8,), EventKind.DISCRETE, 1),
     ((2,), EventKind.CONTINUOUS, 5)],
)
def test_event_space_rejects_malformed(
    shape: tuple[int, ...], kind: EventKind, levels: int | None
) -> None:
    with pytest.raises(ValueError, match="event|levels"):
        EventSpace(shape, kind, levels)


def test_capabilities_take_one_paradigm_or_several() -> None:
    assert caps(paradigms=Paradigm.FLOW).paradigms == (Paradigm.FLOW,)
    hybrid = caps(paradigms=(Paradigm.LATENT_VARIABLE, Paradigm.DIFFUSION))
    assert hybrid.is_hybrid
    with pytest.raises(ValueError, match="repeat"):
        caps(paradigms=(Paradigm.FLOW, Paradigm.FLOW))
    with pytest.raises(ValueError, match="non-empty"):
        caps(paradigms=())


def test_capabilities_are_frozen() -> None:
    c = caps()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        c.likelihood = Likelihood.EXACT  # type: ignore[misc]


@pytest.mark.parametrize(
    "c",
    [caps(), caps(condition=None, event=EventSpace.continuous((2,)), likelihood=Likelihood.NONE),
     caps(cost=SampleCost.per_step(10).then(SampleCost.single_pass()),
          paradigms=(Paradigm.LATENT_VARIABLE, Paradigm.DIFFUSION))],
)
def test_capabilities_round_trip_through_dict(c: Capabilities) -> None:
    assert Capabilities.from_dict(c.to_dict()) == c


def test_protocol_versions() -> None:
    major, minor = (int(p) for p in PROTOCOL_VERSION.split("."))
    assert protocol_compatible(PROTOCOL_VERSION)
    assert protocol_compatible(f"{major}.0")
    assert not protocol_compatible(f"{major}.{minor + 1}")
    assert not protocol_compatible(f"{major + 1}.0")
    assert not protocol_compatible("one.two")
    assert not protocol_compatible("1")


def test_protocol_1_plugins_and_checkpoints_stay_compatible_under_2() -> None:
    from genproto.protocol import LEGACY_VERSIONS

    assert PROTOCOL_VERSION == "2.2"
    assert LEGACY_VERSIONS == ("1.0", "1.1")
    assert protocol_compatible("2.0")  # 2.1 and 2.2 only added optional things
    assert protocol_compatible("2.1")
    for version in LEGACY_VERSIONS:
        assert protocol_compatible(version)
    assert not protocol_compatible("1.2")  # never released
    assert not protocol_compatible("0.9")


def test_public_names_are_reexported() -> None:
    for name in ("Capabilities", "GenerativeModel", "Likelihood", "Paradigm", "SampleCost"):
        assert getattr(genproto, name) is getattr(genproto.protocol, name)


def test_text_codec_is_optional_and_checked_by_name() -> None:
    from genproto.protocol import TextCodec

    class Codec:
        def to_text(self, x: torch.Tensor) -> list[str]:
            return ["a"] * len(x)

        def from_text(self, texts: object) -> torch.Tensor:
            return torch.zeros(1)

    assert isinstance(Codec(), TextCodec)
    assert not isinstance(object(), TextCodec)
    assert genproto.TextCodec is TextCodec
