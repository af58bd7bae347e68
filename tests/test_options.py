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
