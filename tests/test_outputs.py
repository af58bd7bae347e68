"""Every output goes through genproto._atomic: a bad target is one typed line and leaves nothing.

The library (``write_npy``, ``save_png``, ``Model.save``) and ``genproto sample -o``
are tried on the targets of issue 15: '', '/', a folder, a path under a file, a
missing folder, a name too long, a NUL, a device, a non-path; a read-only or full
disk is simulated (``os.open`` patched, ``RLIMIT_FSIZE`` in a subprocess). After
each, the folder holds exactly what it held before. Stale temporary siblings of dead
processes are removed by the next write, never a live process's; SIGTERM's handler
is installed only while a write is in progress. Kills of a real ``genproto sample``
are in tests/test_kill.py.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sampler_models import Walker

from genproto import _atomic, registry, sampling
from genproto.cli.main import main
from genproto.errors import ArgumentTypeError, GenprotoError, OutputError
from genproto.pictures import save_png

TESTS = Path(__file__).parent


@pytest.fixture
def walker() -> Walker:
    return Walker()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder holding a file ``afile``, a folder ``adir.npy``, a FIFO and an old ``old.npy``."""
    (tmp_path / "afile").write_bytes(b"a file")
    (tmp_path / "adir.npy").mkdir()
    # a FIFO stands for a device: never /dev/null itself, which a broken check run as root
    # would replace with a regular file
    os.mkfifo(tmp_path / "pipe.npy")
    np.save(tmp_path / "old.npy", np.arange(3.0))
    return tmp_path


def _listing(path: Path) -> list[str]:
    return sorted(os.listdir(path))


# target (relative to the folder unless absolute), words the message must hold
BAD_TARGETS = [
    ("", "the path is empty"),
    ("/", "names a folder"),
    ("adir.npy", "the path is a folder"),
    ("adir.npy/", "names a folder"),
    ("old.npy/", "names a folder"),
    ("afile/x.npy", "afile is a file, not a folder"),
    ("no/such/dir/x.npy", "Create it first: mkdir -p"),
    ("x" * 300 + ".npy", "the name is 304 bytes long"),
    ("bad\0name.npy", "NUL"),
    ("pipe.npy", "not a regular file"),
]


WRITERS: dict[str, Callable[[Walker, Any], object]] = {
    "write_npy": lambda model, path: sampling.write_npy(model, 5, path, seed=0),
    "save_png": lambda model, path: save_png(Image.new("L", (4, 4)), path, {"genproto:seed": "0"}),
}


@pytest.mark.parametrize(("name", "phrase"), BAD_TARGETS)
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_bad_targets_are_one_line_output_errors_and_leave_nothing(
    walker: Walker, folder: Path, monkeypatch: pytest.MonkeyPatch, writer: str, name: str,
    phrase: str,
) -> None:
    monkeypatch.chdir(folder)
    before = _listing(folder)
    write = WRITERS[writer]
    with pytest.raises(OutputError) as caught:
        write(walker, name)
    message = str(caught.value)
    assert phrase in message
    assert "\n" not in message
    assert caught.value.value == name  # names the path
    assert caught.value.fix  # and the fix
    assert isinstance(caught.value, OSError)
    assert _listing(folder) == before


@pytest.mark.parametrize("bad", [3, None, b"x.npy", 2.5])
def test_a_non_path_is_an_argument_type_error(walker: Walker, tmp_path: Path, bad: Any) -> None:
    for write in (lambda: sampling.write_npy(walker, 5, bad, seed=0),
                  lambda: save_png(Image.new("L", (4, 4)), bad, {}),
                  lambda: _atomic.atomic_write_bytes(bad, b"x"),
                  lambda: _atomic.atomic_directory(bad, replace=False).__enter__()):
        with pytest.raises(ArgumentTypeError, match="must be a path"):
            write()


@pytest.mark.parametrize(("name", "phrase"), [
    ("afile/ckpt", "afile is a file, not a folder"),
    ("bad\0ckpt", "NUL"),
    ("deep/er/ckpt", None),  # missing parents are created
])
def test_model_save_to_a_bad_folder_is_an_output_error(
    walker: Walker, folder: Path, name: str, phrase: str | None
) -> None:
    before = _listing(folder)
    if phrase is None:
        walker.save(folder / name)
        assert (folder / name / "weights.safetensors").is_file()
        return
    with pytest.raises(OutputError, match=phrase):
        walker.save(folder / name)
    assert _listing(folder) == before


