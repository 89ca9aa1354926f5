"""Imports point down only: core < platform < lab < entry points.

Every module's imports are read with ``ast`` (those under ``TYPE_CHECKING`` included: a type is a
dependency too) and each target is ranked by the layer it lives in. A module may import its own
layer or one below. The standard-library helpers at the package root (``_lazy``, ``_startup``)
import nothing of QuLab's, and every layer may use them. Streamlit and Typer are imported only by
the entry points.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import qulab

SRC = Path(qulab.__file__).parent
LAYERS = ("core", "platform", "lab", "entrypoints")
STDLIB_ONLY = {"qulab._startup", "qulab._lazy"}
# The package's own doorways: qulab/__init__ (lazy public names), __main__,
# and seed_names, whose aliases point across layers by design. Nothing inside a layer uses them.
TOP = {"qulab", "qulab.__main__", "qulab.seed_names"}
ENTRY_POINT_ONLY = {"streamlit", "typer"}


def _rank(module: str) -> int | None:
    """The layer's height (higher may import lower), or None for the standard-library helpers."""
    if module in STDLIB_ONLY:
        return None
    if module in TOP:
        return len(LAYERS)
    part = module.split(".")[1]
    if part not in LAYERS:
        raise AssertionError(f"{module} lives in no layer: add it to one (or to LAYERS)")
    return LAYERS.index(part)


def _label(rank: int) -> str:
    return LAYERS[rank] if rank < len(LAYERS) else "the package root"


def _targets(module: str, tree: ast.Module, is_package: bool) -> list[str]:
    """Every module ``module`` imports, with relative and ``from qulab import name`` resolved."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                if base == "qulab" and alias.name in qulab._HOMES:
                    found.append(qulab._HOMES[alias.name])
                elif base == "qulab":
                    found.append(f"qulab.{alias.name}")
                else:
                    found.append(base)
    return found


def _home(target: str) -> str:
    """The module a dotted import lands in, for ranking: ``qulab.core.db.x`` stays whole."""
    if target == "qulab" or target.startswith("qulab."):
        return target
    return target.split(".")[0]


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """The imports of ``module`` (its source given) that point up or leave their layer."""
    found = []
    tree = ast.parse(source)
    rank = _rank(module)
    in_entrypoints = module.startswith("qulab.entrypoints")
    for target in _targets(module, tree, is_package):
        home = _home(target)
        if home in ENTRY_POINT_ONLY and not in_entrypoints:
            found.append(f"{module} imports {target}: only entry points may")
            continue
        if not home.startswith("qulab") or home == "qulab":
            continue
        if module in STDLIB_ONLY:
            found.append(f"{module} imports {target}: it uses the standard library only")
            continue
        target_rank = _rank(home)
        if target_rank is not None and rank is not None and target_rank > rank:
            found.append(f"{module} imports {target}: {_label(target_rank)} is above it")
    return found


SURFACES = (
    "qulab.core",
    "qulab.core.cache",
    "qulab.core.consumers",
    "qulab.core.health",
    "qulab.core.metrics",
    "qulab.core.outbox",
    "qulab.platform",
)
"""The public surfaces of the layers below the lab: each package lists its names in __all__."""


def _public(surface: str) -> set[str]:
    return set(importlib.import_module(surface).__all__)


def past_the_surface(module: str, source: str) -> list[str]:
    """The imports by which the lab or an entry point (``module``) reaches the core or the
    platform other than through a public surface's listed names."""
    if not module.startswith(("qulab.lab", "qulab.entrypoints")):
        return []
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            pairs: list[tuple[str, str | None]] = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            pairs = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for target, name in pairs:
            if not target.startswith(("qulab.core", "qulab.platform")):
                continue
            if target not in SURFACES:
                found.append(f"{module} imports {target}: past the public surface")
            elif name is not None and name not in _public(target):
                found.append(f"{module} imports {target}.{name}: not a public name")
    return found


def _modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules.append((".".join(parts), path))
    return modules


