"""Ordered relays as processes on PostgreSQL: they share the partitions fairly, take over a
killed relay's partitions once its leases expire, and keep every aggregate in order through
SIGKILLs (checked on a real Redis stream)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.ids import new_id
from qulab.core.models import DomainEvent, EventStatus
from qulab.core.outbox import stream_name
from qulab.core.outbox.leases import lease_table
from qulab.platform import migrate
from qulab.platform.events import OpaqueEvent
from qulab.platform.uow import PlatformUnitOfWork
from tests import services
from tests.outbox_helpers import all_events
from tests.relay_process import start_relay, stop
from tests.waiting import eventually

LEASE = "2"  # seconds; a heartbeat every 2/3 s
PARTITIONS = 16


@pytest.fixture
async def pg_db(fresh_pg_url: str) -> AsyncIterator[Database]:
    database = Database(Settings().replace(database_url=fresh_pg_url))
    await migrate.upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


async def relay(db: Database, broker: str = "memory://", **settings: str) -> Process:
    process = await start_relay(
        db.settings.database.url, broker=broker, relay_lease_seconds=LEASE, **settings
    )
    return process


Process = asyncio.subprocess.Process


async def holdings(db: Database) -> dict[int, int]:
    """Live partitions per relay process id (the pid is part of the relay id)."""
    async with db.connect() as conn:
        leases = await lease_table(conn)
    held: Counter[int] = Counter()
    for lease in leases:
        if lease.live and lease.owner is not None:
            held[int(lease.owner.split(":")[1])] += 1
    return dict(held)


async def holding(db: Database, expected: dict[int, int], timeout: float = 30) -> None:
    seen: list[dict[int, int]] = [{}]

    async def reached() -> bool:
        seen[0] = await holdings(db)
        return seen[0] == expected

    await eventually(
        reached, lambda: f"leases {expected} (held: {seen[0]})", timeout=timeout, interval=0.1
    )


async def test_a_joining_relay_gets_half_and_a_leaving_one_gives_its_share_back(
    pg_db: Database,
) -> None:
    first = await relay(pg_db)
    seen: list[str] = []
    try:
        await holding(pg_db, {first.pid: PARTITIONS})
        second = await relay(pg_db)
        try:
            await holding(pg_db, {first.pid: PARTITIONS // 2, second.pid: PARTITIONS // 2})
        finally:
            assert await stop(second, seen) == 0, "".join(seen)
        # A relay that stops gives its leases back: the other takes them at its next beat.
        await holding(pg_db, {first.pid: PARTITIONS}, timeout=10)
    finally:
        assert await stop(first, seen) == 0, "".join(seen)


async def test_a_killed_relays_partitions_are_taken_over_once_its_leases_expire(
    pg_db: Database,
) -> None:
    survivor, victim = await relay(pg_db), await relay(pg_db)
    seen: list[str] = []
    try:
        await holding(pg_db, {survivor.pid: PARTITIONS // 2, victim.pid: PARTITIONS // 2})
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        clock = asyncio.get_running_loop().time
        killed_at = clock()
        await holding(pg_db, {survivor.pid: PARTITIONS}, timeout=30)
        # Within the lease time plus one heartbeat of the survivor (and the machine's slack).
        assert clock() - killed_at < 30
        ids = await emit_on(pg_db, [new_id() for _ in range(20)], 2)

        async def published() -> bool:
            statuses = {e.id: e.status for e in await all_events(pg_db)}
            return all(statuses[i] == EventStatus.PUBLISHED.value for i in ids)

        await eventually(published, "the new events to be published", timeout=20)
    finally:
        assert await stop(survivor, seen) == 0, "".join(seen)


async def emit_on(db: Database, aggregates: list[str], rounds: int) -> list[str]:
    """``rounds`` events per aggregate, one transaction per round; returns the ids."""
    ids: list[str] = []
    for n in range(rounds):
        async with PlatformUnitOfWork(db) as uow:
            for aggregate in aggregates:
                ids.append(uow.record(OpaqueEvent("test.happened", "Test", aggregate, {"n": n})).id)
            await uow.commit()
    return ids


async def expected_orders(db: Database) -> dict[str, list[str]]:
    """Each aggregate's events in (txid, sequence) order: the order the relays promise."""
    table = DomainEvent.__table__
    statement = select(table.c.aggregate_id, table.c.id).order_by(table.c.txid, table.c.sequence)
    orders: dict[str, list[str]] = defaultdict(list)
    async with db.connect() as conn:
        for aggregate, event_id in (await conn.execute(statement)).all():
            orders[aggregate].append(event_id)
    return orders


def inversions(expected: dict[str, list[str]], entries: list[dict[str, str]]) -> int:
    """Per aggregate, how often an event's first delivery comes after a later event's."""
    first_seen: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for entry in entries:
        if entry["id"] not in seen:
            seen.add(entry["id"])
            first_seen[entry["aggregate_id"]].append(entry["id"])
    count = 0
    for aggregate, delivered in first_seen.items():
        rank = {event_id: n for n, event_id in enumerate(expected[aggregate])}
        ranks = [rank[event_id] for event_id in delivered]
        count += sum(1 for a, b in itertools.pairwise(ranks) if b < a)
    return count


async def test_four_relays_with_kills_keep_every_aggregate_in_order(
    pg_db: Database, redis_url: str
) -> None:
    prefix = services.unique_name("qulab_test") + ":"
    stream = stream_name("Test", prefix)
    client = Redis.from_url(redis_url, decode_responses=True)
    aggregates = [new_id() for _ in range(40)]
    settings = {"outbox_stream_prefix": prefix, "relay_batch_size": "20"}
    relays = [await relay(pg_db, redis_url, **settings) for _ in range(4)]
    seen: list[str] = []
    try:
        ids: list[str] = []
        for wave in range(6):
            ids += await emit_on(pg_db, aggregates, 5)
            # Kill one relay mid-stream and start another in its place.
            victim = relays[wave % len(relays)]
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            relays[wave % len(relays)] = await relay(pg_db, redis_url, **settings)

        async def all_published() -> bool:
            return {e.status for e in await all_events(pg_db)} == {EventStatus.PUBLISHED.value}

        await eventually(all_published, "every event to be published", timeout=90, interval=0.2)
        entries = [fields for _, fields in await services.read_stream(stream, redis_url)]
        assert {entry["id"] for entry in entries} == set(ids)
        assert inversions(await expected_orders(pg_db), entries) == 0
    finally:
        for process in relays:
            if process.returncode is None:
                await stop(process, seen)
        await client.delete(stream)
        await client.aclose()


async def qulab_status(db: Database, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    env["QULAB_DATABASE_URL"] = db.settings.database.url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qulab",
        "outbox",
        "status",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()
    return out.decode()


async def test_outbox_status_shows_which_relay_holds_which_partitions(pg_db: Database) -> None:
    process = await relay(pg_db)
    seen: list[str] = []
    try:
        await holding(pg_db, {process.pid: PARTITIONS})
        status = json.loads(await qulab_status(pg_db, "--json"))
        [holder] = status["relays"]
        assert f":{process.pid}:" in holder["relay"]
        assert holder["partitions"] == list(range(PARTITIONS))
        assert (status["partitions"], status["unheld"]) == (PARTITIONS, [])
        text = await qulab_status(pg_db)
        assert f"partitions ({PARTITIONS})" in text
        assert f"0-{PARTITIONS - 1}" in text
    finally:
        assert await stop(process, seen) == 0, "".join(seen)
    status = json.loads(await qulab_status(pg_db, "--json"))
    assert (status["relays"], status["unheld"]) == ([], list(range(PARTITIONS)))
