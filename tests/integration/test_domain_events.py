"""Every write goes through the unit of work and its bus: bulk removals invalidate the cache,
a failing handler never undoes a commit, and the relay repairs invalidations the writer could
not deliver, without letting a cache outage hold up publishing."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest
from sqlalchemy import func, select

from qulab.core.cache import Cache, Outcome
from qulab.core.db import Database
from qulab.core.models import DomainEvent
from qulab.core.outbox import MemoryBroker, Relay, publish_pending
from qulab.platform.cache import read_latest_score_cached, read_user_cached
from qulab.platform.events import Event, OpaqueEvent, UsersRemoved, UserUpdated
from qulab.platform.models import User
from qulab.platform.services import seeding
from qulab.platform.uow import PlatformUnitOfWork
from tests.cache_support import delete_prefix, make_cache, new_prefix, subscribed_cache
from tests.outbox_helpers import RejectingPublisher, all_events, emit_events
from tests.service_calls import create_user, update_user
from tests.waiting import eventually


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[Cache]:
    """A cache subscribed to ``db``'s bus, as the CLI and the app wire it."""
    kind = str(request.param)
    if kind == "redis":
        request.getfixturevalue("redis_url")
    async with subscribed_cache(kind, db) as cache:
        yield cache


async def _seeded_ids(db: Database, marker: str) -> list[str]:
    async with db.session() as session:
        statement = select(User.id).where(seeding.seeded_users(marker)).order_by(User.id)
        return list((await session.execute(statement)).scalars())


async def test_clearing_seeded_users_is_never_answered_from_the_cache(
    db: Database, cache: Cache
) -> None:
    await seeding.seed(db, 3, 2, marker="busclear", rng_seed=7)
    user_ids = await _seeded_ids(db, "busclear")
    for user_id in user_ids:
        first = await read_user_cached(db, cache, user_id)
        second = await read_user_cached(db, cache, user_id)
        assert (first.outcome, second.outcome) == (Outcome.MISS, Outcome.HIT)
        assert second.value is not None and second.value.id == user_id
        assert (await read_latest_score_cached(db, cache, user_id)).value is not None

    assert await seeding.clear_seeded(db, "busclear") == 3

    for user_id in user_ids:
        after = await read_user_cached(db, cache, user_id)
        assert (after.outcome, after.value) == (Outcome.MISS, None)
        score = await read_latest_score_cached(db, cache, user_id)
        assert (score.outcome, score.value) == (Outcome.MISS, None)


async def test_clearing_seeded_users_records_one_users_removed_event(db: Database) -> None:
    await seeding.seed(db, 25, 1, marker="busone", rng_seed=3)
    kept = await create_user(db, email="kept@example.com", name="Kept")
    user_ids = await _seeded_ids(db, "busone")

    assert await seeding.clear_seeded(db, "busone") == 25

    [removed] = [e for e in await all_events(db) if e.event_type == "users.removed"]
    assert (removed.aggregate_type, removed.status) == ("User", "pending")
    assert removed.payload == {"user_ids": user_ids, "count": 25, "reason": "cleared seed busone"}
    async with db.session() as session:
        remaining = list((await session.execute(select(User.id))).scalars())
    assert remaining == [kept.id]


async def test_clearing_nothing_records_no_event(db: Database) -> None:
    assert await seeding.clear_seeded(db, "busnone") == 0
    async with db.session() as session:
        count = await session.execute(select(func.count(DomainEvent.id)))
    assert count.scalar_one() == 0


async def test_a_large_removal_is_one_event_per_chunk_of_ids(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seeding, "REMOVAL_IDS_PER_EVENT", 4)
    await seeding.seed(db, 10, 0, marker="buschunk", rng_seed=5)
    user_ids = await _seeded_ids(db, "buschunk")

    assert await seeding.clear_seeded(db, "buschunk") == 10

    events = [e for e in await all_events(db) if e.event_type == "users.removed"]
    assert [e.payload["count"] for e in events] == [4, 4, 2]
    assert [i for e in events for i in e.payload["user_ids"]] == user_ids


