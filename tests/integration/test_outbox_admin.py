"""Operating the outbox: status, replay, purge (library and CLI), on both backends."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from sqlalchemy import update

from qulab.core.db import Database
from qulab.core.errors import InvalidInput, NotFound
from qulab.core.models import DomainEvent, utcnow
from qulab.core.outbox import (
    MemoryBroker,
    RetryPolicy,
    outbox_status,
    publish_pending,
    purge_published,
    replay,
)
from qulab.entrypoints.cli import main
from tests.outbox_helpers import RejectingPublisher, all_events, emit_events

ONE_SHOT = RetryPolicy(max_attempts=1)


async def test_status_counts_lag_and_recent_failures(db: Database) -> None:
    empty = await outbox_status(db)
    assert empty.counts == {"pending": 0, "published": 0, "failed": 0}
    assert empty.lag_seconds is None

    ids = await emit_events(db, 4)
    await publish_pending(db, RejectingPublisher(MemoryBroker("t", 10), {ids[0]}), policy=ONE_SHOT)
    await emit_events(db, 2)
    status = await outbox_status(db)
    assert status.counts == {"pending": 2, "published": 3, "failed": 1}
    assert status.lag_seconds is not None and status.lag_seconds >= 0
    assert [f.id for f in status.recent_failures] == [ids[0]]
    assert status.recent_failures[0].last_error == "rejected: poison"


async def test_replay_failed_puts_dead_letters_back_to_pending(db: Database) -> None:
    ids = await emit_events(db, 3)
    await publish_pending(db, RejectingPublisher(MemoryBroker("t", 10), {ids[1]}), policy=ONE_SHOT)
    assert await replay(db, failed=True) == 1
    event = {e.id: e for e in await all_events(db)}[ids[1]]
    assert (event.status, event.attempts, event.next_attempt_at) == ("pending", 0, None)
    assert (await publish_pending(db, MemoryBroker("t2", 10))).published == 1


async def test_replay_of_unknown_ids_changes_nothing(db: Database) -> None:
    ids = await emit_events(db, 2)
    await publish_pending(db, MemoryBroker("t", 10))
    with pytest.raises(NotFound, match="event"):
        await replay(db, [ids[0], "00000000-0000-4000-8000-000000000000"])
    with pytest.raises(InvalidInput):
        await replay(db)
    assert {e.status for e in await all_events(db)} == {"published"}
    assert await replay(db, [ids[0]]) == 1


async def test_purge_deletes_only_old_published_events_in_pages(db: Database) -> None:
    ids = await emit_events(db, 7)
    await publish_pending(db, RejectingPublisher(MemoryBroker("t", 10), {ids[0]}), policy=ONE_SHOT)
    old = utcnow() - timedelta(days=8)
    async with db.session_scope() as session:
        await session.execute(
            update(DomainEvent).where(DomainEvent.id.in_(ids[:5])).values(published_at=old)
        )
    # ids[0] is failed (never purged), ids[1:5] are old and published, ids[5:] are recent
    assert await purge_published(db, timedelta(days=7), page_size=2) == 4
    assert [e.id for e in await all_events(db)] == [ids[0], *ids[5:]]


async def test_cli_status_and_purge_speak_json(
    db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QULAB_DATABASE_URL", db.settings.database.url)
    from qulab.core.config import get_settings

    get_settings.cache_clear()
    try:
        await emit_events(db, 2)
        assert await _run(["outbox", "status", "--json"]) == 0
        status = orjson.loads(capsys.readouterr().out)
        assert status["counts"]["pending"] == 2
        assert await _run(["outbox", "purge", "--published-older-than", "soon"]) == 2
        assert "--published-older-than" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()


async def _run(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)
