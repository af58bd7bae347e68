"""Two torchrun ranks write the same digits-unet samples as one process (each rank its slice
of one .npy), within the declared tolerance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import genproto

SCRIPT = """
import sys
from genproto.cli.main import main
code = main(["sample", "digits-unet", "-n", "24", "--seed", "9", "--batch-size", "8",
             "--steps", "10", "-O", "device=cpu", "-o", f"digits-{sys.argv[1]}.npy"])
assert code == 0, code
"""


def test_two_ranks_write_the_single_process_file(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "GENPROTO_PLUGINS": "diffusers", "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(script), "single"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    multi = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         str(script), "multi"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300)
    assert multi.returncode == 0, multi.stderr
    one = torch.from_numpy(np.load(tmp_path / "digits-single.npy"))
    two = torch.from_numpy(np.load(tmp_path / "digits-multi.npy"))
    assert one.shape == two.shape == (24, 8, 8)
    tolerance = genproto.registry.default().entry("digits-unet").capabilities.batch_tolerance
    assert tolerance.agree(one, two, discrete=True)
