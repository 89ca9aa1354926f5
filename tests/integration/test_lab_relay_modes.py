"""Page 5's polling vs log-tailing scenario on a private PostgreSQL with ``wal_level=logical``:
the same events through both relays, their exact round trips, the rows each writes, the slot
moving, and the WAL a stopped relay keeps."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from qulab.core import ConfigurationError, Settings, open_database
from qulab.lab.private_postgres import PrivateCluster
from qulab.lab.relay_modes import compare_relay_modes, logical_wal_missing


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
    result = await compare_relay_modes(lab_settings(logical_postgres), events=40, stopped_events=300)
    print(result)
    polling, wal = result.polling, result.wal
    assert result.same_events
    assert (polling.published, wal.published) == (40, 40)
    assert (polling.rows_marked, polling.rows_deleted, polling.event_updates) == (40, 0, 2)
    assert (wal.rows_marked, wal.rows_deleted, wal.event_updates) == (0, 40, 0)
    assert wal.position_before != wal.position_after
    retained = result.retained
    assert retained.stopped_bytes > retained.idle_bytes
    assert retained.released_bytes < retained.stopped_bytes
    assert retained.position_released != retained.position_stopped
    assert await scratch_left(logical_postgres) == []
