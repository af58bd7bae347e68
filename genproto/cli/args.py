"""Argument types and the parser class of the ``genproto`` command line.

Every number the CLI takes is checked here, where argparse reads it, so a bad value
is one line and exit status 2 (``genproto sample: error: argument -n: ...``), never
an allocation of 100 GB, a silent success or a traceback from deep inside a model.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import NoReturn

from genproto.streams import MAX_SEED

__all__ = [
    "MAX_INTERPOLATE",
    "MAX_SAMPLES",
    "OneLineParser",
    "bounded_int",
    "positive_float",
    "seed",
]

#: The most samples one command may ask for (a .npy streams them, so memory stays flat).
MAX_SAMPLES = 2**40
#: The most images one interpolation strip may have.
MAX_INTERPOLATE = 256


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: what is wrong and where to look."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an int in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside [{low}, {high}]")
        return value

    parse.__name__ = f"int in [{low}, {high}]"
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite float > 0 (a learning rate, a scale)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a finite number > 0")
    return value


seed = bounded_int(0, MAX_SEED)
