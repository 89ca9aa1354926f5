"""Shared fixtures. ``db`` is parametrized: every data-layer test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Table, text

from qulab.core.bootstrap import Runtime
from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.platform import migrate
from qulab.platform.application import bootstrap
from qulab.platform.models import METADATA
from tests import services
from tests.cache_support import RedisServer


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A PostgreSQL database of this test run, migrated to head, dropped at the end."""
    services.require_postgres()
    url = services.create_pg_database()

    async def _migrate() -> None:
        async with bootstrap(Settings().replace(database_url=url)) as rt:
            await migrate.upgrade(rt.db)

    try:
        asyncio.run(_migrate())
        yield url
    finally:
        services.drop_pg_database(url)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty PostgreSQL database for one test (no schema), dropped afterwards."""
    services.require_postgres()
    url = services.create_pg_database("qulab_test_empty")
    try:
        yield url
    finally:
        services.drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if backend == "postgresql":
        url = request.getfixturevalue("pg_database_url")
        return Settings().replace(database_url=url, pool_size=10, max_overflow=20)
    return Settings().replace(database_url=f"sqlite+aiosqlite:///{tmp_path / 'qulab.db'}")


def _tables() -> list[Table]:
    return [table for metadata in METADATA for table in metadata.sorted_tables]


async def _empty_tables(db: Database) -> None:
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            names = ", ".join(t.name for t in _tables())
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in reversed(_tables()):
                await conn.execute(table.delete())


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """QuLab built by ``bootstrap`` on a migrated, empty database of the parametrized backend
    (in-process cache, memory broker unless the test's settings say otherwise)."""
    rt = bootstrap(settings)
    database = rt.db
    if database.dialect == "sqlite":
        await migrate.upgrade(database)
    else:
        await _empty_tables(database)
    try:
        yield rt
    finally:
        try:
            if database.dialect == "postgresql":
                await _empty_tables(database)
        finally:
            await rt.close()


@pytest.fixture
def db(runtime: Runtime) -> Database:
    """A migrated, empty database on the parametrized backend (the runtime's)."""
    return runtime.db


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server on a spare port, for outage tests (stopped afterwards)."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
