"""Databases for benchmarks: a PostgreSQL database created and dropped per run, a SQLite file
in a temporary directory, both migrated to head. Nothing a benchmark did not create is touched.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.harness import POSTGRESQL, WHERE, BenchConfig, bench_settings, required
from qulab.core.db import Database
from qulab.core.urls import redact_text, redact_url
from qulab.platform import migrate
from qulab.platform.application import bootstrap


def raw_dsn(url: str) -> str:
    """The asyncpg DSN of a ``postgresql+asyncpg://`` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def postgres_unavailable(config: BenchConfig) -> str | None:
    """Why PostgreSQL cannot be used (None when it can)."""
    if not config.postgres_url:
        return f"not configured: {WHERE[POSTGRESQL]}"
    url = config.postgres_url
    try:
        conn = await asyncpg.connect(raw_dsn(url), timeout=5)
    except (OSError, ValueError, asyncpg.PostgresError) as error:
        return f"cannot connect to {redact_url(url)}: {redact_text(str(error), url)}"
    await conn.close()
    return None


@asynccontextmanager
async def postgres_url(config: BenchConfig, prefix: str = "qulab_bench") -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one benchmark; dropped afterwards."""
    server = required(config.postgres_url, POSTGRESQL)
    admin_dsn = raw_dsn(server)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def sqlite_url(config: BenchConfig) -> AsyncIterator[str]:
    """A SQLite file in a temporary directory that is removed afterwards."""
    config.sqlite_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qulab-bench-", dir=config.sqlite_dir) as directory:
        yield f"sqlite+aiosqlite:///{directory}/bench.db"


@asynccontextmanager
async def migrated(url: str, **settings: Any) -> AsyncIterator[Database]:
    """A Database on ``url`` (assembled by ``bootstrap``) with the schema at head, closed
    afterwards."""
    async with bootstrap(bench_settings(database_url=url, **settings)) as runtime:
        await migrate.upgrade(runtime.db)
        yield runtime.db
