"""Data sets for genproto: shipped digits, toy 2-D densities and the user's own arrays.

* :func:`load_digits` -- the 8x8 UCI handwritten digits (1,797 images, 17 grey
  levels, 10 classes) with a fixed stratified train/test split (``digits.py``).
* :func:`load_names`, :func:`names_log_prob`, :func:`names_entropy` -- the 1990
  US Census name lists (female, male, surname) with their exact distribution
  and a fixed train/test split (``names.py``).
* :func:`toy2d`, :func:`load_toy2d` -- procedural 2-D densities with exact
  log-densities, for ground-truth tests (``toy.py``).
* :func:`load_array` -- a ``.npy``/``.npz`` file of the user's (``arrays.py``).

Every loader returns a :class:`Dataset`: the events, optional labels and the
:class:`~genproto.protocol.EventSpace` they live in (``dataset.py``).
"""

from genproto.data.arrays import load_array
from genproto.data.dataset import Dataset
from genproto.data.digits import DIGITS_EVENT, DigitsSplit, load_digits
from genproto.data.names import (
    NAMES_LISTS,
    NamesData,
    NamesList,
    NamesSplit,
    load_names,
    names_entropy,
    names_log_prob,
)
from genproto.data.toy import (
    TOY2D_EVENT,
    TOY2D_NAMES,
    Checkerboard2D,
    GaussianMixture2D,
    Toy2D,
    load_toy2d,
    toy2d,
)

__all__ = [
    "DIGITS_EVENT",
    "NAMES_LISTS",
    "TOY2D_EVENT",
    "TOY2D_NAMES",
    "Checkerboard2D",
    "Dataset",
    "DigitsSplit",
    "GaussianMixture2D",
    "NamesData",
    "NamesList",
    "NamesSplit",
    "Toy2D",
    "load_array",
    "load_digits",
    "load_names",
    "load_toy2d",
    "names_entropy",
    "names_log_prob",
    "toy2d",
]
