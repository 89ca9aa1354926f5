"""The examples use QuLab's core as any application would: only the public names of
``qulab.core`` and its modules, nothing of the platform or the lab."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def private_uses(source: str) -> list[str]:
    """Every import of QuLab in ``source`` that is not a public name of the core."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in imported:
            if module != "qulab" and not module.startswith("qulab."):
                continue
            parts = module.split(".")
            shown = f"{module}.{name}" if name else module
            if parts[:2] != ["qulab", "core"]:
                found.append(f"{shown}: not the core")
            elif any(part.startswith("_") for part in parts) or (name or "").startswith("_"):
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
    assert private_uses("from qulab.core.repository import Repository\nimport sqlalchemy") == []
