"""The floor of a read: the same row fetched by the bare driver, with no SQLAlchemy at all.

A plain asyncpg (or aiosqlite) connection of its own (``Database.driver_connection``) reads a
user by primary key with a hand-written statement. Nothing QuLab builds is on this path (no
engine, pool, session or model), so it is what the other read paths are measured against.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from qulab.core import Database

FloorRead = Callable[[str], Awaitable[Any]]

_PG_USER = (
    "SELECT id, email, name, occupation_code, education_level, years_experience, created_at,"
    " updated_at FROM users WHERE id = $1"
)
_SQLITE_USER = _PG_USER.replace("$1", "?")


@asynccontextmanager
async def floor_reader(db: Database) -> AsyncIterator[FloorRead]:
    """A function reading one user row by id over a bare driver connection (closed after)."""
    async with db.driver_connection() as conn:
        if db.dialect == "postgresql":
            yield lambda user_id: conn.fetchrow(_PG_USER, user_id)
            return

        async def read(user_id: str) -> Any:
            async with conn.execute(_SQLITE_USER, (user_id,)) as cursor:
                return await cursor.fetchone()

        yield read
