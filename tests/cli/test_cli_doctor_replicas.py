"""``qulab doctor`` with read replicas: a line per standby, up, lagging or down, with its lag
and its address redacted; a standby down is exit 1, one lagging is a warning."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from qulab.core.config import get_settings
from qulab.lab.private_postgres import PrivateCluster, free_port
from tests.cli.conftest import Invoke, Result
from tests.replica_support import caught_up, received, replay_paused, replicated_database

__all__ = ["replicated_database"]  # the fixture, used by name

PASSWORD = "s3cret-pw"


def _lines(out: str) -> dict[str, tuple[str, str]]:
    found = {}
    for line in out.splitlines():
        component, status, detail = line.split(maxsplit=2)
        found[component] = (status, detail)
    return found


async def _commit_on_primary(cluster: PrivateCluster, database: str) -> str:
    """One committed transaction on the primary; the insert position after it."""
    conn = await asyncpg.connect(cluster.primary.dsn(database), timeout=5)
    try:
        await conn.fetchval("SELECT txid_current()")
        return str(await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
    finally:
        await conn.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_each_replica_has_a_line_up_or_down_with_its_address_redacted(
    qulab: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    replicated_postgres: PrivateCluster,
    replicated_database: str,
) -> None:
    standby = replicated_postgres.standbys[0].url(replicated_database)
    closed = free_port()
    gone = f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:{closed}/{replicated_database}"
    monkeypatch.setenv("QULAB_DATABASE_URL", replicated_postgres.primary.url(replicated_database))
    monkeypatch.setenv("QULAB_DATABASE_REPLICA_URLS", f"{standby},{gone}")
    get_settings.cache_clear()

    result = qulab("doctor")

    assert result.code == 1, result.out  # a standby is down
    lines = _lines(result.out)
    assert list(lines)[:4] == ["database", "replica1", "replica2", "schema"]
    status, detail = lines["replica1"]
    assert status == "ok" and detail.startswith(f"{standby}: up, lag "), detail
    assert " replayed " in detail
    status, detail = lines["replica2"]
    assert status == "down"
    assert detail.startswith(f"postgresql+asyncpg://postgres:***@127.0.0.1:{closed}/"), detail
    assert ": down, unreachable: " in detail
    assert lines["database"][0] == "ok" and lines["schema"][0] == "ok"
    assert PASSWORD not in result.out + result.err


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_replica_behind_its_limit_is_a_warning_naming_its_lag(
    qulab: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    replicated_postgres: PrivateCluster,
    replicated_database: str,
) -> None:
    standby = replicated_postgres.standbys[0].url(replicated_database)
    monkeypatch.setenv("QULAB_DATABASE_URL", replicated_postgres.primary.url(replicated_database))
    monkeypatch.setenv("QULAB_DATABASE_REPLICA_URLS", standby)
    monkeypatch.setenv("QULAB_REPLICA_MAX_LAG", "0.001")
    get_settings.cache_clear()

    async def doctor_while_behind() -> Result:
        async with replay_paused(replicated_postgres):
            position = await _commit_on_primary(replicated_postgres, replicated_database)
            await received(replicated_postgres, position)
            result = await asyncio.to_thread(qulab, "doctor", "--json")
        await caught_up(replicated_postgres)
        return result

    result = asyncio.run(doctor_while_behind())

    assert result.code == 0, result.out  # lagging is a warning: reads go to the primary meanwhile
    by_name = {item["component"]: item for item in json.loads(result.out)}
    replica = by_name["replica1"]
    assert replica["status"] == "warn"
    assert replica["detail"].startswith(f"{standby}: lagging "), replica
    assert "(max 0.001 s), replayed " in replica["detail"]
