"""Atomic writes of files and directories: a temporary sibling, then one rename.

Every output genproto writes (``.npy`` samples, PNG pictures, reports, checkpoints,
training state) goes through this module, so a reader, a crash or a signal sees
the old file or the new one, never half of one, and nothing else:

* **One rename.** The data goes into a hidden temporary sibling in the target's
  folder (same file system, so the final ``os.replace`` is atomic) and only a
  complete, fsynced file is renamed into place (:func:`atomic_path`,
  :func:`atomic_open`, :func:`atomic_write_bytes`). A directory (a checkpoint) is
  staged the same way by :func:`atomic_directory`; an existing one is renamed
  aside first and removed only once the new one is in place. Temporary files get
  the permissions a plain ``open`` would give (``0o666`` less the umask).
* **Recognisable names.** A temporary sibling of ``DIR/NAME`` is
  ``DIR/.NAME.tmp-PID-RANDOM`` (a file, or a staged directory), a directory moved
  aside ``DIR/.NAME.old-PID-RANDOM``; PID is the writing process. Very long names
  are shortened in the temporary name so that it still fits the file system.
* **Every error path cleans up.** An exception (``KeyboardInterrupt`` from Ctrl-C
  included) removes the temporary sibling and re-raises.
* **SIGTERM cleans up.** While a write is in progress in the main thread and
  SIGTERM has its default action, a handler is installed (and the default put
  back afterwards): it removes the temporary siblings of every write in progress
  in this process (moving an old directory back if it had been moved aside), then
  restores the default action and re-sends SIGTERM to the process, which
  therefore still dies of SIGTERM (exit status 143 in a shell). A program that
  handles or ignores SIGTERM itself keeps its own handler; a write in another
  thread is covered only while the main thread is writing too.
* **SIGKILL leaves a stale sibling, and the next write removes it.** Nothing can
  run on SIGKILL; before writing ``NAME`` we remove the ``.NAME.tmp-PID-*``
  siblings (and ``.NAME.old-PID-*`` ones when ``NAME`` exists) whose PID is no
  longer a live process on this machine. Another live process's files are never
  touched (a folder shared between machines over a network is not supported).
* **Bad targets are one typed error.** :func:`check_target` runs before anything
  touches the disk: a non-path is an :class:`ArgumentTypeError`; an empty name, a
  NUL, a folder, a path under a file, a missing folder, a name too long for the
  file system or a device is an :class:`OutputError` naming the path and the fix,
  as is an ``OSError`` of the write itself (no permission, read-only or full disk).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import signal
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from genproto.errors import ArgumentTypeError, OutputError

__all__ = [
    "atomic_directory",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "check_target",
    "discard",
    "fsync_dir",
    "fsync_file",
    "output_error",
    "remove_stale",
    "writing",
]

_NAME_MAX = 255  # when the file system cannot tell (POSIX's minimum for ext4, xfs, tmpfs...)
_PID_WIDTH = 10  # room kept for the PID when a long name is shortened
_RANDOM_HEX = 12
_SIBLING = re.compile(r"\.(?P<stem>.*)\.(?P<kind>tmp|old)-(?P<pid>[0-9]+)-[0-9a-f]{12}")
_FULL = (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC))
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


# ---------------------------------------------------------------------------
# the target: checked before anything is written; OSErrors become OutputErrors
# ---------------------------------------------------------------------------


def _shown(text: str) -> str:
    """``text`` for a one-line message: as is when printable, else its repr."""
    return text if text.isprintable() else repr(text)


def _bad(what: str, problem: str, text: str, *, allowed: str, fix: str) -> OutputError:
    return OutputError(f"{what}: {problem}", value=text, allowed=allowed, fix=fix)


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return _NAME_MAX


def _missing_folder(what: str, folder: Path, text: str, allowed: str) -> OutputError:
    """The error for a folder that does not exist, or whose path runs through a file."""
    probe = folder
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    if os.path.lexists(probe) and not probe.is_dir():
        return _bad(what, f"{_shown(str(probe))} is a file, not a folder", text,
                    allowed=allowed, fix="Choose a path whose folders are folders")
    return _bad(what, "its folder does not exist", text, allowed=allowed,
                fix=f"Create it first: mkdir -p {_shown(str(folder))}")


def check_target(path: object, *, what: str = "output file", folder: bool = False) -> Path:
    """Check that ``path`` names something this process can write, and return it as a Path.

    ``folder=False``: a file in an existing folder, not itself a folder or a device.
    ``folder=True``: a directory that is new or a directory (its missing parent
    folders may be created, so only a file on the way is an error). Raises
    :class:`ArgumentTypeError` for a non-path and :class:`OutputError` otherwise.
    """
    allowed = ("the path of a new or existing folder, through folders you can write to"
               if folder else
               "the path of a new or regular file in an existing folder you can write to")
    text = os.fspath(path) if isinstance(path, str | os.PathLike) else None
    if not isinstance(text, str):
        raise ArgumentTypeError(
            f"{what} must be a path", value=path, allowed="a str or os.PathLike of str",
            fix="Pass a path such as 'out/checkpoint'" if folder
            else "Pass a path such as 'out/samples.npy'",
        )
    if not text:
        raise _bad(what, "the path is empty", text, allowed=allowed,
                   fix="Pass a name such as 'samples.npy'" if not folder
                   else "Pass a name such as 'checkpoint'")
    if "\0" in text:
        raise _bad(what, "the path contains a NUL character", text, allowed=allowed,
                   fix="Remove the NUL ('\\0') from the path")
    target = Path(text)
    seps = (os.sep, os.altsep or os.sep)
    if folder and target.name in ("", ".", ".."):
        raise _bad(what, "the path has no name of its own (a root, '.' or '..')", text,
                   allowed=allowed, fix="Name the folder, e.g. out/checkpoint")
    if not folder and (target.name in ("", ".", "..") or text.endswith(seps)):
        raise _bad(what, "the path names a folder, not a file", text, allowed=allowed,
                   fix=f"Add a file name, e.g. {_shown(os.path.join(text, 'samples.npy'))}")
    length = len(os.fsencode(target.name))
    parent = target.parent
    limit = _name_max(parent) if parent.is_dir() else _NAME_MAX
    if length > limit:
        raise _bad(what, f"the name is {length} bytes long; this file system allows {limit}",
                   text, allowed=allowed, fix="Choose a shorter name")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except NotADirectoryError:
        raise _missing_folder(what, parent, text, allowed) from None
    except OSError as exc:
        raise output_error(exc, target, what) from exc
    if info is not None:
        if folder and not stat.S_ISDIR(info.st_mode):
            raise _bad(what, "a file is in the way", text, allowed=allowed,
                       fix="Choose another name, or move that file away")
        if not folder and stat.S_ISDIR(info.st_mode):
            raise _bad(what, "the path is a folder", text, allowed=allowed,
                       fix=f"Add a file name, e.g. {_shown(os.path.join(text, 'samples.npy'))}")
        if not folder and not stat.S_ISREG(info.st_mode):
            raise _bad(what, "the path is not a regular file (a device, pipe or socket)",
                       text, allowed=allowed, fix="Write to a regular file")
        return target
    if folder:
        probe = parent
        while not os.path.lexists(probe) and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise _missing_folder(what, parent, text, allowed)
    elif not parent.is_dir():
        raise _missing_folder(what, parent, text, allowed)
    return target


_ERRNO_TEXTS: dict[int, tuple[str, str, str]] = {  # errno: (problem, allowed, fix)
    **dict.fromkeys(_FULL, (
        "the disk is full or the file is too large",
        "room for the whole file on the disk and under the file-size limit",
        "Free some space, or write to another disk; nothing was written")),
    **dict.fromkeys(_DENIED, (
        "no permission to write there (or a read-only file system)",
        "a folder this process may write to",
        "Choose a writable folder, or change its permissions")),
    errno.ENAMETOOLONG: ("the path is too long", "a shorter path",
                         "Choose a shorter name or a folder nearer the root"),
    errno.EISDIR: ("the path is a folder", "the path of a file", "Add a file name to the path"),
}


def output_error(exc: OSError, target: Path, what: str) -> OutputError:
    """``exc`` (raised while writing ``target``) as a one-line :class:`OutputError` with a fix."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in (errno.ENOENT, errno.ENOTDIR) and target.parent.is_dir():
        problem, allowed, fix = (
            "its folder does not take new files", "a path in an ordinary folder",
            "Choose another folder")
    elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
        problem, allowed, fix = (
            "its folder is missing or not a folder", "a path in an existing folder",
            f"Create it first: mkdir -p {_shown(str(target.parent))}")
    else:
        problem, allowed, fix = _ERRNO_TEXTS.get(exc.errno or 0, (
            "writing failed", "a writable path on a working disk",
            "Check the path and the disk; nothing was written"))
    error = _bad(what, f"{problem} ({reason})", str(target), allowed=allowed, fix=fix)
    error.errno = exc.errno
    return error


