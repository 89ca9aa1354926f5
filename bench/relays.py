"""Ordered relays: throughput against a raw loop, the cost of ordering, small batches against
pgqueuer, latency with 4 relays, and what NOTIFY costs producers. PostgreSQL -> Redis Streams.

Every contender drains the same backlog in its own processes, interleaved in one run:

* ``ordered`` / ``unordered``: QuLab relays (``Relay.run``, polling, no NOTIFY) in N processes;
  the clock stops when no pending event is left. With several processes the relays start on an
  empty outbox and the backlog arrives in one commit once they run (the ordered ones once they
  have shared out the partitions), so the figure is their steady state, not how fast a relay
  that joins late gets its leases (one heartbeat, a third of the lease time).
* ``raw``: a plain asyncpg claim (SKIP LOCKED) / pipelined XADD / mark loop, one connection.
* ``pgqueuer``: the same backlog as pgqueuer jobs, one worker, each job XADDed to the stream
  (only when the ``peers`` extra is installed).

Latency: 4 ordered relays wait on NOTIFY while 4 producers commit one event per unit of work at
a steady rate; latency is the stream entry's server time minus the commit's return. Producers:
16 concurrent writers commit one event per unit of work for a fixed time, NOTIFY on and off.
"""

from __future__ import annotations

import asyncio
import importlib.util
import multiprocessing as mp
import statistics
import time
import uuid
from typing import Any

import asyncpg
from redis.asyncio import Redis

from bench.harness import (
    POSTGRESQL,
    REDIS_SERVER,
    BenchConfig,
    Report,
    Samples,
    Table,
    Target,
    bench_settings,
    benchmark,
)
from bench.outbox import (
    AGGREGATE,
    _clear_streams,
    _create_database,
    _drop_database,
    _load_backlog,
    _plain,
    _urls,
    bench_event,
    drain_raw,
    raw_clients,
)
from qulab.core.config import Settings
from qulab.core.outbox import stream_name
from qulab.platform import migrate
from qulab.platform.application import bootstrap
from qulab.platform.uow import PlatformUnitOfWork

LEASE_SECONDS = 3  # relays beat every second: leases are shared out soon after they start
PGQ_ENTRYPOINT = "qulab_outbox_bench"


def peers_installed() -> bool:
    return importlib.util.find_spec("pgqueuer") is not None


def _settings(url: str, redis_url: str, prefix: str, **more: Any) -> Settings:
    return bench_settings(
        database_url=url,
        pool_size=2,
        broker_url=redis_url,
        outbox_stream_prefix=prefix,
        **more,
    )


# -- drainers (each in its own process) -----------------------------------------------------


async def _relay_loop(
    url: str, redis_url: str, prefix: str, batch: int, ordered: bool, go: Any, stop: Any
) -> None:
    settings = _settings(
        url,
        redis_url,
        prefix,
        relay_ordered=ordered,
        outbox_notify=False,
        relay_lease_seconds=LEASE_SECONDS,
    )
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


async def _pgqueuer_loop(url: str, redis_url: str, prefix: str, batch: int, go: Any) -> None:
    from pgqueuer import AsyncpgDriver, QueueManager
    from pgqueuer.models import Job
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    conn = await asyncpg.connect(_plain(url))
    client = Redis.from_url(redis_url)
    stream = stream_name(AGGREGATE, prefix)
    manager = QueueManager(Queries(AsyncpgDriver(conn)))

    @manager.entrypoint(PGQ_ENTRYPOINT)  # type: ignore[untyped-decorator]
    async def publish(job: Job) -> None:
        await client.xadd(stream, {"id": str(job.id), "payload": job.payload or b""})

    await client.ping()
    await asyncio.to_thread(go.wait)
    try:
        await manager.run(batch_size=batch, mode=QueueExecutionMode.drain)
    finally:
        await client.aclose()
        await conn.close()


def _worker(kind: str, args: tuple[Any, ...], go: Any, stop: Any, out: Any) -> None:
    async def main() -> None:
        out.put("ready")
        url, redis_url, prefix, batch = args
        if kind in ("ordered", "unordered"):
            await _relay_loop(url, redis_url, prefix, batch, kind == "ordered", go, stop)
        elif kind == "raw":
            await _raw_loop(url, redis_url, prefix, batch, go)
        else:
            await _pgqueuer_loop(url, redis_url, prefix, batch, go)
        out.put("done")

    asyncio.run(main())


