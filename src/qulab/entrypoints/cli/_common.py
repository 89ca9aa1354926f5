"""What every command shares: settings, running a coroutine, printing data, and errors.

Importing this module stays cheap (no SQLAlchemy, Redis or broker client): ``qulab --help``
imports every command module, so the runtime is imported only when a command opens it.

Printing never interprets data: the consoles parse no rich markup and no emoji codes, and show
control characters as escapes (``\\x1b``, ``\\u202e``; see qulab.core.control_chars), so a name
like ``[/x]`` or one holding an ANSI sequence prints as the characters it is made of.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from qulab.core import UserError, visible, visible_json
from qulab.entrypoints.cli._logging import apply as apply_logging

if TYPE_CHECKING:
    from qulab.core import Database, Runtime, Settings
    from qulab.core.cache import Cache

T = TypeVar("T")

# Exit codes every command shares (the package docstring and docs/operations.md list them).
EXIT_RUNTIME = 1  # a database, cache or broker that cannot be reached
EXIT_USER = 2  # bad input, an unknown id, a destructive command run without --yes off a terminal
EXIT_DEAD_LETTERED = 3  # the work was done, but some events or messages were dead-lettered


class _LiteralConsole(Console):
    """A console for text that may hold data: strings are never parsed, only made visible.

    Markup must be asked for per call (``markup=True``) and only for text the program wrote.
    """

    def __init__(self, *, stderr: bool = False) -> None:
        super().__init__(stderr=stderr, highlight=False, soft_wrap=True, markup=False, emoji=False)

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(visible(text, keep_layout=True), **options)


out: Console = _LiteralConsole()
err: Console = _LiteralConsole(stderr=True)


Yes = Annotated[
    bool, typer.Option("--yes", help="Go ahead without asking (needed off a terminal).")
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Say exactly what would go, and change nothing.")
]


def needs_consent(command: str, *, yes: bool, dry_run: bool) -> None:
    """A destructive command runs on ``--yes``, or after a "y" typed at a terminal: with stdin
    not a terminal and no ``--yes`` it stops here, before it touches anything (exit 2)."""
    if yes or dry_run or sys.stdin.isatty():
        return
    raise UserError(
        f"`qulab {command}` deletes data and stdin is not a terminal to ask: pass --yes to "
        "go ahead, or --dry-run to see what would go"
    )


def ask(plan: str, *, yes: bool) -> None:
    """Show what is about to go and ask (default no); a "no" exits 1 with nothing changed."""
    if yes:
        return
    err.print(f"{plan}\nGo ahead? [y/N] ", end="")
    err.file.flush()
    if sys.stdin.readline().strip().lower() not in {"y", "yes"}:
        err.print("nothing changed")
        raise typer.Exit(1)  # declined: not a success, and not a mistake in the input


def settings() -> Settings:
    """The process's settings; reading them applies their logging settings."""
    from qulab.core import get_settings

    current = get_settings()
    apply_logging(current)
    return current


def run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run one command's async work on a fresh event loop."""
    import asyncio

    async def _main() -> T:
        return await coro_factory()

    return asyncio.run(_main())


@asynccontextmanager
async def open_runtime(
    current: Settings | None = None, *, cache: Cache | None = None
) -> AsyncIterator[Runtime]:
    """QuLab assembled by ``bootstrap`` for one command, closed when the command ends."""
    from qulab.platform import bootstrap

    async with bootstrap(current or settings(), cache=cache) as runtime:
        yield runtime


@asynccontextmanager
async def open_cache(current: Settings | None = None) -> AsyncIterator[Cache]:
    async with open_runtime(current) as runtime:
        yield runtime.cache


@asynccontextmanager
async def open_db(
    current: Settings | None = None, *, cache: Cache | None = None, create: bool = False
) -> AsyncIterator[Database]:
    """The database, with the cache subscribed to its bus so that every commit (and every
    batch a relay publishes) invalidates what it changed: ``cache`` if given, else the one the
    settings name (a shared Redis cache, or an in-process one that dies with the command).

    A SQLite file that does not exist is created only by the commands that build a schema
    (``create=True``: ``db upgrade``, ``setup``, ``seed``...); any other command says the
    database is not initialised and leaves no empty file behind."""
    current = current or settings()
    if not create:
        _require_sqlite_file(current)
    async with open_runtime(current, cache=cache) as runtime:
        yield runtime.db


def _require_sqlite_file(current: Settings) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from qulab.core import SchemaMissing

    url = make_url(current.database.url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    if url.query.get("uri") or url.database.startswith("file:"):
        return  # an SQLite URI names its own open mode
    path = Path(url.database)
    if path.parent.is_dir() and not path.exists():  # (no directory: sqlite3 says it cannot open)
        raise SchemaMissing(
            f"the database is not initialised: {path} does not exist; "
            "run `qulab db upgrade` (or `qulab setup`) to create it"
        )


def _default(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(data: Any, *, one_line: bool = False) -> None:
    """Indented JSON (or one line of it); every control character inside it is an escape that
    decodes to the value."""
    option = 0 if one_line else orjson.OPT_INDENT_2
    text = orjson.dumps(data, default=_default, option=option).decode()
    out.print(visible_json(text))


def cell(value: Any) -> Text:
    """One value as inert text: None is empty, control characters are escaped."""
    return Text("" if value is None else visible(str(value)))


def print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(title=cell(title))
    for column in columns:
        table.add_column(cell(column))
    for row in rows:
        table.add_row(*(cell(row.get(c)) for c in columns))
    out.print(table)


def print_record(title: str, record: dict[str, Any]) -> None:
    table = Table(title=cell(title), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in record.items():
        table.add_row(cell(key), cell(value))
    out.print(table)
