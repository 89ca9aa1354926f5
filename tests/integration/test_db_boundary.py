"""Every way into the database (session, connection, unit of work) is the error boundary:
a driver failure leaves it as QuLab's error, so nothing above needs to translate."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import insert, text

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.errors import SchemaMissing, ServiceUnavailable
from qulab.platform.models import User
from qulab.platform.uow import PlatformUnitOfWork

MISSING = text("SELECT id FROM no_such_table_here")


async def test_a_plain_session_block_raises_schema_missing(db: Database) -> None:
    with pytest.raises(SchemaMissing, match="run `qulab db upgrade`"):
        async with db.session() as session:
            await session.execute(MISSING)


async def test_a_connection_block_raises_schema_missing(db: Database) -> None:
    with pytest.raises(SchemaMissing, match="run `qulab db upgrade`"):
        async with db.connect() as conn:
            await conn.execute(MISSING)


async def test_a_transaction_block_raises_schema_missing_and_commits_nothing(
    db: Database,
) -> None:
    with pytest.raises(SchemaMissing):
        async with db.begin() as conn:
            await conn.execute(insert(User).values(id="b1", email="b@example.com", name="B"))
            await conn.execute(MISSING)
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one() == 0


async def test_a_unit_of_work_raises_schema_missing(db: Database) -> None:
    with pytest.raises(SchemaMissing):
        async with PlatformUnitOfWork(db) as uow:
            await uow.session.execute(MISSING)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


async def test_a_connection_to_a_silent_server_is_service_unavailable(silent_port: int) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{silent_port}/none"
    db = Database(Settings().replace(database_url=url, db_connect_timeout=0.5))
    try:
        with pytest.raises(ServiceUnavailable, match="database unreachable"):
            async with db.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await db.dispose()
