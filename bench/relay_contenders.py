"""The relays benchmark's contenders, each run in a process of its own: QuLab's relays (ordered
and unordered polling, log-tailing), a raw asyncpg loop and a pgqueuer worker, all publishing
PostgreSQL's events to one Redis stream.

``drain_worker`` empties a backlog (and returns); ``latency_worker`` relays what producers commit
until told to stop, woken by NOTIFY as it would be deployed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
from redis.asyncio import BlockingConnectionPool, Redis

from bench.harness import bench_settings
from bench.outbox import AGGREGATE, _plain, drain_raw, raw_clients
from qulab.core.config import Settings
from qulab.core.outbox import stream_name
from qulab.platform.application import bootstrap

LEASE_SECONDS = 3  # relays beat every second: leases are shared out soon after they start
PGQ_ENTRYPOINT = "qulab_outbox_bench"
QULAB_KINDS = ("ordered", "unordered", "wal")


def relay_settings(url: str, redis_url: str, prefix: str, kind: str, **more: Any) -> Settings:
    """A QuLab relay's settings: ``ordered``, ``unordered`` (both polling) or ``wal``."""
    return bench_settings(
        database_url=url,
        pool_size=2,
        broker_url=redis_url,
        outbox_stream_prefix=prefix,
        relay_ordered=kind == "ordered",
        relay_mode="wal" if kind == "wal" else "polling",
        relay_lease_seconds=LEASE_SECONDS,
        **more,
    )


async def _relay_loop(
    kind: str, url: str, redis_url: str, prefix: str, batch: int, go: Any, stop: Any
) -> None:
    settings = relay_settings(url, redis_url, prefix, kind, outbox_notify=False)
    async with bootstrap(settings) as runtime:
        relay = runtime.relay(batch_size=batch, interval=0.02, listen=False)
        await runtime.db.ping()
        await asyncio.to_thread(go.wait)
        task = asyncio.create_task(relay.run())
        await asyncio.to_thread(stop.wait)
        relay.stop()
        await task


async def _raw_loop(url: str, redis_url: str, prefix: str, batch: int, go: Any) -> None:
    async with raw_clients(url, redis_url) as (conn, client):
        await asyncio.to_thread(go.wait)
        await drain_raw(conn, client, stream_name(AGGREGATE, prefix), batch)


def _pgqueuer_redis(redis_url: str) -> Redis:
    """pgqueuer runs its jobs as concurrent tasks, dequeuing more while they run: they wait, as
    long as it takes, for one of 50 connections (redis-py's default pool refuses the 101st with
    "Too many connections", and a bounded wait times out: either is a failed job)."""
    pool = BlockingConnectionPool.from_url(redis_url, max_connections=50, timeout=None)
    return Redis(connection_pool=pool)


def _pgqueuer(conn: Any, client: Redis, stream: str) -> Any:
    """A pgqueuer QueueManager whose one entrypoint XADDs each job to ``stream``."""
    from pgqueuer import AsyncpgDriver, QueueManager
    from pgqueuer.models import Job
    from pgqueuer.queries import Queries

    manager = QueueManager(Queries(AsyncpgDriver(conn)))

    @manager.entrypoint(PGQ_ENTRYPOINT)  # type: ignore[untyped-decorator]
    async def publish(job: Job) -> None:
        await client.xadd(stream, {"id": str(job.id), "payload": job.payload or b""})

    return manager


async def _pgqueuer_loop(url: str, redis_url: str, prefix: str, batch: int, go: Any) -> None:
    from pgqueuer.types import QueueExecutionMode

    conn = await asyncpg.connect(_plain(url))
    client = _pgqueuer_redis(redis_url)
    manager = _pgqueuer(conn, client, stream_name(AGGREGATE, prefix))
    await client.ping()
    await asyncio.to_thread(go.wait)
    try:
        await manager.run(batch_size=batch, mode=QueueExecutionMode.drain)
    finally:
        await client.aclose()
        await conn.close()


def drain_worker(kind: str, args: tuple[Any, ...], go: Any, stop: Any, out: Any) -> None:
    """One drainer of kind ``ordered``, ``unordered``, ``wal``, ``raw`` or ``pgqueuer``: it
    says ``ready`` once connected, starts at ``go``; relays stop at ``stop``, the others once
    nothing is left."""

    async def main() -> None:
        out.put("ready")
        url, redis_url, prefix, batch = args
        if kind in QULAB_KINDS:
            await _relay_loop(kind, url, redis_url, prefix, batch, go, stop)
        elif kind == "raw":
            await _raw_loop(url, redis_url, prefix, batch, go)
        else:
            await _pgqueuer_loop(url, redis_url, prefix, batch, go)
        out.put("done")

    asyncio.run(main())


async def _latency_relay(
    kind: str, url: str, redis_url: str, prefix: str, out: Any, stop: Any
) -> None:
    async with bootstrap(relay_settings(url, redis_url, prefix, kind)) as runtime:
        relay = runtime.relay(batch_size=100, interval=1.0)
        await runtime.db.ping()
        task = asyncio.create_task(relay.run())
        while not relay.listening:  # noqa: ASYNC110 (the relay's own task connects)
            await asyncio.sleep(0.01)
        out.put("ready")
        await asyncio.to_thread(stop.wait)
        relay.stop()
        await task


async def _latency_pgqueuer(url: str, redis_url: str, prefix: str, out: Any, stop: Any) -> None:
    from pgqueuer.types import QueueExecutionMode

    conn = await asyncpg.connect(_plain(url))
    client = _pgqueuer_redis(redis_url)
    manager = _pgqueuer(conn, client, stream_name(AGGREGATE, prefix))
    await client.ping()
    task = asyncio.create_task(
        manager.run(
            dequeue_timeout=timedelta(seconds=1),
            batch_size=100,
            mode=QueueExecutionMode.continuous,
        )
    )
    await asyncio.sleep(1.0)  # listening (pgqueuer says nothing when it is)
    out.put("ready")
    await asyncio.to_thread(stop.wait)
    manager.shutdown.set()
    try:
        await task
    finally:
        await client.aclose()
        await conn.close()


def latency_worker(kind: str, args: tuple[Any, ...], out: Any, stop: Any) -> None:
    """One relay (or pgqueuer worker) waiting on NOTIFY until ``stop``."""
    url, redis_url, prefix = args
    if kind == "pgqueuer":
        asyncio.run(_latency_pgqueuer(url, redis_url, prefix, out, stop))
    else:
        asyncio.run(_latency_relay(kind, url, redis_url, prefix, out, stop))


async def load_jobs(url: str, count: int) -> None:
    """Empty pgqueuer's queue and its log (installing it the first time), as the outbox is
    emptied before a QuLab drain, and enqueue ``count`` jobs."""
    from pgqueuer import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await asyncpg.connect(_plain(url))
    try:
        queries = Queries(AsyncpgDriver(conn))
        if not await conn.fetchval("SELECT to_regclass('pgqueuer') IS NOT NULL"):
            await queries.install()
        await conn.execute("TRUNCATE pgqueuer")
        if await conn.fetchval("SELECT to_regclass('pgqueuer_log') IS NOT NULL"):
            await conn.execute("TRUNCATE pgqueuer_log")  # three rows a job, kept by pgqueuer
        for start in range(0, count, 5000):
            n = min(5000, count - start)
            await queries.enqueue(
                [PGQ_ENTRYPOINT] * n, [f'{{"n": {start + i}}}'.encode() for i in range(n)], [0] * n
            )
        await conn.execute("VACUUM ANALYZE pgqueuer")
    finally:
        await conn.close()
