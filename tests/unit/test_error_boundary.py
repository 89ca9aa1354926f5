"""Only the database adapter translates driver errors; everything above sees QuLab's errors."""

from __future__ import annotations

import ast
from pathlib import Path

import qulab

TRANSLATORS = {"translate_operational_error", "raise_translated", "translated"}
ADAPTER = {"adapters/db.py", "adapters/db_errors.py"}


def test_no_module_above_the_database_adapter_translates_errors() -> None:
    root = Path(qulab.__file__).parent
    assert all((root / name).is_file() for name in ADAPTER), "the adapter moved: update ADAPTER"
    callers = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative in ADAPTER:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in {
                "qulab.adapters.db",
                "qulab.adapters.db_errors",
            }:
                imported = {alias.name for alias in node.names} & TRANSLATORS
                callers += [f"{relative}: {name}" for name in sorted(imported)]
    assert callers == []
