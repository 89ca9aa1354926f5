"""``qulab outbox relay`` refuses the in-process memory:// broker of a one-shot command (the
events would be marked published into a broker that dies with it) unless told ``--yes``; a
real broker is used without a word."""

from __future__ import annotations

import asyncio
import json

import pytest

from qulab.core.config import Settings, get_settings
from qulab.core.db import Database
from qulab.core.models import EventStatus
from tests import services
from tests.cli.conftest import Invoke
from tests.outbox_helpers import all_events, emit_events

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

REFUSED = (
    "error: the memory:// broker lives in this process only: nothing outside it would see the "
    "events, yet they would be marked published; pass --yes to relay anyway, or set "
    "QULAB_BROKER_URL (or --broker) to a real broker\n"
)


def _emit(url: str, count: int) -> None:
    async def _go() -> None:
        db = Database(Settings().replace(database_url=url))
        try:
            await emit_events(db, count)
        finally:
            await db.dispose()

    asyncio.run(_go())


def _statuses(url: str) -> list[str]:
    async def _go() -> list[str]:
        db = Database(Settings().replace(database_url=url))
        try:
            return [event.status for event in await all_events(db)]
        finally:
            await db.dispose()

    return asyncio.run(_go())


@pytest.fixture
def pending(qulab: Invoke, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Two pending events, and no QULAB_BROKER_URL: the default memory:// broker."""
    monkeypatch.delenv("QULAB_BROKER_URL", raising=False)
    get_settings.cache_clear()
    assert qulab("db", "upgrade").code == 0
    _emit(database_url, 2)
    return qulab


@pytest.mark.parametrize(
    "args",
    [
        ("outbox", "relay", "--once"),
        ("outbox", "relay"),
        ("outbox", "relay", "--once", "--json"),
        ("outbox", "relay", "--once", "--broker", "memory://"),
        ("outbox", "relay", "--once", "--broker", "memory://other?maxlen=5"),
    ],
)
def test_the_memory_broker_is_refused_in_one_line_and_nothing_is_marked(
    pending: Invoke, database_url: str, args: tuple[str, ...]
) -> None:
    result = pending(*args)
    assert (result.code, result.out, result.err) == (2, "", REFUSED)
    assert _statuses(database_url) == [EventStatus.PENDING.value] * 2


def test_yes_relays_to_the_memory_broker_anyway(pending: Invoke, database_url: str) -> None:
    result = pending("outbox", "relay", "--once", "--yes", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["published"] == 2
    assert _statuses(database_url) == [EventStatus.PUBLISHED.value] * 2


def test_a_configured_broker_is_used_without_asking(
    pending: Invoke, database_url: str, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    prefix = services.unique_name("qulab_test") + ":"
    monkeypatch.setenv("QULAB_BROKER_URL", redis_url)
    monkeypatch.setenv("QULAB_OUTBOX_STREAM_PREFIX", prefix)
    get_settings.cache_clear()
    try:
        result = pending("outbox", "relay", "--once")
        assert result.code == 0, result.err
        assert result.err == "published 2, retrying 0, failed 0\n"
        assert _statuses(database_url) == [EventStatus.PUBLISHED.value] * 2
    finally:
        asyncio.run(services.delete_redis_prefix(prefix))