async def test_a_failing_handler_is_logged_and_the_commit_stands(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    async def broken(events: Sequence[Event]) -> None:
        raise RuntimeError("handler exploded")

    async def after(events: Sequence[Event]) -> None:
        ran.extend(event.event_type for event in events)

    db.bus.subscribe(Event, broken)
    db.bus.subscribe(Event, after)
    with caplog.at_level(logging.ERROR, logger="qulab.core.bus"):
        user = await create_user(db, email="stands@example.com", name="Stands")

    assert ran == ["user.created"]
    assert [(e.event_type, e.aggregate_id) for e in await all_events(db)] == [
        ("user.created", user.id)
    ]
    async with db.session() as session:
        assert (await session.get(User, user.id)) is not None
    assert any("handler exploded" in str(r.exc_info and r.exc_info[1]) for r in caplog.records)


async def test_a_rolled_back_unit_dispatches_nothing_and_writes_no_event(db: Database) -> None:
    ran: list[Event] = []

    async def handler(events: Sequence[Event]) -> None:
        ran.extend(events)

    db.bus.subscribe(Event, handler)
    with pytest.raises(RuntimeError, match="abandon"):
        async with PlatformUnitOfWork(db) as uow:
            uow.record(UsersRemoved("r-1", ("u-1",), "test"))
            raise RuntimeError("abandon")
    async with PlatformUnitOfWork(db) as uow:
        uow.record(UsersRemoved("r-2", ("u-2",), "test"))
        await uow.rollback()
    assert ran == []
    assert await all_events(db) == []


# -- the relay: the durable second path ------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a stalled Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


async def test_the_relay_repairs_an_invalidation_the_writer_could_not_deliver(
    db: Database, silent_port: int, redis_url: str
) -> None:
    prefix = new_prefix()
    reader = make_cache("redis", prefix)
    writer_cache = make_cache("redis", prefix, url=f"redis://127.0.0.1:{silent_port}/0")
    relay_cache = make_cache("redis", prefix)
    writer_db, relay_db = Database(db.settings), Database(db.settings)
    writer_cache.subscribe(writer_db.bus)
    relay_cache.subscribe(relay_db.bus)
    try:
        user = await create_user(db, email="repair@example.com", name="Before")
        await read_user_cached(db, reader, user.id)
        assert (await read_user_cached(db, reader, user.id)).outcome is Outcome.HIT

        await update_user(writer_db, user.id, name="After")
        assert writer_cache.pending_invalidations  # the writer could not deliver it
        stale = await read_user_cached(db, reader, user.id)
        assert stale.outcome is Outcome.HIT and stale.value is not None
        assert stale.value.name == "Before"

        result = await publish_pending(relay_db, MemoryBroker())

        assert result.published == 2
        fresh = await read_user_cached(db, reader, user.id)
        assert fresh.outcome is Outcome.MISS
        assert fresh.value is not None and fresh.value.name == "After"
        assert relay_cache.pending_invalidations == frozenset()
    finally:
        for cache in (reader, writer_cache, relay_cache):
            await cache.close()
        await writer_db.dispose()
        await relay_db.dispose()
        await delete_prefix(redis_url, prefix)


async def test_a_cache_outage_during_the_relays_invalidation_does_not_stop_publishing(
    db: Database, silent_port: int
) -> None:
    relay_db = Database(db.settings)
    stalled = make_cache("redis", new_prefix(), url=f"redis://127.0.0.1:{silent_port}/0")
    stalled.subscribe(relay_db.bus)
    broker = MemoryBroker()
    relay = Relay(relay_db, broker, batch_size=5, interval=0.05, listen=False)
    try:
        ids = await emit_events(db, 3)
        for n in range(3):
            user = await create_user(db, email=f"o{n}@example.com", name=f"O{n}")
            await update_user(db, user.id, name=f"O{n} renamed")
        ids += [e.id for e in await all_events(db) if e.id not in ids]

        async def all_sent() -> bool:
            return len(broker.messages()) >= len(ids)

        running = asyncio.create_task(relay.run())
        try:
            await eventually(all_sent, "every event to reach the broker", timeout=30)
        finally:
            relay.stop()
            async with asyncio.timeout(30):
                await running

        assert sorted(d.message.id for d in broker.messages()) == sorted(ids)
        assert {e.status for e in await all_events(db)} == {"published"}
        assert stalled.pending_invalidations  # the outage was met, and only deferred
    finally:
        await stalled.close()
        await relay_db.dispose()


async def test_the_relay_replays_only_what_it_published_and_skips_unusable_payloads(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    replayed: list[Event] = []

    async def durable(events: Sequence[Event]) -> None:
        replayed.extend(events)

    relay_db = Database(db.settings)
    relay_db.bus.subscribe(Event, durable, durable=True)
    try:
        user = await create_user(db, email="replay@example.com", name="Replay")
        await update_user(db, user.id, name="Replayed")
        async with PlatformUnitOfWork(db) as uow:
            poison = uow.record(UsersRemoved("r-poison", ("u-x",), "rejected by the broker"))
            odd = uow.record(
                OpaqueEvent("score.calculated", "AIRScore", "s-odd", {"air_score": "x"})
            )
            await uow.commit()
        publisher = RejectingPublisher(MemoryBroker(), {poison.id})
        with caplog.at_level(logging.WARNING, logger="qulab.core.outbox.relay"):
            result = await publish_pending(relay_db, publisher)

        assert (result.published, result.retried) == (3, 1)
        assert [e.event_type for e in replayed] == ["user.created", "user.updated"]
        assert replayed[1] == UserUpdated(user.id, {"name": "Replayed"})
        assert any(f"event {odd.id} not replayed" in r.getMessage() for r in caplog.records)
    finally:
        await relay_db.dispose()