async def _pending(conn: Any, kind: str) -> int:
    if kind == "pgqueuer":
        return int(await conn.fetchval("SELECT count(*) FROM pgqueuer"))
    return int(await conn.fetchval("SELECT count(*) FROM domain_events WHERE status = 'pending'"))


async def _leases_shared(conn: Any, relays: int) -> None:
    """Until every partition is leased and ``relays`` relays hold them."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        owners, free = await conn.fetchrow(
            "SELECT count(DISTINCT owner) FILTER (WHERE expires_at > now()), "
            "count(*) FILTER (WHERE owner IS NULL OR expires_at <= now()) FROM outbox_leases"
        )
        if owners == relays and free == 0:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{relays} ordered relays did not share the partitions within 60 s")


def _drain(
    kind: str,
    processes: int,
    url: str,
    redis_url: str,
    prefix: str,
    batch: int,
    late_backlog: int = 0,
) -> float:
    """Start the drainers, release them together; seconds until nothing is left.

    ``late_backlog``: the outbox is empty when the drainers start and this many events arrive
    in one commit once they run; the clock starts at that commit."""
    ctx = mp.get_context("spawn")
    go, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    args = (url, redis_url, prefix, batch)
    workers = [
        ctx.Process(target=_worker, args=(kind, args, go, stop, out)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        out.get(timeout=300)

    async def watch() -> float:
        conn = await asyncpg.connect(_plain(url))
        try:
            await asyncio.sleep(1.0)  # every worker connected and warm
            go.set()
            if late_backlog:
                if kind == "ordered":
                    await _leases_shared(conn, processes)
                else:
                    await asyncio.sleep(1.0)  # every relay polling
                await _load_backlog(url, late_backlog, at_once=True)
            start = time.perf_counter()
            while await _pending(conn, kind) > 0:  # noqa: ASYNC110 (another process drains)
                await asyncio.sleep(0.01)
            return time.perf_counter() - start
        finally:
            await conn.close()

    try:
        return asyncio.run(watch())
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)


async def _load_jobs(url: str, count: int) -> None:
    from pgqueuer import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await asyncpg.connect(_plain(url))
    try:
        queries = Queries(AsyncpgDriver(conn))
        if not await conn.fetchval("SELECT to_regclass('pgqueuer') IS NOT NULL"):
            await queries.install()
        await conn.execute("TRUNCATE pgqueuer")
        for start in range(0, count, 5000):
            n = min(5000, count - start)
            await queries.enqueue(
                [PGQ_ENTRYPOINT] * n, [f'{{"n": {start + i}}}'.encode() for i in range(n)], [0] * n
            )
        await conn.execute("VACUUM ANALYZE pgqueuer")
    finally:
        await conn.close()


# -- latency and producers ----------------------------------------------------------------


async def _latency(
    url: str, redis_url: str, prefix: str, rate: int, seconds: float
) -> tuple[Samples, float]:
    conn = await asyncpg.connect(_plain(url))
    await conn.execute("TRUNCATE domain_events")
    await conn.close()
    await _clear_streams(redis_url, prefix)
    ctx = mp.get_context("spawn")
    go, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    relays = [
        ctx.Process(target=_latency_relay, args=(url, redis_url, prefix, go, stop, out))
        for _ in range(4)
    ]
    for relay in relays:
        relay.start()
    for _ in relays:
        out.get(timeout=300)
    go.set()
    await asyncio.sleep(3.0)  # leases shared out (heartbeats every lease/3)
    committed: dict[str, float] = {}
    runtime = bootstrap(bench_settings(database_url=url, pool_size=16))
    try:
        began = time.time()
        total = int(rate * seconds)
        producers = 16  # 8 commit about 600 events/s here, short of the offered rate
        start = time.time() + 0.2

        async def producer(k: int) -> None:
            for i in range(k, total, producers):
                delay = start + i / rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                async with PlatformUnitOfWork(runtime.db) as uow:
                    row = uow.record(bench_event(str(uuid.uuid4()), i))
                    await uow.commit()
                committed[row.id] = time.time()

        await asyncio.gather(*(producer(k) for k in range(producers)))
        achieved = len(committed) / (time.time() - began)
        client = Redis.from_url(redis_url, decode_responses=True)
        stream = stream_name(AGGREGATE, prefix)
        deadline = time.time() + 30
        while await client.xlen(stream) < len(committed) and time.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        entries = await client.xrange(stream)
        await client.aclose()
    finally:
        stop.set()
        for relay in relays:
            relay.join(30)
        await runtime.close()
    latencies = []
    for entry_id, fields in entries or []:
        if not fields:
            continue
        event_id = str(fields["id"])
        if event_id in committed:
            xadd_at = int(str(entry_id).split("-")[0]) / 1000
            latencies.append(max(0.0, xadd_at - committed[event_id]))
    return Samples("commit -> on stream", latencies, {"achieved_rate": achieved}), achieved


def _latency_relay(url: str, redis_url: str, prefix: str, go: Any, stop: Any, out: Any) -> None:
    async def main() -> None:
        settings = _settings(url, redis_url, prefix, relay_lease_seconds=3)
        async with bootstrap(settings) as runtime:
            relay = runtime.relay(batch_size=100, interval=1.0)
            out.put("ready")
            await asyncio.to_thread(go.wait)
            task = asyncio.create_task(relay.run())
            await asyncio.to_thread(stop.wait)
            relay.stop()
            await task

    asyncio.run(main())


async def _produce(url: str, notify: bool, writers: int, seconds: float) -> float:
    """Events per second 16 writers commit, one event per unit of work."""
    settings = bench_settings(database_url=url, pool_size=writers, outbox_notify=notify)
    async with bootstrap(settings) as runtime:
        await runtime.db.ping()
        done = 0
        end = time.perf_counter() + seconds

        async def writer() -> None:
            nonlocal done
            while time.perf_counter() < end:
                async with PlatformUnitOfWork(runtime.db) as uow:
                    uow.record(bench_event(str(uuid.uuid4()), done))
                    await uow.commit()
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        return done / (time.perf_counter() - start)


# -- the benchmark --------------------------------------------------------------------------


@benchmark(
    "relays",
    "Relays against pgqueuer and a raw loop: throughput and latency",
    needs=(POSTGRESQL, REDIS_SERVER),
)
async def relays_benchmark(config: BenchConfig) -> Report:
    base_url, redis_url = _urls(config)
    backlog = 4_000 if config.quick else 30_000
    small_backlog = 1_000 if config.quick else 6_000
    rounds = 1 if config.quick else min(max(config.rounds, 1), 3)
    prefix = f"qulab_bench_{uuid.uuid4().hex[:8]}:"
    url = await _create_database(base_url)
    peers = peers_installed()
    big = [
        ("ordered", 1, "QuLab ordered relay, 1 process"),
        ("raw", 1, "raw asyncpg loop, 1 process"),
        ("ordered", 4, "QuLab ordered relays, 4 processes"),
        ("unordered", 4, "QuLab unordered relays, 4 processes"),
    ]
    small = [("ordered", 1, "QuLab ordered relay, batch 10")]
    if peers:
        small.append(("pgqueuer", 1, "pgqueuer worker, batch 10"))
    rates: dict[str, list[float]] = {label: [] for _, _, label in [*big, *small]}
    producers: dict[str, list[float]] = {"NOTIFY on": [], "NOTIFY off": []}
    try:
        async with bootstrap(bench_settings(database_url=url)) as runtime:
            await migrate.upgrade(runtime.db)
        for _ in range(rounds):
            for kind, processes, label in big:
                late = processes > 1  # relays running before the backlog arrives
                await _load_backlog(url, 0 if late else backlog)
                await _clear_streams(redis_url, prefix)
                seconds = await asyncio.to_thread(
                    _drain, kind, processes, url, redis_url, prefix, 500, backlog if late else 0
                )
                rates[label].append(backlog / seconds)
            for kind, processes, label in small:
                if kind == "pgqueuer":
                    await _load_jobs(url, small_backlog)
                else:
                    await _load_backlog(url, small_backlog)
                await _clear_streams(redis_url, prefix)
                seconds = await asyncio.to_thread(
                    _drain, kind, processes, url, redis_url, prefix, 10
                )
                rates[label].append(small_backlog / seconds)
            for label, notify in (("NOTIFY on", True), ("NOTIFY off", False)):
                producers[label].append(
                    await _produce(url, notify, 16, 2.0 if config.quick else 5.0)
                )
        latency, achieved = await _latency(
            url, redis_url, prefix, 1000, 2.0 if config.quick else 10.0
        )
    finally:
        await _clear_streams(redis_url, prefix)
        await _drop_database(base_url, url)

    rate = {label: statistics.median(values) for label, values in rates.items()}
    spread = {
        label: (max(values) - min(values)) / statistics.median(values) if len(values) > 1 else 0.0
        for label, values in rates.items()
    }
    one, raw = rate["QuLab ordered relay, 1 process"], rate["raw asyncpg loop, 1 process"]
    ordered4 = rate["QuLab ordered relays, 4 processes"]
    unordered4 = rate["QuLab unordered relays, 4 processes"]
    small_rate = rate["QuLab ordered relay, batch 10"]
    pgq = rate.get("pgqueuer worker, batch 10")
    notify_on = statistics.median(producers["NOTIFY on"])
    notify_off = statistics.median(producers["NOTIFY off"])
    p99 = latency.percentile(99) * 1000
    rows: list[list[Any]] = [
        [label, len(rates[label]), rate[label], spread[label]] for label in rates
    ]
    if not peers:
        rows.append(["pgqueuer worker, batch 10", 0, "not installed", ""])
    targets = [
        Target("ordered relay / raw loop (1 process)", one / raw, 0.9, True),
        Target(
            "ordered / unordered, 4 relays",
            ordered4 / unordered4,
            0.9,
            True,
            "an ordered claim does more per batch: it reads only its leased partitions behind "
            "the commit-order fence (pg_snapshot_xmin) and holds its lease rows FOR KEY SHARE "
            "until the mark, where an unordered claim takes any pending row SKIP LOCKED; four "
            "processes, PostgreSQL and Redis share 2 cores, so the rounds spread by 10-20 %",
        ),
        Target(
            f"commit-to-publish p99, 4 relays, 1000 events/s offered ({achieved:,.0f} "
            "achieved) (ms)",
            p99,
            50,
            False,
            "producer, 4 relays, PostgreSQL and Redis share 2 busy cores",
        ),
    ]
    if pgq is not None:
        targets.append(
            Target(
                "ordered relay / pgqueuer at batch 10",
                small_rate / pgq,
                1.5,
                True,
                "a batch of 10 is four PostgreSQL round trips (BEGIN, the fenced claim, the "
                "mark, COMMIT) and one Redis pipeline on a kept connection; profiled, the "
                "claim and the mark take about 0.9 and 0.8 ms, BEGIN and COMMIT 0.4 ms and the "
                "pipeline of 10 XADDs 1.1 ms, so the waits are the database's and Redis's own "
                "work on a shared 2-core machine, not pool checkouts or SQLAlchemy (0.15 ms). "
                "Fewer round trips would need a claim that commits before publishing (a "
                "claimed-until column), which gives up the lock-held ordering guarantee",
            )
        )
    return Report(
        name="relays",
        title="Ordered relays: PostgreSQL -> Redis Streams",
        tables=[
            Table(
                f"Draining a backlog ({backlog:,} events at batch 500, {small_backlog:,} at "
                f"batch 10; median of {rounds} round(s), spread = (max-min)/median)",
                ["case", "rounds", "events/s", "spread"],
                rows,
            ),
            Table(
                "Producers: 16 writers, one event per unit of work",
                ["NOTIFY", "events/s", "off / on"],
                [["on", notify_on, 1.0], ["off", notify_off, notify_off / notify_on]],
            ),
            Table(
                "Commit-to-publish latency at 1000 events/s, 4 ordered relays (NOTIFY)",
                ["events", "achieved events/s", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                [
                    [
                        len(latency.seconds),
                        achieved,
                        latency.percentile(50) * 1000,
                        latency.percentile(95) * 1000,
                        p99,
                        max(latency.seconds, default=0.0) * 1000,
                    ]
                ],
            ),
        ],
        targets=targets,
        notes=[
            "Relays poll every 20 ms without NOTIFY while draining; the clock stops when a "
            "watcher sees no pending row (polled every 10 ms).",
            "Backlog events each have their own aggregate, so an ordered batch is one round.",
            f"Latency: 16 producers offered 1000 events/s and committed {achieved:,.0f}/s; alone "
            f"they commit about {notify_on:,.0f}/s (producers table), here they share the 2 cores "
            "with 4 relays, PostgreSQL and Redis. Latency is the stream entry's id (server "
            "milliseconds, truncated) minus the commit's return, so under 1 ms reads as 0.",
        ],
        raw={"rates": rates, "producers": producers, "latency": latency.summary()},
    )
