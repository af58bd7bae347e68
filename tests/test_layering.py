"""genproto's modules import only from the layers below them (docs/architecture.md).

Every ``import genproto.X`` / ``from genproto.X import ...`` in a module, at the top or
inside a function, is read with ``ast``; a module may import from its own layer or a
lower one. So the one-way rule "the engine below Model, Model below the registry,
everything user-facing on top" is a fact the suite checks, not a convention.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "genproto"

#: Bottom up; keep in step with docs/architecture.md.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(layer.split())
    for layer in (
        "protocol errors",
        "streams _streams_compiled distributions",
        "validation conditions counting options _atomic checkpoint data local_folder",
        "sampling",
        "model training",
        "hybrid hookspecs registry",
        "loading",
        "metrics plot pictures generative_classifier testing compare cli __main__",
    )
)
#: The package root is lazy (PEP 562): importing it or its version loads nothing.
NEUTRAL = frozenset({"__init__", "__version__"})


def _layer(unit: str) -> int:
    for index, layer in enumerate(LAYERS):
        if unit in layer:
            return index
    raise AssertionError(f"genproto.{unit} is in no layer of tests/test_layering.py")


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return "__init__" if rel.parts == ("__init__",) else rel.parts[0]


def _genproto_imports(path: Path) -> set[str]:
    """The top-level genproto units ``path`` imports (``genproto.a.b`` -> ``a``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] != "genproto":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from genproto import registry, __version__
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "genproto" and len(parts) > 1:
                    found.add(parts[1])
    return found - NEUTRAL


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _unit(p) != "__init__")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_from_its_layer_or_below(path: Path) -> None:
    unit = _unit(path)
    mine = _layer(unit)
    upward = {dep: _layer(dep) for dep in _genproto_imports(path) - {unit} if _layer(dep) > mine}
    assert not upward, (
        f"genproto/{path.relative_to(PACKAGE)} (layer {mine}: {unit}) imports from higher "
        f"layers {upward}; move the shared piece down or the caller up"
    )


def test_the_engine_does_not_know_the_model_class() -> None:
    assert "model" not in _genproto_imports(PACKAGE / "sampling.py")


def test_the_reader_finds_function_level_and_package_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from genproto.model import Model\n"
        "def f():\n    from genproto import registry, __version__\n"
        "import genproto.cli.main\nfrom . import sibling\n"
    )
    assert _genproto_imports(module) == {"model", "registry", "cli"}
