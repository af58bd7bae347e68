"""Every numeric argument of every ``genproto`` subcommand rejects bad values in one line.

The subcommands and their options are read from the parser itself, so an option added
later is walked too: each bad value must end the command with exit status 2, one line
on stderr naming the argument, and no traceback — before any model is built.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from genproto.cli import args as cli_args
from genproto.cli.main import build_parser, main

BAD_INTS = ["-1", "abc", "1.5", "", "99999999999999999999999999"]
BAD_FLOATS = ["0", "-1", "inf", "nan", "1e400", "abc"]
#: What one positional needs so the parser reaches the options (not a real model).
POSITIONALS = {"name": ["x"], "names": []}


def _subcommands() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _numeric_options() -> list[tuple[str, str, str]]:
    """(subcommand, option string, bad value) for every checked numeric option."""
    cases = []
    for command, sub in _subcommands():
        for action in sub._actions:
            if not action.option_strings or action.type is None:
                continue
            name = getattr(action.type, "__name__", "")
            if action.type is cli_args.positive_float:
                bad = BAD_FLOATS
            elif name.startswith("int in ["):
                bad = BAD_INTS
            else:
                continue
            cases.extend((command, action.option_strings[0], value) for value in bad)
    return cases


CASES = _numeric_options()


def _positionals(command: str) -> list[str]:
    sub = dict(_subcommands())[command]
    out: list[str] = []
    for action in sub._actions:
        if not action.option_strings and action.dest in POSITIONALS:
            out += POSITIONALS[action.dest]
    return out


def test_every_subcommand_has_checked_numbers() -> None:
    commands = {command for command, _, _ in CASES}
    assert {"sample", "train", "compare", "classify"} <= commands


def test_no_numeric_option_is_left_as_a_bare_int_or_float() -> None:
    loose = [
        (command, action.option_strings[0])
        for command, sub in _subcommands()
        for action in sub._actions
        if action.option_strings and action.type in (int, float)
        and action.dest not in {"condition"}  # a class label: the model checks its range
    ]
    assert loose == [], "use genproto.cli.args types so bad values are caught by the parser"


@pytest.mark.parametrize(("command", "option", "value"), CASES)
def test_bad_number_is_one_line_exit_2(
    command: str, option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, *_positionals(command), f"{option}={value}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert option in err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["0", "1", "256"])
def test_bounded_int_accepts_its_edges_and_rejects_outside(value: str) -> None:
    parse = cli_args.bounded_int(0, 256)
    assert parse(value) == int(value)
    with pytest.raises(argparse.ArgumentTypeError):
        parse("257")
    with pytest.raises(argparse.ArgumentTypeError):
        parse("-1")
