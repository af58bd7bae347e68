"""Killing ``genproto sample -o big.npy`` mid-write leaves the old file and no temporary file.

A real ``genproto sample`` (the CLI's ``main`` in a fresh interpreter, with the
walker test model registered in-process) streams a million samples into
``big.npy`` over an existing file (``--force``). Once the first chunk has reached
the temporary sibling ``.big.npy.tmp-PID-RANDOM``, the process gets SIGTERM,
SIGINT or SIGKILL. Afterwards ``big.npy`` is the complete old file; after SIGTERM
and SIGINT nothing else is in the folder; after SIGKILL (which nothing can catch)
the temporary sibling is there, named with the dead PID, and the next write to
``big.npy`` removes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).parent
DRIVER = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from genproto import registry
from genproto.cli.main import main
from sampler_models import Walker
registry.register("walker", Walker, capabilities=Walker().capabilities)
sys.exit(main(["sample", "walker", "--seed", "0", "--force", *sys.argv[1:]]))
"""
ROWS, BATCH = 1_000_000, 512  # a minute of sampling at least: it is killed long before
ROW_BYTES = 4 * 4  # (4,) float32


def _default_signals() -> None:
    """In the child: SIGINT and SIGTERM at their defaults, whatever the test runner set."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _sample(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, *args], cwd=folder, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_signals,
        env={**os.environ, "GENPROTO_PLUGINS": "none"},
    )


def _first_chunk_written(proc: subprocess.Popen[str], folder: Path, timeout: float = 90) -> Path:
    """Wait until the temporary ``.npy`` holds its first chunk; return its path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"genproto sample ended early ({proc.returncode}): {proc.communicate()}")
        for tmp in folder.glob(f".big.npy.tmp-{proc.pid}-*"):
            head = tmp.read_bytes()[:4096]
            if len(head) > 10:
                start = 10 + int.from_bytes(head[8:10], "little")  # .npy 1.0 header length
                if any(head[start:start + ROW_BYTES]):
                    return tmp
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no chunk was written in {timeout} s: {proc.communicate()}")


@pytest.fixture
def old(tmp_path: Path) -> bytes:
    """``big.npy`` already holds an old array."""
    np.save(tmp_path / "big.npy", np.full((5, 4), 7.0, dtype=np.float32))
    return (tmp_path / "big.npy").read_bytes()


def _kill_mid_write(folder: Path, signum: int) -> tuple[subprocess.Popen[str], Path, str]:
    proc = _sample(folder, "-n", str(ROWS), "--batch-size", str(BATCH), "-o", "big.npy")
    tmp = _first_chunk_written(proc, folder)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    return proc, tmp, err


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, -signal.SIGTERM),
                                                (signal.SIGINT, 130)])
def test_sigterm_and_sigint_leave_the_old_file_and_nothing_else(
    tmp_path: Path, old: bytes, signum: int, status: int
) -> None:
    proc, _, err = _kill_mid_write(tmp_path, signum)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == ["big.npy"]
    assert (tmp_path / "big.npy").read_bytes() == old


def test_sigkill_leaves_a_named_stale_file_that_the_next_write_removes(
    tmp_path: Path, old: bytes
) -> None:
    proc, tmp, err = _kill_mid_write(tmp_path, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, err
    assert (tmp_path / "big.npy").read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == sorted(["big.npy", tmp.name])
    assert tmp.stat().st_size > ROWS * ROW_BYTES  # the pre-sized, half-written samples

    again = _sample(tmp_path, "-n", "10", "-o", "big.npy")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "wrote 10 samples" in out
    assert os.listdir(tmp_path) == ["big.npy"]
    assert np.load(tmp_path / "big.npy").shape == (10, 4)