def _ours(exc: OSError, paths: tuple[Path, ...]) -> bool:
    """Whether ``exc`` is about writing ``paths`` (no file named, or one of them or inside)."""
    if exc.filename is None:
        return True
    try:
        named = Path(os.fsdecode(exc.filename))
    except TypeError:
        return False
    return any(named == p or p in named.parents for p in paths)


@contextlib.contextmanager
def writing(target: Path, what: str = "output file", *also: Path) -> Iterator[None]:
    """Turn an ``OSError`` about ``target`` (or ``also``) raised inside into an OutputError."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        if not _ours(exc, (target, *also)):
            raise
        raise output_error(exc, target, what) from exc


# ---------------------------------------------------------------------------
# temporary siblings: named with the PID; stale ones removed; SIGTERM cleans up
# ---------------------------------------------------------------------------


def _stem(target: Path) -> str:
    """``target``'s name, shortened so that a temporary name built on it fits the folder."""
    room = _name_max(target.parent) - len(".") - len(".tmp-") - _PID_WIDTH - 1 - _RANDOM_HEX
    raw = os.fsencode(target.name)
    return target.name if len(raw) <= room else os.fsdecode(raw[:room])


def _sibling(target: Path, kind: str) -> Path:
    """A hidden, unused name next to ``target``: ``.NAME.<kind>-<pid>-<random>``."""
    token = secrets.token_hex(_RANDOM_HEX // 2)
    return target.with_name(f".{_stem(target)}.{kind}-{os.getpid()}-{token}")


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process here (anything unsure counts as alive)."""
    if pid <= 0 or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's live process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        discard(path)


def remove_stale(target: Path) -> list[Path]:
    """Remove the temporary siblings of ``target`` left by processes that are dead; return them.

    A ``.NAME.old-PID-*`` directory (an old checkpoint moved aside) is removed only
    when ``target`` exists, so a kill between the two renames never loses data.
    """
    stem, removed = _stem(target), list[Path]()
    try:
        entries = os.listdir(target.parent)
    except OSError:
        return removed
    for name in entries:
        match = _SIBLING.fullmatch(name)
        if match is None or match["stem"] != stem or _alive(int(match["pid"])):
            continue
        if match["kind"] == "old" and not os.path.lexists(target):
            continue
        path = target.parent / name
        _remove(path)
        removed.append(path)
    return removed


def discard(path: Path) -> None:
    """Remove a temporary file if it is still there."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


_live: dict[int, Callable[[], None]] = {}  # cleanups of the writes in progress, by token
_installed = 0  # main-thread writes under our SIGTERM handler (installed while > 0)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Remove every write's temporary sibling, then die of SIGTERM as the default would."""
    for cleanup in list(_live.values()):
        with contextlib.suppress(Exception):
            cleanup()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.raise_signal(signal.SIGTERM)
    os._exit(128 + signal.SIGTERM)  # not reached: the default action ends the process


def _install() -> bool:
    """Install :func:`_on_sigterm` if this is the main thread and SIGTERM has its default."""
    global _installed
    if threading.current_thread() is not threading.main_thread():
        return False
    if _installed == 0:
        try:
            if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
                return False
            signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # no signals here (e.g. a sub-interpreter)
            return False
    _installed += 1
    return True


def _uninstall() -> None:
    global _installed
    _installed -= 1
    if _installed == 0 and signal.getsignal(signal.SIGTERM) == _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def _cleaned_on_sigterm(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run ``cleanup`` if SIGTERM arrives inside the block (see the module docstring)."""
    installed = _install()
    token = id(cleanup)
    _live[token] = cleanup
    try:
        yield
    finally:
        _live.pop(token, None)
        if installed:
            _uninstall()


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(target: str | Path, *, what: str = "output file") -> Iterator[Path]:
    """Yield a new empty temporary sibling of ``target``; on a normal exit rename it there.

    Write the yielded path (and fsync it) inside the block. Any exception removes
    it; ``target`` then holds what it held before. ``OSError`` about these paths
    becomes :class:`OutputError`. Several processes may write into the one
    temporary file (``torchrun`` ranks at their offsets); only this one renames it.
    """
    final = check_target(target, what=what)
    remove_stale(final)
    tmp = _sibling(final, "tmp")
    with _cleaned_on_sigterm(lambda: discard(tmp)):
        try:
            with writing(final, what, tmp):
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                os.close(fd)
                yield tmp
                os.replace(tmp, final)
        except BaseException:
            discard(tmp)
            raise
    with contextlib.suppress(OSError):  # in place; a folder that refuses fsync changes nothing
        fsync_dir(final.parent)


@contextlib.contextmanager
def atomic_open(target: str | Path, *, what: str = "output file") -> Iterator[BinaryIO]:
    """Open a temporary file for writing; on success fsync it and rename it to ``target``."""
    with atomic_path(target, what=what) as tmp, open(tmp, "wb") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_bytes(target: str | Path, data: bytes, *, what: str = "output file") -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_open(target, what=what) as fh:
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


# ---------------------------------------------------------------------------
# directories
# ---------------------------------------------------------------------------


def _put_back(aside: Path, target: Path) -> None:
    """Move an old directory that was moved aside back, if the new one is not in place."""
    if os.path.lexists(aside) and not os.path.lexists(target):
        os.replace(aside, target)


def _move_into_place(staged: Path, target: Path, aside: Path, *, replace: bool) -> None:
    """Rename the finished ``staged`` directory to ``target``, replacing an old one safely
    (``replace=True`` with no old one is a plain rename)."""
    if not replace or not os.path.lexists(target):
        os.replace(staged, target)
        with contextlib.suppress(OSError):  # in place; see atomic_path
            fsync_dir(target.parent)
        return
    try:
        os.replace(target, aside)
        os.replace(staged, target)
    except BaseException:
        try:
            _put_back(aside, target)
        except OSError as restore:
            raise OutputError(
                f"{target}: writing failed and the previous contents could not be "
                f"moved back ({restore})",
                value=str(aside),
                allowed=f"the previous contents at {target}",
                fix=f"Move {aside} back to {target} by hand",
            ) from restore
        raise
    with contextlib.suppress(OSError):
        fsync_dir(target.parent)
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(
    target: str | Path, *, replace: bool, what: str = "checkpoint directory"
) -> Iterator[Path]:
    """Yield an empty hidden staging directory; on success it becomes ``target``.

    Fill the yielded directory (fsync the files you write); on a normal exit it is
    fsynced and renamed to ``target`` — an existing ``target`` (``replace=True``) is
    renamed aside first and deleted once the new one is in place. On any exception,
    Ctrl-C and SIGTERM included, the staging directory is removed and ``target``
    keeps what it held. Missing parents of ``target`` are created. A bad ``target``
    or an ``OSError`` while writing is an :class:`OutputError`.
    """
    final = check_target(target, what=what, folder=True)
    with writing(final, what):
        final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final)
    staged, aside = _sibling(final, "tmp"), _sibling(final, "old")

    def cleanup() -> None:
        shutil.rmtree(staged, ignore_errors=True)
        _put_back(aside, final)

    with _cleaned_on_sigterm(cleanup):
        try:
            with writing(final, what, staged, aside):
                staged.mkdir()
                yield staged
                fsync_dir(staged)
                _move_into_place(staged, final, aside, replace=replace)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