def test_every_import_in_qulab_points_down() -> None:
    modules = _modules()
    assert len(modules) > 80, "the scan no longer finds QuLab's modules"
    offenders = [
        line
        for module, path in modules
        for line in violations(
            module, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py"
        )
    ]
    assert offenders == []


def test_the_lab_and_the_entry_points_use_only_public_names() -> None:
    offenders = [
        line
        for module, path in _modules()
        for line in past_the_surface(module, path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "qulab.lab.chaos",
            "from qulab.core.db import Database",
            ["qulab.lab.chaos imports qulab.core.db: past the public surface"],
        ),
        (
            "qulab.entrypoints.cli.users",
            "import qulab.platform.services.users",
            [
                "qulab.entrypoints.cli.users imports qulab.platform.services.users: "
                "past the public surface"
            ],
        ),
        (
            "qulab.lab.checks",
            "from qulab.core import Database, _lazy_helper",
            ["qulab.lab.checks imports qulab.core._lazy_helper: not a public name"],
        ),
        ("qulab.lab.checks", "from qulab.platform import bootstrap, create_user", []),
        ("qulab.platform.views", "from qulab.core.db import Database", []),
    ],
)
def test_reaching_past_a_surface_is_reported(module: str, source: str, expected: list[str]) -> None:
    assert past_the_surface(module, source) == expected


def test_every_module_lives_in_a_layer() -> None:
    homeless = []
    for module, _ in _modules():
        try:
            _rank(module)
        except AssertionError:
            homeless.append(module)
    assert homeless == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "qulab.core.cache.core",
            "from qulab.platform.services.users import update_user",
            "qulab.core.cache.core imports qulab.platform.services.users: platform is above it",
        ),
        (
            "qulab.core.db",
            "import qulab.platform.events",
            "qulab.core.db imports qulab.platform.events: platform is above it",
        ),
        (
            "qulab.platform.services.users",
            "from qulab import run_db_setup_and_create_user",
            "qulab.platform.services.users imports qulab.lab: lab is above it",
        ),
        (
            "qulab.lab.setup",
            "from ..entrypoints.cli import app",
            "qulab.lab.setup imports qulab.entrypoints.cli: entrypoints is above it",
        ),
        (
            "qulab.platform.services.seeding",
            "from qulab.lab import checks",
            "qulab.platform.services.seeding imports qulab.lab: lab is above it",
        ),
        (
            "qulab.platform.views",
            "if TYPE_CHECKING:\n    import streamlit as st",
            "qulab.platform.views imports streamlit: only entry points may",
        ),
        (
            "qulab.platform.events",
            "from qulab import DomainEventRepository",
            "qulab.platform.events imports qulab.seed_names: the package root is above it",
        ),
        (
            "qulab.lab.pooling",
            "import typer",
            "qulab.lab.pooling imports typer: only entry points may",
        ),
        (
            "qulab._lazy",
            "from qulab.core.errors import QulabError",
            "qulab._lazy imports qulab.core.errors: it uses the standard library only",
        ),
    ],
)
def test_an_upward_import_is_reported(module: str, source: str, expected: str) -> None:
    assert violations(module, source) == [expected]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("qulab.entrypoints.cli.users", "from qulab.platform import services\nimport typer"),
        ("qulab.platform.services.users", "from qulab.platform.uow import UnitOfWorkFactory"),
        ("qulab.lab.chaos", "from qulab.platform.events import ScoreCalculated"),
        ("qulab.core.uow", "from qulab.core.bus import MessageBus\nimport sqlalchemy"),
        ("qulab.core.config", "from qulab._lazy import lazy_attributes"),
        ("qulab.entrypoints.cli._common", "from qulab import Database"),
    ],
)
def test_a_downward_import_is_allowed(module: str, source: str) -> None:
    assert violations(module, source) == []


def test_a_module_outside_every_layer_is_refused() -> None:
    with pytest.raises(AssertionError, match=r"qulab\.helpers lives in no layer"):
        violations("qulab.helpers", "import os")
