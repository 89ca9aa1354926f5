"""The hierarchies drawn in the errors modules' docstrings are the real ones, and complete: the
core's tree in ``qulab.core.errors``, the lab app's branches in ``qulab.entrypoints.app.errors``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import pytest

import qulab
from qulab.core import errors
from qulab.entrypoints.app import errors as app_errors
from qulab.lab import errors as lab_errors
from qulab.platform import errors as platform_errors

SKIPPED = (
    "qulab.platform.migrations",
    "qulab.lab.migrations",
    "qulab.entrypoints.app.main",
    "qulab.__main__",
)  # run on import
BRANCH = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Za-z]+)$")


ERROR_MODULES = (errors, platform_errors, lab_errors, app_errors)


def drawn_tree(module: ModuleType = errors) -> dict[str, str | None]:
    """Each class named in the docstring's tree, with the class drawn as its parent."""
    doc = module.__doc__ or ""
    block = doc.split("::", 1)[1].strip("\n").split("\n\n", 1)[0]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = BRANCH.match(line.strip("\n")[4:])
        assert match is not None, f"not a tree line: {line!r}"
        depth = len(match["indent"]) // 4
        name = match["name"]
        del stack[depth:]
        parents[name] = stack[-1][1] if stack else None
        stack.append((depth, name))
    return parents


def defined_errors(module: ModuleType = errors) -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
    }


def test_docstring_tree_matches_the_class_hierarchy() -> None:
    tree = drawn_tree()
    classes = defined_errors()
    assert sorted(tree) == sorted(classes)
    for name, parent in tree.items():
        base = classes[name].__bases__[0]
        expected = Exception if parent is None else classes[parent]
        assert base is expected, f"{name} derives from {base.__name__}, drawn under {parent}"


def test_every_qulab_exception_is_defined_in_errors() -> None:
    elsewhere = []
    for info in pkgutil.walk_packages(qulab.__path__, "qulab."):
        if info.name in {m.__name__ for m in ERROR_MODULES} or info.name.startswith(SKIPPED):
            continue
        module = importlib.import_module(info.name)
        for name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name:
                elsewhere.append(f"{info.name}.{name}")
    assert elsewhere == []


@pytest.mark.parametrize(
    "module", [platform_errors, lab_errors, app_errors], ids=lambda m: m.__name__
)
def test_each_layers_branches_hang_from_the_cores_tree(module: ModuleType) -> None:
    tree = drawn_tree(module)
    classes = defined_errors(module)
    roots = [name for name, parent in tree.items() if parent is None]
    assert sorted(tree) == sorted([*classes, *roots])
    for root in roots:
        assert isinstance(getattr(errors, root), type), f"{root} is not one of the core's errors"
    for name, parent in tree.items():
        if parent is not None:
            base = classes[name].__bases__[0]
            assert base is getattr(errors, parent, None) or base is classes.get(parent)
