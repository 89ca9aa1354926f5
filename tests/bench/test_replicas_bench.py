"""The replicas benchmark runs end to end with tiny sizes on a primary with two standbys: its
tables have every case and column, the reads after a write are none stale. Structure only."""

from __future__ import annotations

import asyncpg
from bench.harness import REGISTRY, BenchConfig
from bench.replicas import CONTENDERS, DATABASE, QUICK_READS, QUICK_WRITES, measure

from qulab.lab.private_postgres import PrivateCluster


async def test_replicas_benchmark_compares_zero_one_and_two_replicas_and_reads_after_writes(
    two_standby_postgres: PrivateCluster,
) -> None:
    assert "replicas" in REGISTRY and REGISTRY["replicas"].needs == ()  # starts its own servers
    config = BenchConfig.smoke()

    report = await measure(two_standby_postgres, config)

    reads, ratios, after_write = report.tables
    assert [row[0] for row in reads.rows] == list(CONTENDERS)
    assert all(len(row) == len(reads.columns) for row in reads.rows)
    assert [row[1] for row in reads.rows] == [1, 1, 1]  # one timed round each
    assert reads.rows[0][-1] == "-"  # the primary alone routes nothing
    assert [row[0] for row in ratios.rows] == list(CONTENDERS) and ratios.rows[0][1] == 1.0
    assert [row[0] for row in after_write.rows] == [CONTENDERS[0], CONTENDERS[2]]
    assert [row[1] for row in after_write.rows] == [QUICK_WRITES, QUICK_WRITES]
    assert [row[-1] for row in after_write.rows] == [0, 0]  # no stale read after a write
    replicated = after_write.rows[1]
    assert replicated[7] + replicated[8] == QUICK_WRITES  # each read: a replica or a fallback
    served = report.raw["reads"][CONTENDERS[2]][0]
    assert served["served"] + served["fallbacks"] == QUICK_READS
    assert report.targets[0].description == "stale reads after a write (token holders)"
    assert any("overhead, not capacity" in note for note in report.notes)
    conn = await asyncpg.connect(two_standby_postgres.primary.dsn(), timeout=5)
    try:
        left = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", DATABASE)
    finally:
        await conn.close()
    assert left == 0  # its database is dropped
