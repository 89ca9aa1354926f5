"""``qulab outbox relay --once`` tells the truth: an outage is exit 1 and one line saying how
many events still wait; nothing is lost."""

from __future__ import annotations

import asyncio
import json

import pytest

from qulab.core.config import Settings, get_settings
from qulab.core.db import Database
from qulab.core.models import EventStatus
from tests.cli.conftest import Invoke
from tests.outbox_helpers import all_events, emit_events
from tests.services import free_port

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def _emit(url: str, count: int) -> list[str]:
    async def _go() -> list[str]:
        db = Database(Settings().replace(database_url=url))
        try:
            return await emit_events(db, count)
        finally:
            await db.dispose()

    return asyncio.run(_go())


def _statuses(url: str) -> set[str]:
    async def _go() -> set[str]:
        db = Database(Settings().replace(database_url=url))
        try:
            return {event.status for event in await all_events(db)}
        finally:
            await db.dispose()

    return asyncio.run(_go())


def test_once_with_the_broker_down_exits_1_and_says_how_many_events_wait(
    qulab: Invoke, database_url: str
) -> None:
    assert qulab("db", "upgrade").code == 0
    _emit(database_url, 3)
    port = free_port()
    result = qulab("outbox", "relay", "--once", "--broker", f"redis://127.0.0.1:{port}/0")
    assert result.code == 1
    assert result.err.startswith(f"error: broker unavailable: Redis at redis://127.0.0.1:{port}")
    assert result.err.endswith("; published 0, 3 event(s) still pending\n")
    assert result.err.count("\n") == 1
    assert _statuses(database_url) == {EventStatus.PENDING.value}


def test_once_with_the_broker_down_and_json_still_exits_1(qulab: Invoke, database_url: str) -> None:
    assert qulab("db", "upgrade").code == 0
    _emit(database_url, 2)
    port = free_port()
    result = qulab("outbox", "relay", "--once", "--json", "--broker", f"redis://127.0.0.1:{port}/0")
    assert result.code == 1
    shown = json.loads(result.out)
    assert (shown["published"], shown["pending"]) == (0, 2)
    assert shown["outage"].startswith("BrokerUnavailable: Redis at")


def test_once_with_the_database_down_exits_1_in_one_line(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("QULAB_DATABASE_URL", f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x")
    get_settings.cache_clear()
    result = qulab("outbox", "relay", "--once", "--yes", "--broker", "memory://")
    assert result.code == 1
    assert result.err.startswith("error: database unreachable: ")
    assert result.err.endswith("; events stay pending\n")
    assert result.err.count("\n") == 1


def test_once_with_everything_up_exits_0(qulab: Invoke, database_url: str) -> None:
    assert qulab("db", "upgrade").code == 0
    _emit(database_url, 2)
    result = qulab("outbox", "relay", "--once", "--yes", "--json", "--broker", "memory://")
    assert result.code == 0
    assert json.loads(result.out)["published"] == 2
    assert _statuses(database_url) == {EventStatus.PUBLISHED.value}


def test_once_with_nats_down_exits_1_in_one_line_without_the_password(
    qulab: Invoke, database_url: str
) -> None:
    assert qulab("db", "upgrade").code == 0
    _emit(database_url, 2)
    port = free_port()
    result = qulab("outbox", "relay", "--once", "--broker", f"nats://lab:S3cretPW@127.0.0.1:{port}")
    assert result.code == 1
    assert result.err.startswith(
        f"error: broker unavailable: NATS at nats://lab:***@127.0.0.1:{port}"
    )
    assert result.err.endswith("; published 0, 2 event(s) still pending\n")
    assert result.err.count("\n") == 1
    assert "S3cretPW" not in result.err
    assert _statuses(database_url) == {EventStatus.PENDING.value}
