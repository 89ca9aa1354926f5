"""The relay process against a database that drops its connections or stops answering: it
reports each outage in one line, loses nothing, and still stops promptly on SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from urllib.parse import urlsplit

import asyncpg
import pytest

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.models import EventStatus
from qulab.core.outbox import Relay
from qulab.core.outbox.memory import MemoryBroker
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.notify import PgListener
from qulab.core.outbox.publisher import Failures
from qulab.platform import migrate
from tests.outbox_helpers import all_events, emit_events
from tests.pg_fakes import silent_postgres
from tests.relay_process import read_line_containing, start_relay, stop
from tests.tcp_proxy import TcpProxy
from tests.waiting import eventually


@pytest.fixture
async def pg_db(fresh_pg_url: str) -> AsyncIterator[Database]:
    """A database of this test only, migrated: its backends are the test's to terminate.

    The tests terminate every backend of the database many times a second, this observer's
    too, so it pings each connection on checkout instead of only idle ones."""
    database = Database(Settings().replace(database_url=fresh_pg_url, db_pre_ping_idle_seconds=0))
    await migrate.upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


def raw_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def statuses(db: Database) -> set[str]:
    return {event.status for event in await all_events(db)}


async def test_relay_survives_its_backends_being_terminated_while_it_drains(
    pg_db: Database,
) -> None:
    url = pg_db.settings.database.url
    name = urlsplit(url).path.lstrip("/")
    ids = await emit_events(pg_db, 400)
    # One connection holds the table so the relay's claim is mid-statement when its backend is
    # terminated; another watches (pg_stat_activity is a snapshot within a transaction).
    holder = await asyncpg.connect(raw_dsn(url), timeout=5)
    admin = await asyncpg.connect(raw_dsn(url), timeout=5)
    lock = holder.transaction()
    await lock.start()
    await holder.execute("LOCK TABLE domain_events IN ACCESS EXCLUSIVE MODE")
    relay = await start_relay(url, "--batch-size", "50")
    seen: list[str] = []
    try:
        blocked = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'"

        async def claim_blocked() -> bool:
            return bool(await admin.fetch(blocked, name))

        await eventually(claim_blocked, "the relay's claim to wait on the lock", timeout=20)
        for row in await admin.fetch(blocked, name):
            await admin.execute("SELECT pg_terminate_backend($1)", row["pid"])
        await read_line_containing(
            relay, "relay pass failed, will retry: database unreachable", seen
        )
        await lock.rollback()

        # Then every backend of the relay, again and again, while it drains.
        others = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"

        async def drained_under_fire() -> bool:
            for row in await admin.fetch(others, name):
                await admin.execute("SELECT pg_terminate_backend($1)", row["pid"])
            return await statuses(pg_db) == {EventStatus.PUBLISHED.value}

        await eventually(
            drained_under_fire, "the relay to drain under fire", timeout=60, interval=0.05
        )
        assert relay.returncode is None, "the relay exited"
        assert {e.id for e in await all_events(pg_db)} == set(ids)
    finally:
        await holder.close()
        await admin.close()
        code = await stop(relay, seen)
    assert code == 0, "".join(seen)
    assert not any("Traceback" in line for line in seen), "".join(seen)


async def test_relay_waiting_on_a_stalled_database_says_so_and_stops_on_sigterm(
    pg_db: Database,
) -> None:
    url = pg_db.settings.database.url
    parts = urlsplit(url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    proxied = url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{proxy.port}")
    relay = await start_relay(proxied)
    seen: list[str] = []
    try:
        await emit_events(pg_db, 5)

        async def published() -> bool:
            return await statuses(pg_db) == {EventStatus.PUBLISHED.value}

        await eventually(published, "every event to be published", timeout=20)
        proxy.stall()
        late = set(await emit_events(pg_db, 5))
        await read_line_containing(relay, "waiting for the database: no answer for", seen)
        code = await stop(relay, seen)
    finally:
        if relay.returncode is None:
            relay.kill()
            await relay.wait()
        await proxy.close()
    assert code == 0, "".join(seen)
    assert not any("Traceback" in line for line in seen), "".join(seen)
    pending = {e.id for e in await all_events(pg_db) if e.status == EventStatus.PENDING.value}
    assert pending == late


async def test_listen_on_a_silent_database_gives_up_within_its_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with silent_postgres() as port:
        listener = PgListener(
            f"postgresql://postgres@127.0.0.1:{port}/qulab",
            "qulab_outbox",
            asyncio.Event(),
            timeout=0.5,
        )
        async with asyncio.timeout(3):
            assert await listener.ensure() is False
    assert not listener.listening
    assert "LISTEN qulab_outbox unavailable, polling instead: TimeoutError" in caplog.text


class SlowPublisher:
    """Delivers into a memory broker, taking ``delay`` seconds per batch."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.inner = MemoryBroker("slow", 10_000)
        self.description = "slow memory://"

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        await asyncio.sleep(self.delay)
        return await self.inner.publish(messages)

    async def close(self) -> None:
        await self.inner.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_long_pass_that_makes_progress_is_not_reported_as_waiting(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await emit_events(db, 300)
    relay = Relay(db, SlowPublisher(0.03), batch_size=10, interval=0.05)
    relay.wait_report = 0.1  # the pass takes about 30 x 0.03 s: many reports' worth
    task = asyncio.create_task(relay.run())
    try:

        async def published() -> bool:
            return await statuses(db) == {EventStatus.PUBLISHED.value}

        await eventually(published, "every event to be published", timeout=30)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
    assert relay.totals.published == 300
    assert "waiting for" not in caplog.text