def _refusing_open(code: int, words: str) -> Callable[..., int]:
    real = os.open

    def refusing(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if ".tmp-" in os.fspath(path):
            raise OSError(code, words, os.fspath(path))
        return real(path, flags, mode, **kw)

    return refusing


@pytest.mark.parametrize(("code", "words"), [(errno.EACCES, "Permission denied"),
                                             (errno.EROFS, "Read-only file system")])
def test_a_read_only_folder_is_an_output_error(
    walker: Walker, folder: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    # root ignores permission bits, so the refusal is simulated where the file is created
    monkeypatch.setattr(os, "open", _refusing_open(code, words))
    old = (folder / "old.npy").read_bytes()
    with pytest.raises(OutputError) as caught:
        sampling.write_npy(walker, 5, folder / "old.npy", seed=0)
    assert caught.value.errno == code
    assert f"no permission to write there (or a read-only file system) ({words})" in str(
        caught.value)
    assert "Choose a writable folder" in str(caught.value)
    assert (folder / "old.npy").read_bytes() == old


def test_a_read_only_folder_for_a_checkpoint_is_an_output_error(
    walker: Walker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.mkdir

    def refusing(path: Any, mode: int = 0o777, **kw: Any) -> None:
        if ".tmp-" in os.fspath(path):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        real(path, mode, **kw)

    monkeypatch.setattr(os, "mkdir", refusing)
    with pytest.raises(OutputError, match="no permission to write there"):
        walker.save(tmp_path / "ckpt")
    assert _listing(tmp_path) == []


def _write_half_then_fail(path: Path, exc: OSError) -> None:
    with _atomic.atomic_open(path) as fh:
        fh.write(b"half")
        raise exc


def test_a_full_disk_while_writing_keeps_the_old_file(folder: Path) -> None:
    old = (folder / "old.npy").read_bytes()
    with pytest.raises(OutputError) as caught:  # as a write would raise it:
        _write_half_then_fail(folder / "old.npy", OSError(errno.ENOSPC, "No space left on device"))
    assert caught.value.errno == errno.ENOSPC
    assert "the disk is full or the file is too large (No space left on device)" in str(
        caught.value)
    assert (folder / "old.npy").read_bytes() == old
    assert _listing(folder) == ["adir.npy", "afile", "old.npy", "pipe.npy"]


def test_an_unrelated_os_error_inside_a_write_is_left_alone(tmp_path: Path) -> None:
    # e.g. a model reading its data: not a problem of the output, so not an OutputError
    missing = tmp_path / "missing-data.csv"
    with pytest.raises(FileNotFoundError) as caught:
        _write_half_then_fail(tmp_path / "out.bin",
                              FileNotFoundError(errno.ENOENT, "No such file", str(missing)))
    assert not isinstance(caught.value, GenprotoError)
    assert _listing(tmp_path) == []


FULL_DISK = """
import resource, sys
sys.path.insert(0, {tests!r})
from genproto import registry
from genproto.cli.main import main
from sampler_models import Walker
registry.register("walker", Walker, capabilities=Walker().capabilities)
from genproto.errors import OutputError
from genproto.pictures import save_png
from PIL import Image
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # Python ignores SIGXFSZ: EFBIG
print(main(["sample", "walker", "-n", "1000", "--seed", "0", "-o", "big.npy"]))
try:
    save_png(Image.effect_noise((128, 128), 64), "big.png", dict())
except OutputError as exc:
    print("error:", exc, file=sys.stderr)
"""


def test_a_full_disk_is_a_one_line_cli_error_and_leaves_nothing(tmp_path: Path) -> None:
    # 1000 rows of 4 floats (16 KB) or a picture of noise (~16 KB) do not fit under 4 KB
    proc = subprocess.run([sys.executable, "-c", FULL_DISK.format(tests=str(TESTS))],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GENPROTO_PLUGINS": "none"})
    assert proc.stdout.split() == ["2"], proc.stderr  # the CLI's exit status
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    for line, name in zip(lines, ["big.npy", "big.png"], strict=True):
        assert line.startswith("error: ")
        assert "the disk is full or the file is too large (File too large)" in line
        assert repr(name) in line
    assert _listing(tmp_path) == []


# ---------------------------------------------------------------------------
# stale temporary siblings: removed when their process is dead, kept when alive
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_next_write_removes_stale_temporary_files_of_dead_processes(
    walker: Walker, tmp_path: Path, dead_pid: int
) -> None:
    stale = tmp_path / f".out.npy.tmp-{dead_pid}-0123456789ab"
    live = tmp_path / f".out.npy.tmp-{os.getpid()}-0123456789ab"
    other = tmp_path / f".other.npy.tmp-{dead_pid}-0123456789ab"
    for path in (stale, live, other):
        path.write_bytes(b"\0" * 1000)
    sampling.write_npy(walker, 5, tmp_path / "out.npy", seed=0)
    assert _listing(tmp_path) == sorted([live.name, other.name, "out.npy"])


def test_the_next_checkpoint_removes_stale_staging_and_moved_aside_folders(
    walker: Walker, tmp_path: Path, dead_pid: int
) -> None:
    staged = tmp_path / f".ckpt.tmp-{dead_pid}-0123456789ab"
    aside = tmp_path / f".ckpt.old-{dead_pid}-0123456789ab"
    for path in (staged, aside):
        path.mkdir()
        (path / "weights.safetensors").write_bytes(b"x")
    # With no checkpoint in place, an old one moved aside is the only copy: kept.
    walker.save(tmp_path / "ckpt")
    assert _listing(tmp_path) == sorted([aside.name, "ckpt"])
    walker.save(tmp_path / "ckpt")
    assert _listing(tmp_path) == ["ckpt"]


def test_a_long_name_gets_a_shortened_temporary_name_that_is_still_cleaned(
    walker: Walker, tmp_path: Path, dead_pid: int
) -> None:
    name = "n" * 250 + ".npy"  # fits; ".NAME.tmp-PID-RANDOM" would not
    created: list[Path] = []
    with _atomic.atomic_path(tmp_path / name) as tmp:
        created.append(tmp)
        assert len(tmp.name.encode()) <= 255
    stale = created[0].with_name(created[0].name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
    stale.write_bytes(b"x")
    sampling.write_npy(walker, 5, tmp_path / name, seed=0)
    assert _listing(tmp_path) == [name]


# ---------------------------------------------------------------------------
# the SIGTERM handler: only during a write, only over the default action
# ---------------------------------------------------------------------------


@pytest.fixture
def default_sigterm() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_handler_is_installed_only_while_writing(
    tmp_path: Path, default_sigterm: None
) -> None:
    seen = []
    with _atomic.atomic_open(tmp_path / "a.bin") as fh:
        seen.append(signal.getsignal(signal.SIGTERM))
        with _atomic.atomic_open(tmp_path / "b.bin"):  # nested: still ours afterwards
            pass
        seen.append(signal.getsignal(signal.SIGTERM))
        fh.write(b"a")
    seen.append(signal.getsignal(signal.SIGTERM))
    assert seen == [_atomic._on_sigterm, _atomic._on_sigterm, signal.SIG_DFL]
    assert _atomic._live == {}


def test_sigterm_handler_leaves_a_programs_own_handler_alone(
    tmp_path: Path, default_sigterm: None
) -> None:
    def own(signum: int, frame: Any) -> None:
        pass

    signal.signal(signal.SIGTERM, own)
    with _atomic.atomic_open(tmp_path / "a.bin"):
        assert signal.getsignal(signal.SIGTERM) is own
    assert signal.getsignal(signal.SIGTERM) is own


def test_a_write_in_another_thread_works_without_the_handler(
    tmp_path: Path, default_sigterm: None
) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with _atomic.atomic_open(tmp_path / "t.bin") as fh:
                assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
                fh.write(b"t")
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert errors == []
    assert (tmp_path / "t.bin").read_bytes() == b"t"


SIGTERM_INSIDE = """
import os, signal, sys, time
from pathlib import Path
from genproto._atomic import atomic_directory, atomic_open
target = Path(sys.argv[2])
if sys.argv[1] == "directory":
    with atomic_directory(target, replace=False) as staged:
        (staged / "weights.safetensors").write_bytes(b"w" * 10**6)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
else:
    with atomic_open(target) as fh:
        fh.write(b"n" * 10**6)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
"""


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_sigterm_during_a_write_removes_the_temporary_sibling_and_dies_of_sigterm(
    tmp_path: Path, kind: str
) -> None:
    target = tmp_path / ("ckpt" if kind == "directory" else "out.npy")
    proc = subprocess.run([sys.executable, "-c", SIGTERM_INSIDE, kind, str(target)],
                          capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    assert _listing(tmp_path) == []


# ---------------------------------------------------------------------------
# genproto sample -o: the same errors as one line, exit 2; --force to replace
# ---------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """``genproto`` in this process with only the walker test model registered."""
    reg = registry.Registry(entry_points=False)
    reg.register("walker", Walker, capabilities=Walker().capabilities)
    monkeypatch.setattr(registry, "_default", reg)
    return lambda *args: main(["sample", "walker", "-n", "7", "--seed", "1", *args])


@pytest.mark.parametrize(("name", "phrase"), [
    ("adir.npy", "the path is a folder"),
    ("afile/x.npy", "afile is a file, not a folder"),
    ("no/x.png", "Create it first: mkdir -p no"),
    ("x" * 300 + ".png", "the name is 304 bytes long"),
    ("old.npy", "already exists"),
])
def test_bad_sample_outputs_are_one_line_cli_errors(
    cli: Callable[..., int], folder: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], name: str, phrase: str,
) -> None:
    monkeypatch.chdir(folder)
    before = {p: (folder / p).read_bytes() for p in _listing(folder) if (folder / p).is_file()}
    assert cli("-o", name) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1, err
    assert phrase in err
    assert {p: (folder / p).read_bytes() for p in _listing(folder)
            if (folder / p).is_file()} == before


def test_sample_replaces_an_existing_file_only_with_force(
    cli: Callable[..., int], folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = folder / "old.npy"
    old = out.read_bytes()
    assert cli("-o", str(out)) == 2
    assert "Pass --force to replace it" in capsys.readouterr().err
    assert out.read_bytes() == old
    assert cli("-o", str(out), "--force") == 0
    expected = sampling.run(Walker(), 7, seed=1).samples.numpy()
    assert np.array_equal(np.load(out), expected)
    assert _listing(folder) == ["adir.npy", "afile", "old.npy", "pipe.npy"]


def test_sample_help_and_readme_document_force(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    assert "--force" in capsys.readouterr().out
    readme = (TESTS.parent / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if line.startswith("| `genproto sample NAME")]
    assert "--force" in row

