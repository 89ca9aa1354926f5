"""The hierarchy drawn in ``qulab.core.errors``'s docstring is the real one, and complete."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import qulab
from qulab.core import errors

SKIPPED = (
    "qulab.platform.migrations",
    "qulab.entrypoints.app.main",
    "qulab.__main__",
)  # run on import
BRANCH = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Za-z]+)$")


def drawn_tree() -> dict[str, str | None]:
    """Each class named in the docstring's tree, with the class drawn as its parent."""
    doc = errors.__doc__ or ""
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


def defined_errors() -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
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
        if info.name == errors.__name__ or info.name.startswith(SKIPPED):
            continue
        module = importlib.import_module(info.name)
        for name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name:
                elsewhere.append(f"{info.name}.{name}")
    assert elsewhere == []
