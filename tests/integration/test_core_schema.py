"""``qulab.core.schema``: an application's first migration creates the core's tables exactly as
the models declare them and as the platform's migrations leave them at head."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.events import OpaqueEvent
from qulab.core.migrate import Migrations
from qulab.core.models import DomainEvent, metadata
from qulab.core.schema import CORE_TABLES, upgrade_core_tables
from qulab.platform import migrate as platform
from qulab.platform.uow import PlatformUnitOfWork
from tests import services

CORE_ONLY = Migrations(Path(__file__).parent / "core_schema")


def _url(backend: str, tmp_path: Path, name: str, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / name}.db"
        return
    request.getfixturevalue("postgres_url")  # the server, or a skip (a failure in CI)
    url = services.create_pg_database(f"qulab_test_{name}")
    try:
        yield url
    finally:
        services.drop_pg_database(url)


@pytest.fixture
def core_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database (SQLite file or PostgreSQL database of its own), dropped afterwards."""
    yield from _url(backend, tmp_path, "core_schema", request)


@pytest.fixture
def platform_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _url(backend, tmp_path, "platform_schema", request)


async def _migrated(url: str, migrations: Migrations) -> Database:
    db = Database(Settings().replace(database_url=url))
    await migrations.upgrade(db)
    return db


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, [metadata]))  # type: ignore[arg-type]  # a list, as Alembic's target_metadata


def _described(connection: Connection) -> dict[str, Any]:
    """Everything the database says about the core's tables, comparable across databases."""
    inspector = inspect(connection)
    described: dict[str, Any] = {}
    for table in CORE_TABLES:
        columns = [
            {**column, "type": str(column["type"])} for column in inspector.get_columns(table)
        ]
        indexes = sorted(
            (
                {
                    **index,
                    "dialect_options": {k: str(v) for k, v in index["dialect_options"].items()},
                }
                for index in inspector.get_indexes(table)
            ),
            key=lambda index: str(index["name"]),
        )
        described[table] = (columns, indexes, inspector.get_pk_constraint(table))
    if connection.dialect.name == "sqlite":
        described["triggers"] = connection.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        ).all()
    return described


async def test_the_first_migration_matches_the_core_models_exactly(core_url: str) -> None:
    db = await _migrated(core_url, CORE_ONLY)
    try:
        async with db.connect() as conn:
            assert await conn.run_sync(_diff) == []
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert tables == {*CORE_TABLES, "alembic_version"}
    finally:
        await db.dispose()


async def test_the_core_tables_are_those_the_platform_migrations_build(
    core_url: str, platform_url: str
) -> None:
    core = await _migrated(core_url, CORE_ONLY)
    built = await _migrated(platform_url, platform.MIGRATIONS)
    try:
        async with core.connect() as conn:
            created = await conn.run_sync(_described)
        async with built.connect() as conn:
            migrated = await conn.run_sync(_described)
    finally:
        await core.dispose()
        await built.dispose()
    assert created == migrated
    [events_columns, events_indexes, _] = created["domain_events"]
    txid = next(column for column in events_columns if column["name"] == "txid")
    if core.dialect == "postgresql":
        assert "pg_current_xact_id" in txid["default"]
        partial = {i["name"] for i in events_indexes if "postgresql_where" in i["dialect_options"]}
        assert partial == {
            "ix_events_pending_sequence",
            "ix_events_pending_txid",
            "ix_events_retrying_aggregate",
        }
    else:
        assert txid["default"] == "0"
        assert [name for name, _ in created["triggers"]] == ["trg_domain_events_sequence"]


async def test_recorded_events_are_numbered_in_commit_order_with_their_transaction(
    core_url: str,
) -> None:
    db = await _migrated(core_url, CORE_ONLY)
    try:
        for batch in (2, 1):
            async with PlatformUnitOfWork(db) as unit:
                for n in range(batch):
                    unit.record(OpaqueEvent("thing.happened", "Thing", f"thing-{n}", {"n": n}))
                await unit.commit()
        table = DomainEvent.__table__
        async with db.connect() as conn:
            rows = (
                await conn.execute(
                    select(table.c.sequence, table.c.txid, table.c.status).order_by(
                        table.c.sequence
                    )
                )
            ).all()
    finally:
        await db.dispose()
    assert [(sequence, status) for sequence, _, status in rows] == [
        (1, "pending"),
        (2, "pending"),
        (3, "pending"),
    ]
    txids = [txid for _, txid, _ in rows]
    if db.dialect == "postgresql":
        assert 0 not in txids
        assert txids[0] == txids[1] < txids[2]  # one transaction, then a later one
    else:
        assert txids == [0, 0, 0]


async def test_dropping_the_core_tables_leaves_an_empty_database(core_url: str) -> None:
    db = await _migrated(core_url, CORE_ONLY)
    try:
        await CORE_ONLY.downgrade(db, "base")
        async with db.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            if db.dialect == "sqlite":
                triggers = (
                    await conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
                ).all()
                assert triggers == []
        assert tables == {"alembic_version"}
        await CORE_ONLY.upgrade(db)
        async with db.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await db.dispose()


async def test_upgrading_core_tables_of_an_earlier_release_adds_the_trace_context(
    core_url: str,
) -> None:
    db = await _migrated(core_url, CORE_ONLY)
    try:
        async with db.engine.begin() as conn:
            # The shape an earlier create_core_tables made: no trace_context column.
            await conn.execute(text("ALTER TABLE domain_events DROP COLUMN trace_context"))
            assert await conn.run_sync(_diff) != []
            await conn.run_sync(_upgrade_core_tables)
            assert await conn.run_sync(_diff) == []
            await conn.run_sync(_upgrade_core_tables)  # already today's shape: nothing to do
            assert await conn.run_sync(_diff) == []
    finally:
        await db.dispose()


def _upgrade_core_tables(connection: Connection) -> None:
    upgrade_core_tables(Operations(MigrationContext.configure(connection)))
