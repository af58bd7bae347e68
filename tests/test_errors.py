"""How a genproto error shows the bad value: whole where it is a path or text a user must read,
cut in the middle (both ends kept) where it is long."""

from __future__ import annotations

from pathlib import Path

import torch

from genproto.errors import TEXT_LIMIT, VALUE_LIMIT, DataError, InvalidArgumentError


def test_a_long_path_is_shown_whole() -> None:
    path = Path("/tmp") / ("deep-folder-name/" * 12) / "folder.npz"  # ~220 characters
    message = str(DataError("data path is not a file", value=str(path), allowed="a file"))
    assert str(path) in message
    message = str(DataError("data path is not a file", value=path, allowed="a file"))
    assert str(path) in message
    assert "(PosixPath)" in message


def test_a_huge_text_is_cut_in_the_middle_keeping_its_end() -> None:
    text = "a" * 5000 + "THE-END"
    message = str(InvalidArgumentError("name", value=text))
    shown = message.split(": got ", 1)[1]
    assert shown.endswith("THE-END' (str)")
    assert shown.startswith("'aaaa")
    assert "..." in shown
    assert len(shown) == TEXT_LIMIT + len(" (str)")


def test_other_values_are_cut_to_the_short_limit() -> None:
    value = list(range(1000))
    shown = str(InvalidArgumentError("x", value=value)).split(": got ", 1)[1]
    assert len(shown) == VALUE_LIMIT + len(" (list)")
    assert shown.startswith("[0, 1, 2")
    assert shown.endswith("998, 999] (list)")
    tensor = torch.zeros(10_000)
    assert len(str(InvalidArgumentError("x", value=tensor))) < 200


def test_a_short_value_is_shown_as_is() -> None:
    message = str(InvalidArgumentError("n", value=-3, allowed="n >= 1", fix="Pass n=1."))
    assert message == "n: got -3 (int); allowed: n >= 1. Pass n=1."
