"""A scratch database: created empty for one run, migrated, and removed afterwards.

On PostgreSQL it is a new database on the server the settings name (``qulab_scratch_<hex>``),
dropped with ``FORCE`` at the end (its replication slots first, a log-tailing relay's); on
SQLite a file in a temporary directory. The name is generated here, never taken from input, so
it can be spelled into the DDL.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from qulab.core import ServiceUnavailable, Settings, open_database, redact_text
from qulab.platform import MIGRATIONS

TERMINATE_SLOT_HOLDERS = text(
    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
    "WHERE database = :database AND active_pid IS NOT NULL"
)
DROP_SLOTS = text(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
    "WHERE database = :database AND NOT active"
)


@asynccontextmanager
async def scratch_database(settings: Settings, label: str = "scratch") -> AsyncIterator[str]:
    """The URL of a fresh, migrated database beside the one ``settings`` name."""
    if settings.database.is_sqlite:
        with tempfile.TemporaryDirectory(prefix=f"qulab_{label}_") as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'scratch.db'}"
            await _migrate(settings, url)
            yield url
        return
    name = f"qulab_{label}_{secrets.token_hex(6)}"
    base = make_url(settings.database.url)
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    try:
        try:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except (OSError, SQLAlchemyError) as error:
            detail = redact_text(str(error).splitlines()[0], settings.database.url)
            raise ServiceUnavailable(f"cannot create a scratch database: {detail}") from error
        url = base.set(database=name).render_as_string(hide_password=False)
        try:
            await _migrate(settings, url)
            yield url
        finally:
            async with admin.connect() as conn:
                await _drop_slots(conn, name)
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


async def _drop_slots(conn: AsyncConnection, database: str) -> None:
    """Drop the replication slots of the scratch database (a log-tailing relay's): a database
    with a slot cannot be dropped, and a slot left behind would keep WAL forever."""
    await conn.execute(TERMINATE_SLOT_HOLDERS, {"database": database})
    await conn.execute(DROP_SLOTS, {"database": database})


async def _migrate(settings: Settings, url: str) -> None:
    db = open_database(settings.replace(database_url=url))
    try:
        await MIGRATIONS.upgrade(db)
    finally:
        await db.dispose()
