"""``qulab chaos`` end to end on each broker: one relay, two consumers, 200 events, four
SIGKILLs, and nothing lost, nothing applied twice, the projection equal to air_scores; the
scratch database and broker namespace are gone afterwards. Plus the checker fed a broker
order that is known to be wrong."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import aio_pika
import asyncpg
import nats
import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from qulab.core.db import Database
from qulab.core.models import DomainEvent
from qulab.lab.chaos_check import verify
from tests import services
from tests.consumer_support import ROOT
from tests.outbox_helpers import emit_events

BROKER_URLS = {"redis": "redis_url", "rabbitmq": "amqp_url", "nats": "nats_url"}  # fixtures


def chaos(
    *args: str, database_url: str = services.POSTGRES_URL
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    env["QULAB_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "qulab", "chaos", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


@pytest.mark.parametrize("broker", sorted(BROKER_URLS))
def test_a_small_chaos_run_loses_nothing_and_applies_nothing_twice(
    broker: str, postgres_url: str, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue(BROKER_URLS[broker]))
    args = ["--relays", "1", "--consumers", "2", "--events", "200", "--kills", "4"]
    result = chaos(*args, "--broker", url, "--seed", "7", "--json", database_url=postgres_url)

    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["events"] == 200
    assert report["kills"] == 4
    assert (report["lost"], report["inversions"], report["duplicate_effects"]) == (0, 0, 0)
    assert report["projection_matches"] is True
    assert report["duplicate_deliveries"] >= 0
    assert "applied 200" in result.stderr  # the progress display
    assert "killed " in result.stderr
    asyncio.run(
        _assert_removed(broker, url, report["scratch_database"], report["scratch_namespace"])
    )


async def _assert_removed(kind: str, url: str, database: str, namespace: str) -> None:
    assert database.startswith("qulab_chaos_") and namespace.startswith("qulab")
    conn = await asyncpg.connect(services.POSTGRES_URL.replace("+asyncpg", ""), timeout=5)
    try:
        left = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", database)
    finally:
        await conn.close()
    assert left == 0
    if kind == "redis":
        client = Redis.from_url(url)
        try:
            assert [k async for k in client.scan_iter(match=f"{namespace}*")] == []
        finally:
            await client.aclose()
    elif kind == "rabbitmq":
        connection = await aio_pika.connect(url, timeout=5)
        async with connection:
            channel = await connection.channel()
            with pytest.raises(aio_pika.exceptions.ChannelClosed):
                await channel.declare_exchange(namespace, passive=True)
    else:
        nc = await nats.connect(url, connect_timeout=5, allow_reconnect=False)
        try:
            names = [info.config.name for info in await nc.jetstream().streams_info()]
        finally:
            await nc.close()
        assert not [name for name in names if name and name.startswith(namespace)]


def test_chaos_needs_a_broker_other_processes_reach() -> None:
    result = chaos("--broker", "memory://", database_url="sqlite+aiosqlite:///./unused.db")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --broker: the chaos check needs a broker")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_the_checker_counts_inversions_in_a_broker_order_known_to_be_wrong(
    db: Database,
) -> None:
    first = await emit_events(db, 3, aggregate_type="User", per_transaction=1)
    # emit_events gives each event its own aggregate: put them all on one
    async with db.begin() as conn:
        await conn.execute(update(DomainEvent).values(aggregate_id="one-user"))
    wrong_order = [first[2], first[0], first[1], first[0]]

    report = await verify(db, wrong_order, "score-summary")

    assert report.inversions == 2
    assert report.duplicate_publishes == 1
    assert report.lost == 3  # nothing consumed them
    assert not report.passed
