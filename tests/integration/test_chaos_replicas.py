"""``qulab chaos --replicas 1`` on the session's primary and standby: while relays and consumers
are killed, readers read through the cache from the standby with its replay paused at moments,
and every writer that reads its rename back with its token sees it (0 stale reads)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import asyncpg

from qulab.lab.private_postgres import PrivateCluster
from tests.consumer_support import ROOT


def _fields(out: str) -> dict[str, str]:
    """``field  value`` lines of the plain (not a terminal) report."""
    return dict(re.findall(r"^(\w+) +(.+)$", out, flags=re.MULTILINE))


async def _databases_like(cluster: PrivateCluster, name: str) -> int:
    conn = await asyncpg.connect(cluster.primary.dsn(), timeout=5)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def test_a_small_chaos_with_a_replica_has_no_stale_read_after_a_write(
    replicated_postgres: PrivateCluster, redis_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    env["QULAB_DATABASE_URL"] = replicated_postgres.primary.url()
    env["QULAB_DATABASE_REPLICA_URLS"] = replicated_postgres.standbys[0].url()
    args = ["--replicas", "1", "--consumers", "1", "--events", "60", "--kills", "1", "--seed", "5"]
    result = subprocess.run(
        [sys.executable, "-m", "qulab", "chaos", *args, "--broker", redis_url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "stale reads after a write (token holders): 0\n" in result.stdout
    assert result.stdout.endswith("passed\n")
    shown = _fields(result.stdout)
    assert (shown["events"], shown["lost"], shown["inversions"]) == ("60", "0", "0")
    assert shown["replicas"] == "1"
    assert int(shown["reads_after_write"]) > 0  # renames read back by their writers
    assert shown["stale_reads_after_write"] == "0"
    assert int(shown["cache_reads"]) > 0 and int(shown["replica_served"]) > 0
    assert int(shown["replay_pauses"]) > 0  # the standby lagged on purpose
    database = shown["scratch_database"]
    assert database.startswith("qulab_chaos_")
    assert asyncio.run(_databases_like(replicated_postgres, database)) == 0  # removed


def test_more_replicas_than_configured_is_refused_in_one_line(
    replicated_postgres: PrivateCluster,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    env["QULAB_DATABASE_URL"] = replicated_postgres.primary.url()
    env["QULAB_DATABASE_REPLICA_URLS"] = replicated_postgres.standbys[0].url()
    result = subprocess.run(
        [sys.executable, "-m", "qulab", "chaos", "--replicas", "2", "--broker", "redis://h:1/0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: --replicas: QULAB_DATABASE_REPLICA_URLS names only 1 standby(s)\n"
    )
