"""genproto's contract suite on a tiny random gpt2 causal LM (built and saved offline).

The tiny configuration has a 4-token vocabulary (the stop, <unk>, 'a', 'b') and at most 3
new tokens, small enough for the suite to sum the likelihood over every sequence.
"""

import atexit
import shutil
import tempfile
from pathlib import Path

from genproto_transformers.tiny import save_tiny

import genproto
from genproto.testing import contract_tests

_ROOT = Path(tempfile.mkdtemp(prefix="genproto-gpt2-"))
atexit.register(shutil.rmtree, _ROOT, True)


def _folder(name: str, alphabet: str) -> str:
    folder = _ROOT / name
    if not folder.exists():
        save_tiny("gpt2", folder, alphabet=alphabet, scale=4.0)
    return str(folder)


def _model() -> genproto.Model:
    return genproto.registry.get("hf-causal-lm", path=_folder("model", "abcdefgh:"),
                                 max_new_tokens=8, device="cpu")


def _tiny() -> genproto.Model:
    return genproto.registry.get("hf-causal-lm", path=_folder("tiny", "ab"), max_new_tokens=3,
                                 device="cpu")


globals().update(contract_tests(factory=_model, tiny=_tiny))
