"""What every command shares: settings, running a coroutine, printing data, and errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from qulab.cache import Cache, build_cache
from qulab.config import Settings, get_settings
from qulab.db import Database

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = Any  # typer option annotations live in the command modules


def settings() -> Settings:
    return get_settings()


def run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run one command's async work on a fresh event loop."""

    async def _main() -> T:
        return await coro_factory()

    return asyncio.run(_main())


@asynccontextmanager
async def open_cache(current: Settings | None = None) -> AsyncIterator[Cache]:
    cache = build_cache(current or settings())
    try:
        yield cache
    finally:
        await cache.close()


@asynccontextmanager
async def open_db(
    current: Settings | None = None, *, cache: Cache | None = None
) -> AsyncIterator[Database]:
    """The database, with the cache attached so that every commit invalidates what it changed.

    Without ``cache``, a shared (Redis) cache is attached when one is configured; an in-process
    cache would die with the command, so there is nothing to invalidate.
    """
    current = current or settings()
    database = Database(current)
    try:
        if cache is not None:
            cache.attach(database)
            yield database
        elif current.redis_url:
            async with open_cache(current) as shared:
                shared.attach(database)
                yield database
        else:
            yield database
    finally:
        await database.dispose()


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(data: Any) -> None:
    out.print(
        orjson.dumps(data, default=_default, option=orjson.OPT_INDENT_2).decode(),
        markup=False,
    )


def print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    out.print(table)


def print_record(title: str, record: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in record.items():
        table.add_row(key, "" if value is None else str(value))
    out.print(table)
