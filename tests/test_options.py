"""Declared options: types, ranges, choices and unknown names are checked."""

from __future__ import annotations

import pytest

from genproto.errors import OptionError, OptionTypeError
from genproto.options import Option, validate_options

STEPS = Option("steps", int, 50, "denoising steps", minimum=1)
TEMPERATURE = Option("temperature", float, 1.0, "softmax temperature", minimum=0.0,
                     exclusive_minimum=True)
SAMPLER = Option("sampler", str, "ddim", "which sampler", choices=("ddim", "ddpm"))
DECLARED = (STEPS, TEMPERATURE, SAMPLER)


def test_defaults_fill_in() -> None:
    assert validate_options({}, DECLARED, where="x") == {
        "steps": 50, "temperature": 1.0, "sampler": "ddim"}


def test_int_widens_to_float() -> None:
    out = validate_options({"temperature": 2}, DECLARED, where="x")
    assert out["temperature"] == 2.0
    assert isinstance(out["temperature"], float)


def test_unknown_option_names_close_matches() -> None:
    with pytest.raises(OptionError, match="'step'.*Did you mean 'steps'") as info:
        validate_options({"step": 3}, DECLARED, where="sample")
    assert info.value.option == "step"
    assert "temperature" in str(info.value)


@pytest.mark.parametrize(
    ("given", "error", "phrase"),
    [({"steps": 0}, OptionError, "int >= 1"),
     ({"steps": 2.5}, OptionTypeError, "int >= 1"),
     ({"steps": True}, OptionTypeError, "True"),
     ({"temperature": 0.0}, OptionError, "> 0"),
     ({"temperature": float("nan")}, OptionError, "nan"),
     ({"temperature": "hot"}, OptionTypeError, "'hot'"),
     ({"sampler": "euler"}, OptionError, "'ddim' | 'ddpm'")],
)
def test_bad_values_name_option_value_and_allowed(
    given: dict[str, object], error: type[Exception], phrase: str
) -> None:
    with pytest.raises(error, match="option") as info:
        validate_options(given, DECLARED, where="sample")
    assert phrase in str(info.value)
    assert info.value.option == next(iter(given))  # type: ignore[attr-defined]


def test_type_errors_are_also_value_errors_and_type_errors() -> None:
    with pytest.raises(TypeError):
        validate_options({"steps": "5"}, DECLARED, where="x")
    with pytest.raises(ValueError, match="'steps'"):
        validate_options({"steps": -5}, DECLARED, where="x")


def test_nullable_option_accepts_none() -> None:
    top_k = Option("top_k", int, None, "keep the k best", minimum=1, nullable=True)
    assert validate_options({"top_k": None}, (top_k,), where="x") == {"top_k": None}
    assert "or None" in top_k.allowed()


def test_bad_default_is_rejected_when_declared() -> None:
    with pytest.raises(OptionError):
        Option("steps", int, 0, minimum=1)
    with pytest.raises(ValueError, match="type"):
        Option("weird", list, [])


def test_a_renamed_option_accepts_its_former_names() -> None:
    """Checkpoints store factory options by name: one saved before a rename still loads."""
    init_seed = Option("init_seed", int, 0, "initialisation seed", minimum=0, aliases=("seed",))
    assert init_seed.aliases == ("seed",)
    assert Option("x", int, 0, aliases="old").aliases == ("old",)
    assert validate_options({"seed": 3}, (init_seed, STEPS), where="x") == {
        "init_seed": 3, "steps": 50}
    assert validate_options({"init_seed": 4}, (init_seed,), where="x") == {"init_seed": 4}
    with pytest.raises(OptionError, match="'init_seed' given twice") as info:
        validate_options({"init_seed": 4, "seed": 3}, (init_seed,), where="x")
    assert info.value.option == "init_seed"
    with pytest.raises(OptionError, match=">= 0"):  # an alias's value is checked as the option's
        validate_options({"seed": -1}, (init_seed,), where="x")


@pytest.mark.parametrize(
    ("name", "former", "option", "value"),
    [("vae", "latent", "latent_dim", 16), ("diffusion", "seed", "init_seed", 0),
     ("latent_diffusion", "seed", "init_seed", 0)],
)
def test_checkpoints_saved_under_a_former_option_name_still_load(
    name: str, former: str, option: str, value: int
) -> None:
    """The shipped weights' genproto.json files predate the renames: the aliases load them."""
    import importlib.util
    from pathlib import Path

    import genproto

    spec = importlib.util.find_spec(f"genproto_{name}")
    if spec is None or spec.origin is None:
        pytest.skip(f"genproto-{name} is not installed")
    folder = Path(spec.origin).parent / "weights" / "digits"
    assert f'"{former}": {value}' in (folder / "genproto.json").read_text()
    loaded = genproto.load(folder)
    assert loaded.origin is not None
    assert loaded.origin.options[option] == value
    assert former not in loaded.origin.options  # saved again, it records the new name
    assert loaded.weights_sha256() == genproto.registry.get(name).weights_sha256()
