"""``qulab outbox relay``, ``outbox status`` and ``doctor`` with ``QULAB_RELAY_MODE=wal``: the
log-tailing relay from the command line, on a private PostgreSQL with ``wal_level=logical``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from qulab.core.config import Settings, get_settings
from qulab.entrypoints.cli import main
from qulab.lab.private_postgres import PrivateCluster
from qulab.platform.application import bootstrap
from tests import services
from tests.cli.conftest import Invoke, Result
from tests.outbox_helpers import emit_events
from tests.wal_helpers import create_wal_database, drop_wal_database


@pytest.fixture
def wal_url(logical_postgres: PrivateCluster) -> Iterator[str]:
    url = create_wal_database(logical_postgres)
    try:
        yield url
    finally:
        drop_wal_database(logical_postgres, url)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A stream prefix of this test; every key under it is deleted afterwards."""
    prefix = services.unique_name("qulab_walcli") + ":"
    yield prefix
    asyncio.run(services.delete_redis_prefix(prefix))


def invoke(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> Invoke:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def _emit(url: str, count: int) -> list[str]:
    async def _go() -> list[str]:
        async with bootstrap(Settings().replace(database_url=url)) as runtime:
            return await emit_events(runtime.db, count)

    return asyncio.run(_go())


def test_the_relay_command_tails_the_log_and_status_and_doctor_show_it(
    wal_url: str,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "QULAB_DATABASE_URL": wal_url,
        "QULAB_RELAY_MODE": "wal",
        "QULAB_BROKER_URL": services.REDIS_URL,
        "QULAB_OUTBOX_STREAM_PREFIX": prefix,
        "QULAB_REDIS_URL": "",
    }
    qulab = invoke(capsys, monkeypatch, env)
    try:
        first = qulab("outbox", "relay", "--once", "--json")
        _emit(wal_url, 3)
        second = qulab("outbox", "relay", "--once", "--json")
        status = qulab("outbox", "status", "--json")
        doctor = qulab("doctor", "--json")
    finally:
        get_settings.cache_clear()
    assert (first.code, json.loads(first.out)["published"]) == (0, 0)
    assert (second.code, json.loads(second.out)["published"]) == (0, 3)
    counts = json.loads(status.out)["counts"]
    assert (counts["published"], counts["pending"], counts["failed"]) == (3, 0, 0)
    relay = next(c for c in json.loads(doctor.out) if c["component"] == "relay")
    assert relay["status"] == "ok" and "slot qulab_outbox keeps" in relay["detail"]


def test_wal_mode_on_sqlite_is_refused_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "QULAB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/wal.db",
        "QULAB_RELAY_MODE": "wal",
    }
    qulab = invoke(capsys, monkeypatch, env)
    try:
        qulab("setup")
        refused = qulab("outbox", "relay", "--once", "--yes")
    finally:
        get_settings.cache_clear()
    assert refused.code == 2
    assert refused.err.count("\n") == 1 and "QULAB_RELAY_MODE=wal needs PostgreSQL" in refused.err
