"""One assembly: only ``qulab.core.bootstrap`` builds a database, a publisher or a cache.

Every module of the package, the benchmarks aside, is read with ``ast``; a call that builds one
of the runtime's pieces outside the bootstrap module (and the factories it calls) is listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import qulab

SRC = Path(qulab.__file__).parent
BUILDERS = {
    "Database",
    "make_engine",
    "Cache",
    "build_cache",
    "build_publisher",
    "RedisStreamsPublisher",
    "RabbitMQPublisher",
    "NatsPublisher",
    "StdoutPublisher",
    "memory_broker",
}
# Where each piece is made: the bootstrap module, and the factories it calls.
ASSEMBLY = {
    "core/bootstrap.py": BUILDERS,
    "core/db.py": {"make_engine"},
    # The database's standbys get engines like its own, built when the Database is.
    "core/replicas.py": {"make_engine"},
    "core/cache/core.py": {"Cache"},
    "core/outbox/factory.py": BUILDERS,
    "core/outbox/memory.py": {"memory_broker"},
    "core/consumers/factory.py": {"memory_broker"},
    # The strategy comparison wraps the core's cache around the comparison's own backend and
    # prefix: a subject of the experiment, not the runtime's cache.
    "lab/strategies/invalidate.py": {"Cache"},
}


def _called(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def builds(source: str, allowed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The runtime pieces ``source`` builds itself, beyond ``allowed``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _called(node)
            if name in BUILDERS and name not in allowed:
                found.append(f"{name}() at line {node.lineno}")
    return found


def test_only_the_bootstrap_module_assembles_the_runtime() -> None:
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) > 80, "the scan no longer finds QuLab's modules"
    offenders = [
        f"{path.relative_to(SRC).as_posix()}: {call}"
        for path in modules
        for call in builds(
            path.read_text(encoding="utf-8"), ASSEMBLY.get(path.relative_to(SRC).as_posix(), set())
        )
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("db = Database(settings)", ["Database() at line 1"]),
        ("p = outbox.build_publisher(url, settings)", ["build_publisher() at line 1"]),
        ("x = 1\nc = Cache(backend, prefix='p')", ["Cache() at line 2"]),
        ("db = open_database(settings)", []),
    ],
)
def test_the_scan_sees_a_piece_built_by_hand(source: str, expected: list[str]) -> None:
    assert builds(source) == expected
