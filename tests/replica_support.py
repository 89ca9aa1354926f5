"""A database on the private primary and its standby (``replicated_postgres``), runtimes that
read from the standby, and the standby's replay paused and resumed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from qulab.core.bootstrap import Runtime
from qulab.core.config import Settings
from qulab.lab import migrate
from qulab.lab.private_postgres import PostgresServer, PrivateCluster
from qulab.platform.application import bootstrap
from tests import services
from tests.waiting import eventually

REPLICA_OPTIONS = {
    "replica_check_interval": 0.05,
    "replica_wait_ms": 100,
    "replica_max_lag": 60,  # replay paused for a while is still a standby to read from
    "pool_size": 4,
    "max_overflow": 4,
}


@pytest.fixture(scope="session")
def replicated_database(replicated_postgres: PrivateCluster) -> Iterator[str]:
    """A database of this run on the private primary, migrated to head (it replicates to the
    standby); the name, dropped at the end."""
    name = services.unique_name("qulab_replicas")
    primary = replicated_postgres.primary

    async def _create() -> None:
        conn = await asyncpg.connect(primary.dsn(), timeout=5)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        async with bootstrap(Settings().replace(database_url=primary.url(name))) as rt:
            await migrate.upgrade(rt.db)
        await caught_up(replicated_postgres)  # the standby has the database and its tables

    async def _drop() -> None:
        conn = await asyncpg.connect(primary.dsn(), timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(_create())
    try:
        yield name
    finally:
        asyncio.run(_drop())


def replica_settings(
    cluster: PrivateCluster, name: str, *replicas: str, **changes: object
) -> Settings:
    """Settings reading ``name`` on the primary with the standby (or ``replicas``) for reads."""
    urls = ",".join(replicas or [cluster.standbys[0].url(name)])
    options = {**REPLICA_OPTIONS, **changes}
    return Settings().replace(
        database_url=cluster.primary.url(name), database_replica_urls=urls, **options
    )


@asynccontextmanager
async def replica_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with bootstrap(settings) as runtime:
        yield runtime


async def lsn(server: PostgresServer, query: str) -> str:
    conn = await asyncpg.connect(server.dsn(), timeout=5)
    try:
        return str(await conn.fetchval(query))
    finally:
        await conn.close()


async def caught_up(cluster: PrivateCluster) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    written = await lsn(cluster.primary, "SELECT pg_current_wal_insert_lsn()::text")
    standby = cluster.standbys[0]

    async def replayed() -> bool:
        return await lsn(standby, f"SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn") == (
            "True"
        )

    await eventually(replayed, f"the standby to replay up to {written}")


async def _standby_sql(cluster: PrivateCluster, statement: str) -> None:
    conn = await asyncpg.connect(cluster.standbys[0].dsn(), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def replay_paused(cluster: PrivateCluster) -> AsyncIterator[None]:
    """The standby keeps receiving WAL but replays none of it inside the block (resumed after,
    whatever happens)."""
    await _standby_sql(cluster, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        await _standby_sql(cluster, "SELECT pg_wal_replay_resume()")


async def received(cluster: PrivateCluster, position: str) -> None:
    """Wait until the standby has received (not necessarily replayed) ``position``."""
    standby = cluster.standbys[0]

    async def got() -> bool:
        query = f"SELECT pg_last_wal_receive_lsn() >= '{position}'::pg_lsn"
        return await lsn(standby, query) == "True"

    await eventually(got, f"the standby to receive {position}")
