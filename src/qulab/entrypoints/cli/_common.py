"""What every command shares: settings, running a coroutine, printing data, and errors.

Importing this module stays cheap (no SQLAlchemy, Redis or broker client): every command
module imports it, so the runtime is imported only when a command opens it.

Printing never interprets data: the consoles parse no rich markup and no emoji codes, and show
control characters as escapes (``\\x1b``, ``\\u202e``; see qulab.core.control_chars), so a name
like ``[/x]`` or one holding an ANSI sequence prints as the characters it is made of.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from qulab.core import visible, visible_json

if TYPE_CHECKING:
    from qulab.core import Database, Runtime, Settings
    from qulab.core.cache import Cache

T = TypeVar("T")


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


def settings() -> Settings:
    from qulab.core import get_settings

    return get_settings()


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
    current: Settings | None = None, *, cache: Cache | None = None
) -> AsyncIterator[Database]:
    """The database, with the cache subscribed to its bus so that every commit (and every
    batch a relay publishes) invalidates what it changed: ``cache`` if given, else the one the
    settings name (a shared Redis cache, or an in-process one that dies with the command)."""
    async with open_runtime(current, cache=cache) as runtime:
        yield runtime.db


def _default(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(data: Any) -> None:
    """Indented JSON; every control character inside it is an escape that decodes to the value."""
    text = orjson.dumps(data, default=_default, option=orjson.OPT_INDENT_2).decode()
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
