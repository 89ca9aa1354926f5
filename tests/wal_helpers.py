"""The log-tailing relay's tests: a migrated database of their own on the private primary with
``wal_level=logical``, its runtime in ``wal`` mode, and the slot removed before the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from qulab.core.bootstrap import Runtime
from qulab.core.config import Settings
from qulab.lab import migrate
from qulab.lab.private_postgres import PrivateCluster
from qulab.platform.application import bootstrap
from tests import services


@asynccontextmanager
async def wal_runtime(
    cluster: PrivateCluster, mode: str = "wal", **settings: object
) -> AsyncIterator[Runtime]:
    """A fresh, migrated database on ``cluster``'s primary and a runtime on it (relay mode
    ``mode``); afterwards its replication slots and the database itself are dropped."""
    name = services.unique_name("qulab_wal")
    admin = await asyncpg.connect(cluster.primary.dsn())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = cluster.primary.url(name)
    runtime = bootstrap(
        Settings().replace(database_url=url, relay_mode=mode, relay_interval=0.05, **settings)
    )
    try:
        await migrate.upgrade(runtime.db)
        yield runtime
    finally:
        await runtime.close()
        await drop_database(cluster, name)


async def drop_database(cluster: PrivateCluster, name: str) -> None:
    admin = await asyncpg.connect(cluster.primary.dsn())
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
            "WHERE database = $1 AND active_pid IS NOT NULL",
            name,
        )
        await admin.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = $1",
            name,
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def with_mode(runtime: Runtime, mode: str) -> Settings:
    return runtime.settings.replace(relay_mode=mode)


def create_wal_database(cluster: PrivateCluster) -> str:
    """A migrated database on ``cluster`` for tests that run synchronously (the CLI); returns
    its URL. ``drop_wal_database`` removes it with its slots."""
    name = services.unique_name("qulab_wal")

    async def _create() -> None:
        admin = await asyncpg.connect(cluster.primary.dsn())
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        runtime = bootstrap(Settings().replace(database_url=cluster.primary.url(name)))
        try:
            await migrate.upgrade(runtime.db)
        finally:
            await runtime.close()

    asyncio.run(_create())
    return cluster.primary.url(name)


def drop_wal_database(cluster: PrivateCluster, url: str) -> None:
    asyncio.run(drop_database(cluster, url.rpartition("/")[2]))
