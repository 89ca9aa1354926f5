"""The examples use QuLab's core as any application would: only the names ``qulab.core`` and
its subpackages list in ``__all__``, nothing of the platform or the lab."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.test_layers import SURFACES, _public

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


CORE_SURFACES = tuple(surface for surface in SURFACES if surface.startswith("qulab.core"))


def private_uses(source: str) -> list[str]:
    """Every import of QuLab in ``source`` that is not a listed public name of the core."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported: list[tuple[str, str | None]] = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in imported:
            if module != "qulab" and not module.startswith("qulab."):
                continue
            shown = f"{module}.{name}" if name else module
            if module.split(".")[:2] != ["qulab", "core"]:
                found.append(f"{shown}: not the core")
            elif module not in CORE_SURFACES:
                found.append(f"{shown}: past the core's public surface")
            elif name is not None and name not in _public(module):
                found.append(f"{shown}: not public")
    return found


def test_every_example_module_imports_only_public_core_names() -> None:
    modules = sorted(EXAMPLES.rglob("*.py"))
    assert len(modules) >= 10, "the scan no longer finds the examples"
    offenders = [
        f"{path.relative_to(EXAMPLES)}: {use}"
        for path in modules
        for use in private_uses(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from qulab.platform.events import UserCreated", "qulab.platform.events.UserCreated"),
        ("import qulab.lab.setup", "qulab.lab.setup"),
        ("from qulab.core.db_errors import _causes", "qulab.core.db_errors._causes"),
        ("from qulab._lazy import lazy_attributes", "qulab._lazy.lazy_attributes"),
        ("from qulab.core.cache.core import _Reading", "qulab.core.cache.core._Reading"),
    ],
)
def test_a_private_or_platform_import_is_reported(source: str, expected: str) -> None:
    [use] = private_uses(source)
    assert use.startswith(f"{expected}: ")


def test_public_core_imports_pass() -> None:
    source = (
        "from qulab.core import Repository\nfrom qulab.core.cache import Family\nimport sqlalchemy"
    )
    assert private_uses(source) == []
