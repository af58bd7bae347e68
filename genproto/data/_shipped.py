"""Reading the data files shipped inside the genproto package (``digits.npz``, ``names.npz``).

Each file is read once per process (no pickle), and its arrays are made read-only so that
every loader can hand out views of the cache safely and fresh tensors on request.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import numpy.typing as npt

__all__ = ["shipped_arrays"]


@functools.cache
def shipped_arrays(filename: str) -> dict[str, npt.NDArray[np.generic]]:
    """The arrays of ``genproto/data/<filename>``, read once and made read-only."""
    resource = resources.files("genproto.data").joinpath(filename)
    with resource.open("rb") as handle, np.load(handle, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    for array in arrays.values():
        array.setflags(write=False)
    return arrays
