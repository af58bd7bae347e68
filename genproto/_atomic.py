"""Atomic file writes: a temporary sibling, then one rename.

A reader, a crash or a Ctrl-C sees the old file or the new one, never half of
one: the data goes into a hidden temporary file in the target's folder (same
file system, so the final ``os.replace`` is atomic) and only a complete file is
renamed into place. Temporary files get the permissions a plain ``open`` would
give (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_open", "atomic_write_bytes", "discard", "temp_sibling"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_sibling(target: Path) -> Path:
    """Create an empty hidden temporary file next to ``target``, with normal permissions."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


def discard(path: Path) -> None:
    """Remove a temporary file if it is still there."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@contextlib.contextmanager
def atomic_open(target: str | Path) -> Iterator[BinaryIO]:
    """Open a temporary file for writing; on success fsync it and rename it to ``target``."""
    final = Path(target)
    tmp = temp_sibling(final)
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        discard(tmp)
        raise


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_open(target) as fh:
        fh.write(data)
