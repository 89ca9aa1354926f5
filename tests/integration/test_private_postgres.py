"""The private servers the replica and log-tailing tests run on are what they claim to be."""

from __future__ import annotations

import asyncpg

from qulab.lab.private_postgres import PrivateCluster
from tests.waiting import eventually


async def test_the_logical_primary_decodes_its_write_ahead_log(
    logical_postgres: PrivateCluster,
) -> None:
    conn = await asyncpg.connect(logical_postgres.primary.dsn())
    try:
        assert await conn.fetchval("SHOW wal_level") == "logical"
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is False
    finally:
        await conn.close()


async def test_the_standby_replays_what_the_primary_commits(
    replicated_postgres: PrivateCluster,
) -> None:
    primary = await asyncpg.connect(replicated_postgres.primary.dsn())
    standby = await asyncpg.connect(replicated_postgres.standbys[0].dsn())
    try:
        assert await standby.fetchval("SELECT pg_is_in_recovery()") is True
        await primary.execute("CREATE TABLE private_probe (n int)")
        await primary.execute("INSERT INTO private_probe VALUES (7)")
        written = await primary.fetchval("SELECT pg_current_wal_lsn()")

        async def replayed() -> bool:
            return bool(
                await standby.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", written)
            )

        await eventually(replayed, "the standby to replay the insert")
        assert await standby.fetchval("SELECT n FROM private_probe") == 7
    finally:
        await primary.execute("DROP TABLE IF EXISTS private_probe")
        await primary.close()
        await standby.close()
