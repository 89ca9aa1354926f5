"""``qulab lab replica up|status|down`` starts a learner's primary and standby, prints the lines
that point QuLab at them, and removes them again only when told to."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg


def qulab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qulab", "lab", "replica", *args],
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def wal_level(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval("SELECT current_setting('wal_level')"))
    finally:
        await conn.close()


async def standby_facts(url: str) -> tuple[bool, str]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval("SELECT pg_is_in_recovery()"), await conn.fetchval(
            "SELECT current_database()"
        )
    finally:
        await conn.close()


def test_up_starts_a_primary_and_a_standby_and_down_removes_them(postgres_programs: Path) -> None:
    directory = Path(tempfile.mkdtemp(prefix="qulab-replica-test-")) / "pair"
    directory.parent.chmod(0o755)  # the servers run as the postgres user, who must reach it
    try:
        started = as_json(qulab("up", "--dir", str(directory), "--json"))
        assert started["primary_running"] and started["standby_running"]
        assert started["environment"] == [
            f"QULAB_DATABASE_URL={started['primary_url']}",
            f"QULAB_DATABASE_REPLICA_URLS={started['replica_url']}",
        ]
        assert asyncio.run(standby_facts(started["replica_url"])) == (True, "qulab")
        assert asyncio.run(wal_level(started["primary_url"])) == "logical"  # the WAL relay too
        assert as_json(qulab("up", "--dir", str(directory), "--json")) == started  # already up

        shown = qulab("status", "--dir", str(directory))
        assert shown.returncode == 0, shown.stderr
        assert f"export QULAB_DATABASE_REPLICA_URLS={started['replica_url']}" in shown.stdout

        refused = qulab("down", "--dir", str(directory))
        assert refused.returncode == 2
        assert refused.stderr.startswith("error: `qulab lab replica down` deletes the pair's data")
        assert as_json(qulab("status", "--dir", str(directory), "--json"))["standby_running"]

        removed = as_json(qulab("down", "--dir", str(directory), "--yes", "--json"))
        assert removed["exists"] is False and removed["environment"] == []
        assert not directory.exists()
    finally:
        if directory.exists():
            qulab("down", "--dir", str(directory), "--yes")
        shutil.rmtree(directory.parent, ignore_errors=True)
