"""Every third-party module the genproto package imports is one of its declared dependencies.

`genproto check` died with a ModuleNotFoundError when Hypothesis (then a test extra) was
missing; this test reads every import in genproto/ with ``ast`` and fails when one names
a distribution that ``pip install genproto`` would not bring. pytest is the one exception:
only the pytest plugin and ``contract_tests`` (used inside a pytest run) import it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "genproto"
#: import name -> distribution name, where they differ.
DISTRIBUTION = {"PIL": "pillow", "yaml": "pyyaml", "sklearn": "scikit-learn"}
#: modules whose own job is to run under pytest.
PYTEST_ONLY = {"genproto/testing/pytest_plugin.py", "genproto/testing/contract.py"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = (re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0] for spec in project["dependencies"])
    return {name.lower().replace("_", "-") for name in names}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _third_party(names: set[str]) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n != "genproto"}


def test_every_import_of_the_package_is_a_declared_dependency() -> None:
    declared = _declared()
    missing: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for name in _third_party(_imports(path)):
            if name == "pytest" and rel in PYTEST_ONLY:
                continue
            dist = DISTRIBUTION.get(name, name).lower().replace("_", "-")
            if dist not in declared:
                missing.setdefault(dist, set()).add(rel)
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_the_check_reads_imports_it_would_miss(tmp_path: Path) -> None:
    """The scanner itself: a stray third-party import is found, stdlib ones are not."""
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom scipy import stats\nimport PIL.Image\nfrom . import x\n")
    assert _third_party(_imports(module)) == {"scipy", "PIL"}


def test_hypothesis_is_a_core_dependency_for_genproto_check() -> None:
    assert "hypothesis" in _declared()
