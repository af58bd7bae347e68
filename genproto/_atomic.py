"""Atomic writes of files and directories: a temporary sibling, then one rename.

A reader, a crash or a Ctrl-C sees the old file or the new one, never half of
one: the data goes into a hidden temporary file in the target's folder (same
file system, so the final ``os.replace`` is atomic) and only a complete file is
renamed into place. Temporary files get the permissions a plain ``open`` would
give (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.

A directory (a checkpoint) is written the same way by :func:`atomic_directory`:
staged in a hidden sibling, fsynced, renamed into place; an existing directory
is renamed aside first and removed only once the new one is in place.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from genproto.errors import OutputError

__all__ = [
    "atomic_directory",
    "atomic_open",
    "atomic_write_bytes",
    "discard",
    "fsync_dir",
    "fsync_file",
    "temp_sibling",
]


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


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (POSIX only; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hidden_sibling(target: Path, kind: str) -> Path:
    """A hidden, unused name next to ``target``: ``.NAME.<kind>-<random>``."""
    return target.with_name(f".{target.name}.{kind}-{secrets.token_hex(6)}")


def _move_into_place(staged: Path, target: Path, *, replace: bool) -> None:
    """Rename the finished ``staged`` directory to ``target``, replacing an old one safely."""
    if not replace:
        os.replace(staged, target)
        fsync_dir(target.parent)
        return
    aside = hidden_sibling(target, "old")
    try:
        os.replace(target, aside)
        os.replace(staged, target)
    except BaseException:
        # Put the old directory back if it was moved and the new one is not in place.
        if os.path.lexists(aside) and not os.path.lexists(target):
            try:
                os.replace(aside, target)
            except OSError as restore:
                raise OutputError(
                    f"{target}: writing failed and the previous contents could not be "
                    f"moved back ({restore})",
                    value=str(aside),
                    allowed=f"the previous contents at {target}",
                    fix=f"Move {aside} back to {target} by hand",
                ) from restore
        raise
    fsync_dir(target.parent)
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(target: Path, *, replace: bool) -> Iterator[Path]:
    """Yield an empty hidden staging directory; on success it becomes ``target``.

    Fill the yielded directory (fsync the files you write); on a normal exit it is
    fsynced and renamed to ``target`` — an existing ``target`` (``replace=True``) is
    renamed aside first and deleted once the new one is in place. On any exception,
    Ctrl-C included, the staging directory is removed and ``target`` keeps what it
    held. Missing parents of ``target`` are created.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = hidden_sibling(target, "tmp")
    staged.mkdir()
    try:
        yield staged
        fsync_dir(staged)
        _move_into_place(staged, target, replace=replace)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
