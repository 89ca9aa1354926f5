"""``qulab chaos --relay-mode wal`` on each broker: log-tailing relays (one active, one waiting
on the slot) and consumers killed at random, and nothing lost, reordered or applied twice; the
scratch database and its replication slot are gone afterwards."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from qulab.lab.private_postgres import PrivateCluster
from tests.integration.test_chaos import BROKER_URLS, chaos


@pytest.mark.parametrize("broker", sorted(BROKER_URLS))
def test_a_chaos_run_with_log_tailing_relays_loses_nothing_and_applies_nothing_twice(
    broker: str, logical_postgres: PrivateCluster, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue(BROKER_URLS[broker]))
    args = ["--relay-mode", "wal", "--relays", "2", "--consumers", "2", "--events", "150"]
    result = chaos(
        *args,
        "--kills",
        "4",
        "--broker",
        url,
        "--seed",
        "3",
        "--json",
        database_url=logical_postgres.primary.url(),
    )

    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert (report["relay_mode"], report["events"], report["kills"]) == ("wal", 150, 4)
    assert (report["lost"], report["inversions"], report["duplicate_effects"]) == (0, 0, 0)
    assert report["projection_matches"] is True
    assert "killed " in result.stderr
    left = asyncio.run(_left_behind(logical_postgres, report["scratch_database"]))
    assert left == (0, 0)


async def _left_behind(cluster: PrivateCluster, database: str) -> tuple[int, int]:
    conn = await asyncpg.connect(cluster.primary.dsn())
    try:
        databases = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = $1", database
        )
        slots = await conn.fetchval(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", database
        )
    finally:
        await conn.close()
    return int(databases), int(slots)
