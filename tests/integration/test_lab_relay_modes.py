"""Page 5's polling vs log-tailing scenario on a private PostgreSQL with ``wal_level=logical``:
the same events through both relays, their exact round trips, the rows each writes, the slot
moving, and the WAL a stopped relay keeps; and what it says where it cannot run."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from qulab.core import ConfigurationError, Settings, open_database
from qulab.lab.private_postgres import PrivateCluster
from qulab.lab.relay_modes import START_COMMAND, compare_relay_modes, logical_wal_missing

POLLING_STATEMENTS = 10  # set-up, lease, the claim and the fence check, the mark, release
WAL_STATEMENTS = 10  # taking the slot, the failures record, the mark, the delete-and-count


def lab_settings(cluster: PrivateCluster) -> Settings:
    return Settings().replace(database_url=cluster.primary.url("postgres"))


async def scratch_left(cluster: PrivateCluster) -> list[str]:
    conn = await asyncpg.connect(cluster.primary.dsn())
    try:
        databases = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'qulab_relaylab_%'"
        )
        slots = await conn.fetch(
            "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'qulab_relaylab_%'"
        )
    finally:
        await conn.close()
    return [r[0] for r in databases] + [r[0] for r in slots]


async def test_both_relays_publish_the_same_events_and_only_polling_marks_rows(
    logical_postgres: PrivateCluster,
) -> None:
    result = await compare_relay_modes(lab_settings(logical_postgres), events=40, stopped_events=5)
    polling, wal = result.polling, result.wal
    assert result.same_events
    assert (polling.published, wal.published) == (40, 40)
    assert (polling.statements, wal.statements) == (POLLING_STATEMENTS, WAL_STATEMENTS)
    assert (polling.rows_marked, polling.rows_deleted, polling.event_updates) == (40, 0, 2)
    assert (wal.rows_marked, wal.rows_deleted, wal.event_updates) == (0, 40, 0)
    assert (polling.position_before, polling.position_after) == (None, None)
    assert wal.position_before is not None and wal.position_after is not None
    assert wal.position_before != wal.position_after  # the slot moved past the batch
    assert await scratch_left(logical_postgres) == []


async def test_a_batch_costs_the_same_round_trips_whatever_its_size(
    logical_postgres: PrivateCluster,
) -> None:
    result = await compare_relay_modes(lab_settings(logical_postgres), events=90, stopped_events=5)
    assert (result.polling.statements, result.wal.statements) == (
        POLLING_STATEMENTS,
        WAL_STATEMENTS,
    )
    assert (result.polling.rows_marked, result.wal.rows_deleted) == (90, 90)
    assert result.polling.statements_per_event == pytest.approx(POLLING_STATEMENTS / 90)


async def test_a_small_configured_batch_size_still_compares_one_batch(
    logical_postgres: PrivateCluster,
) -> None:
    settings = lab_settings(logical_postgres).replace(relay_batch_size=10)
    result = await compare_relay_modes(settings, events=40, stopped_events=5)
    assert (result.polling.statements, result.wal.statements) == (
        POLLING_STATEMENTS,
        WAL_STATEMENTS,
    )
    assert (result.polling.rows_marked, result.polling.event_updates) == (40, 2)
    assert result.wal.rows_deleted == 40


async def test_a_stopped_relay_keeps_wal_and_releases_it_when_it_runs_again(
    logical_postgres: PrivateCluster,
) -> None:
    result = await compare_relay_modes(lab_settings(logical_postgres), events=5, stopped_events=300)
    kept = result.retained
    assert kept.checkpointed  # the private server's user is a superuser
    assert kept.events == 300
    assert kept.stopped_bytes > kept.idle_bytes
    assert kept.released_bytes < kept.stopped_bytes
    assert kept.position_released != kept.position_stopped
    assert await scratch_left(logical_postgres) == []


async def test_sqlite_is_told_what_the_comparison_needs(tmp_path: Path) -> None:
    settings = Settings().replace(database_url=f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}")
    db = open_database(settings)
    try:
        missing = await logical_wal_missing(db)
    finally:
        await db.dispose()
    assert missing is not None
    assert missing.startswith("The lab's database is sqlite.")
    assert f"Run `{START_COMMAND}`" in missing and "QULAB_DATABASE_URL" in missing
    with pytest.raises(ConfigurationError, match="wal_level=logical"):
        await compare_relay_modes(settings)


async def test_a_logical_postgres_needs_nothing(logical_postgres: PrivateCluster) -> None:
    db = open_database(lab_settings(logical_postgres))
    try:
        assert await logical_wal_missing(db) is None
    finally:
        await db.dispose()


async def test_a_postgres_without_logical_wal_is_told_its_level_and_no_scratch_is_made(
    postgres_url: str,
) -> None:
    settings = Settings().replace(database_url=postgres_url)
    db = open_database(settings)
    try:
        async with db.connect() as conn:
            level = await conn.scalar(text("SELECT current_setting('wal_level')"))
        if level == "logical":
            pytest.skip("the shared PostgreSQL runs with wal_level=logical")
        missing = await logical_wal_missing(db)
        with pytest.raises(ConfigurationError) as raised:
            await compare_relay_modes(settings)
        async with db.connect() as conn:
            scratch = await conn.scalar(
                text("SELECT count(*) FROM pg_database WHERE datname LIKE 'qulab_relaylab_%'")
            )
    finally:
        await db.dispose()
    assert missing == str(raised.value)
    assert missing.startswith(f"The lab's PostgreSQL runs with wal_level={level}.")
    assert scratch == 0
