"""Only the database adapter translates driver errors; everything above sees QuLab's errors."""

from __future__ import annotations

import ast
from pathlib import Path

import qulab

TRANSLATORS = {"translate_operational_error", "raise_translated", "translated"}
ADAPTER = {"core/db.py", "core/db_errors.py", "core/replicas.py"}  # replicas: the same engines


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
                "qulab.core.db",
                "qulab.core.db_errors",
            }:
                imported = {alias.name for alias in node.names} & TRANSLATORS
                callers += [f"{relative}: {name}" for name in sorted(imported)]
    assert callers == []


DRIVERS = {"redis", "aio_pika", "aiormq", "asyncpg", "aiosqlite", "nats"}
ABOVE_THE_ADAPTERS = ("platform", "lab", "entrypoints")
# The lab's own clients: the Redis and broker explorers (and the key helpers they share) and the
# cache-strategy experiments talk to Redis and the brokers themselves, and translate what those
# raise.
LAB_CLIENTS = {
    "lab/broker_log.py",
    "lab/redis_keys.py",
    "lab/redis_structures.py",
    "lab/strategies",
}


def _driver_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.partition(".")[0])
    return found & DRIVERS


def test_no_module_above_the_adapters_imports_a_driver() -> None:
    """Broker, cache and database client errors are translated by their adapters, so nothing
    above them has a driver's exception to catch."""
    root = Path(qulab.__file__).parent
    offenders = [
        f"{path.relative_to(root).as_posix()}: {', '.join(sorted(drivers))}"
        for layer in ABOVE_THE_ADAPTERS
        for path in sorted((root / layer).rglob("*.py"))
        if not _is_lab_client(path.relative_to(root).as_posix())
        and (drivers := _driver_imports(path.read_text(encoding="utf-8")))
    ]
    assert offenders == []


def _is_lab_client(relative: str) -> bool:
    return any(relative == name or relative.startswith(name + "/") for name in LAB_CLIENTS)


def test_the_driver_scan_sees_an_import() -> None:
    assert _driver_imports("from redis.exceptions import RedisError\nimport asyncpg") == {
        "redis",
        "asyncpg",
    }
