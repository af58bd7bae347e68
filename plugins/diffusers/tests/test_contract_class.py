"""genproto's contract suite on a tiny random class-conditional UNet2DModel, 1x16x16, with a
null class (so guidance is a sample option), float output, 3 DDIM steps by default (the
suite samples hundreds of times; the loop is the same at any step count)."""

import atexit
import shutil
import tempfile
from pathlib import Path

from genproto_diffusers.tiny import save_tiny

import genproto
from genproto.testing import contract_tests

_ROOT = Path(tempfile.mkdtemp(prefix="genproto-unet-class-"))
atexit.register(shutil.rmtree, _ROOT, True)


def _model() -> genproto.Model:
    folder = _ROOT / "unet"
    if not folder.exists():
        save_tiny(folder, kind="class", scheduler="DDIMScheduler")
    return genproto.registry.get("diffusers", path=str(folder), null_class=3, default_steps=3,
                                 device="cpu")


globals().update(contract_tests(factory=_model))
