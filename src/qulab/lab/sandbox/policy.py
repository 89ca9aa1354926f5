"""What learner code may say, checked on its syntax tree before anything runs.

The sandbox gives learner code a namespace of named tools (``select``, ``func``, the models...)
and a few harmless builtins. This module refuses, with one sentence each, the ways out of that
namespace: imports beyond the tools already given, names and attributes starting with an
underscore (``__class__``, ``__import__``, ``__mro__``...), the attributes that reach an
interpreter frame or format strings that could, builtins that open files or evaluate strings,
and SQL text smuggled in through ``op``, ``prefix_with`` and friends.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from qulab.lab.errors import Refused

MAX_SOURCE_CHARS = 8000

IMPORTABLE_MODULES = frozenset({"sqlalchemy", "sqlalchemy.orm", "qulab.platform"})

UNAVAILABLE_BUILTINS = frozenset(
    {
        "breakpoint",
        "compile",
        "delattr",
        "dir",
        "eval",
        "exec",
        "getattr",
        "globals",
        "help",
        "input",
        "locals",
        "memoryview",
        "object",
        "setattr",
        "super",
        "type",
        "vars",
    }
)
FILE_AND_NETWORK = frozenset({"open", "socket", "os", "sys", "subprocess", "pathlib", "io"})

# Attributes that lead from a generator, coroutine, frame or traceback to the interpreter's
# frames (and their globals), or that let a format string walk attributes.
FRAME_PREFIXES = ("gi_", "cr_", "ag_", "f_", "tb_", "co_")
REFUSED_ATTRIBUTES = frozenset({"format", "format_map", "mro", "func_globals"})
# Attributes that lead from a result, a statement or a session to the connection, the engine,
# the dialect or the driver module: a connection of one's own would not be read-only.
PLUMBING_ATTRIBUTES = frozenset(
    {
        "bind",
        "context",
        "dbapi",
        "dialect",
        "engine",
        "get_bind",
        "loaded_dbapi",
        "raw",
        "raw_connection",
        "root_connection",
        "sync_connection",
        "sync_engine",
        "sync_session",
    }
)
# SQLAlchemy methods that take raw SQL text.
RAW_SQL_ATTRIBUTES = frozenset(
    {
        "op",
        "bool_op",
        "prefix_with",
        "suffix_with",
        "with_hint",
        "with_statement_hint",
        "from_statement",
        "exec_driver_sql",
        "connection",
    }
)


def check_source(source: str, provided: Iterable[str]) -> ast.Module:
    """The parsed code if it keeps to the policy; raises ``Refused`` with the first breach."""
    if len(source) > MAX_SOURCE_CHARS:
        raise Refused(f"The answer is longer than {MAX_SOURCE_CHARS} characters: shorten it.")
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as error:
        raise Refused(f"Python cannot read line {error.lineno}: {error.msg}.") from None
    names = frozenset(provided)
    for node in sorted(ast.walk(tree), key=_position):
        _check_node(node, names)
    return tree


def _position(node: ast.AST) -> tuple[int, int, int, int]:
    """Source order, innermost first: the first breach a reader meets is the one reported."""
    return (
        getattr(node, "lineno", 0),
        getattr(node, "col_offset", 0),
        getattr(node, "end_lineno", 0) or 0,
        getattr(node, "end_col_offset", 0) or 0,
    )


def _check_node(node: ast.AST, provided: frozenset[str]) -> None:
    if isinstance(node, ast.Import):
        modules = ", ".join(alias.name for alias in node.names)
        raise Refused(
            f"`import {modules}` is not allowed: the sandbox has no modules to import beyond "
            "the names it already provides (select, func, selectinload, the models...)."
        )
    if isinstance(node, ast.ImportFrom):
        _check_import_from(node, provided)
    elif isinstance(node, ast.Name):
        _check_name(node.id)
    elif isinstance(node, ast.Attribute):
        _check_attribute(node.attr)
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        _check_name(node.name)
        if isinstance(node, ast.ClassDef):
            raise Refused("Classes are not needed here: write a function.")
    elif isinstance(node, ast.arg):
        _check_name(node.arg)
    elif isinstance(node, ast.Global | ast.Nonlocal):
        raise Refused("`global` and `nonlocal` are not allowed here.")


def _check_import_from(node: ast.ImportFrom, provided: frozenset[str]) -> None:
    module = node.module or ""
    wanted = [alias.name for alias in node.names]
    if node.level or module not in IMPORTABLE_MODULES:
        raise Refused(
            f"Importing from `{'.' * node.level}{module}` is not allowed: only the names the "
            "sandbox provides can be imported (from sqlalchemy, sqlalchemy.orm or "
            "qulab.platform)."
        )
    for alias in node.names:
        if alias.asname:
            raise Refused(
                f"Renaming an import (`{alias.name} as {alias.asname}`) is not allowed: use the "
                "names as the sandbox provides them."
            )
    for name in wanted:
        if name not in provided:
            raise Refused(
                f"`{name}` is not on the sandbox's allow-list: use the provided names "
                f"({', '.join(sorted(provided))})."
            )


def _check_name(name: str) -> None:
    if name.startswith("_") and name != "_":
        raise Refused(
            f"`{name}` is refused: names starting with an underscore reach Python's internals, "
            "which the sandbox does not open."
        )
    if name in FILE_AND_NETWORK:
        raise Refused(f"`{name}` is not available: the sandbox has no file or network access.")
    if name in UNAVAILABLE_BUILTINS:
        raise Refused(f"`{name}` is not available in the sandbox: the exercise does not need it.")


def _check_attribute(attribute: str) -> None:
    if attribute.startswith("_"):
        raise Refused(
            f"`.{attribute}` is refused: attributes starting with an underscore reach Python's "
            "internals, which the sandbox does not open."
        )
    if attribute in PLUMBING_ATTRIBUTES:
        raise Refused(
            f"`.{attribute}` is refused: it leads to the database connection itself, which the "
            "sandbox keeps to itself; read through session.execute or session.scalars."
        )
    if attribute.startswith(FRAME_PREFIXES) or attribute in REFUSED_ATTRIBUTES:
        raise Refused(f"`.{attribute}` is refused: it reaches past the tools the sandbox gives.")
    if attribute in RAW_SQL_ATTRIBUTES:
        raise Refused(
            f"`.{attribute}` is refused: it passes raw SQL text; build the query from select(), "
            "the models' columns and func instead."
        )
