"""genproto's contract suite on a tiny random unconditional UNet2DModel, 3x32x32, float
output in [-1, 1], its DDPM scheduler swapped for DPM-Solver++, 3 steps by default."""

import atexit
import shutil
import tempfile
from pathlib import Path

from genproto_diffusers.tiny import save_tiny

import genproto
from genproto.testing import contract_tests

_ROOT = Path(tempfile.mkdtemp(prefix="genproto-unet-uncond-"))
atexit.register(shutil.rmtree, _ROOT, True)


def _model() -> genproto.Model:
    folder = _ROOT / "unet"
    if not folder.exists():
        save_tiny(folder, channels=3, size=32, kind="unconditional", pipeline=True)
    return genproto.registry.get("diffusers", path=str(folder), scheduler="dpm-solver",
                                 default_steps=3, device="cpu")


globals().update(contract_tests(factory=_model))
