"""The tiny test plugin's contract tests, written as a plugin author writes them.

``contract_tests`` defines one module-level test per property (``test_contract_shape``, ...),
fed by a module-scoped fixture that builds the model once; this is the whole file a plugin needs.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "plugins" / "tiny"))  # imported by path
from genproto_tiny import TinyGaussian

from genproto.testing import contract_tests

globals().update(contract_tests(factory=TinyGaussian, tiny=lambda: TinyGaussian(sigma=0.3)))
