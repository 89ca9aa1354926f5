"""Relays side by side: QuLab's log-tailing (WAL) relay, its ordered and unordered polling
relays, pgqueuer and a raw loop, PostgreSQL -> Redis Streams, interleaved in one run.

The log-tailing relay needs ``wal_level=logical``, so the suite starts a private PostgreSQL with
it (:mod:`qulab.lab.private_postgres`, removed afterwards) and runs every contender on that one
server. Each contender runs in processes of its own (:mod:`bench.relay_contenders`):

* Drain: a backlog of events, committed 10 to a transaction (the log-tailing relay reads whole
  transactions), is emptied by one process at batch 500, and again at batch 10; the clock stops
  when every event is on the stream and no pending event (or pgqueuer job) is left.
  PostgreSQL's CPU seconds per 10,000 events are read from ``/proc`` for the server's
  processes (:mod:`bench.pg_cpu`), the watcher's own backend left out.
* Four processes: ordered against unordered polling relays, started on an empty outbox, the
  backlog arriving in one commit once they run (their steady state, not how fast a late relay
  gets its leases).
* Latency: one relay (or pgqueuer worker) waits on NOTIFY (the log-tailing relay on its
  replication stream, which sends each commit as it happens) while 16 producers commit one event
  per unit of work at 500 and 1,000 events/s offered; latency is the stream entry's server time
  minus the commit's return.
* Producers: 16 writers commit one event per unit of work for a fixed time, NOTIFY on and off.
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

from bench import pg_cpu
from bench.harness import (
    REDIS_SERVER,
    BenchConfig,
    Report,
    Samples,
    Table,
    Target,
    bench_settings,
    benchmark,
    required,
)
from bench.outbox import (
    AGGREGATE,
    _clear_streams,
    _create_database,
    _load_backlog,
    _plain,
    bench_event,
)
from bench.relay_contenders import (
    PGQ_ENTRYPOINT,
    drain_worker,
    latency_worker,
    load_jobs,
    relay_settings,
)
from qulab.core.outbox import stream_name
from qulab.lab.private_postgres import PrivateCluster, start_primary
from qulab.platform import migrate
from qulab.platform.application import bootstrap
from qulab.platform.uow import PlatformUnitOfWork

SLOT = "qulab_outbox"  # the log-tailing relay's slot (QULAB_RELAY_SLOT's default)
PER_COMMIT = 10
CONTENDERS = [
    ("wal", "QuLab WAL relay"),
    ("ordered", "QuLab ordered polling relay"),
    ("unordered", "QuLab unordered polling relay"),
    ("pgqueuer", "pgqueuer worker"),
]
RATES = (500, 1000)


def _processes() -> Any:
    """Contenders start from a fork server that has imported QuLab and the peers once, so a
    process is up in milliseconds rather than seconds of imports on a busy machine."""
    ctx = mp.get_context("forkserver")
    preload = ["bench.relay_contenders", "redis.asyncio", "asyncpg"]
    ctx.set_forkserver_preload([*preload, "pgqueuer"] if peers_installed() else preload)
    return ctx


def peers_installed() -> bool:
    return importlib.util.find_spec("pgqueuer") is not None


# -- backlogs ---------------------------------------------------------------------------------

LOAD_COMMITS = """
DO $$
BEGIN
    FOR t IN 0..{last} LOOP
        INSERT INTO domain_events (id, event_type, aggregate_type, aggregate_id, payload,
                                   status, created_at, updated_at, attempts)
        SELECT gen_random_uuid()::text, 'bench.event', '{aggregate}', gen_random_uuid()::text,
               json_build_object('n', t * {per} + g), 'pending', now(), now(), 0
        FROM generate_series(0, {per} - 1) AS g;
        COMMIT;
    END LOOP;
END $$
"""


async def _skip_slot(conn: Any) -> None:
    """Move the WAL relay's slot to the end of the log: what other contenders wrote (and the
    rows a TRUNCATE removed) is not its to send. Past a checkpoint, PostgreSQL moves the slot's
    restart point too, so its next decoding starts at this round's backlog. The last round's
    relay may still be streaming it for a moment after its process ended."""
    deadline = time.monotonic() + 60
    while await conn.fetchval(  # the server ends the old stream on its own
        "SELECT active FROM pg_replication_slots WHERE slot_name = $1", SLOT
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"slot {SLOT} still streamed 60 s after its relay stopped")
        await asyncio.sleep(0.05)
    await conn.execute(
        "SELECT pg_replication_slot_advance($1, pg_current_wal_lsn()) "
        "FROM pg_replication_slots WHERE slot_name = $1",
        SLOT,
    )


async def _prepare(kind: str, url: str, count: int) -> None:
    """Empty the outbox (and pgqueuer's queue), then load ``count`` events for ``kind``:
    pgqueuer jobs, or pending events committed ``PER_COMMIT`` to a transaction."""
    if kind == "pgqueuer":
        await load_jobs(url, count)
        return
    conn = await asyncpg.connect(_plain(url))
    try:
        await conn.execute("TRUNCATE domain_events, outbox_failures")
        await conn.execute("CHECKPOINT")  # logs running transactions: the slot restarts here
        await _skip_slot(conn)
        if count:
            sql = LOAD_COMMITS.format(
                last=int(count) // PER_COMMIT - 1, per=PER_COMMIT, aggregate=AGGREGATE
            )
            await conn.execute(sql)
        await conn.execute("VACUUM ANALYZE domain_events")
    finally:
        await conn.close()


# -- drains -------------------------------------------------------------------------------------


async def _any_left(conn: Any, kind: str) -> bool:
    """Whether a pending event (or pgqueuer job) is left: the first one the index finds, not a
    count (counting 50,000 rows every 10 ms would take a third of a core from the contenders)."""
    if kind == "pgqueuer":
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pgqueuer)"))
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM domain_events WHERE status = 'pending')")
    )


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
    server: tuple[str, str, str, int],
    batch: int,
    count: int,
    *,
    late: bool = False,
) -> tuple[float, float]:
    """Start the drainers, release them together; seconds until the ``count`` events are on the
    stream and nothing is left in the outbox, and the PostgreSQL CPU seconds spent meanwhile.

    ``late``: the outbox is empty when the drainers start and the ``count`` events arrive in one
    commit once they run; the clock starts at that commit."""
    url, redis_url, prefix, postmaster = server
    ctx = _processes()
    go, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    args = (url, redis_url, prefix, batch)
    workers = [
        ctx.Process(target=drain_worker, args=(kind, args, go, stop, out)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        out.get(timeout=300)

    async def watch() -> tuple[float, float]:
        conn = await asyncpg.connect(_plain(url))
        client = Redis.from_url(redis_url)
        stream = stream_name(AGGREGATE, prefix)
        watcher = {int(await conn.fetchval("SELECT pg_backend_pid()"))}
        try:
            await asyncio.sleep(1.0)  # every worker connected and warm
            go.set()
            if late:
                if kind == "ordered":
                    await _leases_shared(conn, processes)
                else:
                    await asyncio.sleep(1.0)  # every relay polling
                await _load_backlog(url, count, at_once=True)
            cpu = pg_cpu.cpu_ticks(postmaster, watcher)
            start = time.perf_counter()
            # The stream's length costs the server nothing; asking PostgreSQL every 10 ms would
            # cost it more and more as the drain leaves dead index entries behind.
            polls = 0
            while await client.xlen(stream) < count:
                polls += 1
                if polls % 100 == 0 and not await _any_left(conn, kind):
                    break  # an event that never arrives: _check_published reports it
                await asyncio.sleep(0.01)
            while await _any_left(conn, kind):  # noqa: ASYNC110 (the last records)
                await asyncio.sleep(0.002)
            seconds = time.perf_counter() - start
            return seconds, pg_cpu.seconds(pg_cpu.cpu_ticks(postmaster, watcher) - cpu)
        finally:
            await client.aclose()
            await conn.close()

    try:
        return asyncio.run(watch())
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)


# -- latency and producers ----------------------------------------------------------------------


async def _latency(
    kind: str, url: str, redis_url: str, prefix: str, rate: int, seconds: float
) -> tuple[Samples, float]:
    """Commit-to-publish latency of one ``kind`` relay (or pgqueuer worker) on NOTIFY, with 16
    producers offering ``rate`` events/s for ``seconds``; and the rate they achieved."""
    await _prepare(kind, url, 0)
    await _clear_streams(redis_url, prefix)
    ctx = _processes()
    stop, out = ctx.Event(), ctx.Queue()
    relay = ctx.Process(target=latency_worker, args=(kind, (url, redis_url, prefix), out, stop))
    relay.start()
    committed: dict[str, float] = {}
    try:
        out.get(timeout=300)
        produce = _pgqueuer_producer if kind == "pgqueuer" else _qulab_producer
        began = time.time()
        await produce(url, rate, seconds, committed)
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
        relay.join(30)
    latencies = []
    for entry_id, fields in entries or []:
        event_id = str((fields or {}).get("id"))
        if event_id in committed:
            xadd_at = int(str(entry_id).split("-")[0]) / 1000
            latencies.append(max(0.0, xadd_at - committed[event_id]))
    extra = {"achieved_rate": achieved, "committed": len(committed)}
    return Samples("commit -> on stream", latencies, extra), achieved


PRODUCERS = 16  # 8 commit about 600 events/s here, short of the offered rate


async def _paced(rate: int, seconds: float, commit: Any) -> None:
    """``PRODUCERS`` tasks calling ``commit(i)`` at ``rate`` per second in all."""
    total = int(rate * seconds)
    start = time.time() + 0.2

    async def producer(k: int) -> None:
        for i in range(k, total, PRODUCERS):
            delay = start + i / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await commit(i)

    await asyncio.gather(*(producer(k) for k in range(PRODUCERS)))


async def _qulab_producer(url: str, rate: int, seconds: float, committed: dict[str, float]) -> None:
    async with bootstrap(bench_settings(database_url=url, pool_size=PRODUCERS)) as runtime:
        await runtime.db.ping()

        async def commit(i: int) -> None:
            async with PlatformUnitOfWork(runtime.db) as uow:
                row = uow.record(bench_event(str(uuid.uuid4()), i))
                await uow.commit()
            committed[row.id] = time.time()

        await _paced(rate, seconds, commit)


async def _pgqueuer_producer(
    url: str, rate: int, seconds: float, committed: dict[str, float]
) -> None:
    from pgqueuer import AsyncpgPoolDriver
    from pgqueuer.queries import Queries

    pool = await asyncpg.create_pool(_plain(url), min_size=PRODUCERS, max_size=PRODUCERS)
    try:
        queries = Queries(AsyncpgPoolDriver(pool))

        async def commit(i: int) -> None:
            ids = await queries.enqueue(PGQ_ENTRYPOINT, f'{{"n": {i}}}'.encode())
            committed[str(ids[0])] = time.time()

        await _paced(rate, seconds, commit)
    finally:
        await pool.close()


async def _produce(url: str, notify: bool, writers: int, seconds: float) -> float:
    """Events per second ``writers`` writers commit, one event per unit of work."""
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


# -- the benchmark ------------------------------------------------------------------------------


async def _create_slot(url: str, redis_url: str, prefix: str) -> None:
    """One pass of a WAL relay on the empty outbox: its slot and publication exist from now."""
    async with bootstrap(relay_settings(url, redis_url, prefix, "wal")) as runtime:
        await runtime.relay(listen=False).publish_pending()


async def _check_published(redis_url: str, prefix: str, kind: str, count: int) -> None:
    """A drain counts only if every event reached the stream (a failed job leaves pgqueuer's
    queue too)."""
    client = Redis.from_url(redis_url)
    try:
        found = int(await client.xlen(stream_name(AGGREGATE, prefix)))
    finally:
        await client.aclose()
    if found < count:
        raise RuntimeError(f"{kind} drained {count:,} events but published {found:,}")


def _median_spread(values: list[float]) -> tuple[float, float]:
    middle = statistics.median(values)
    return middle, (max(values) - min(values)) / middle if len(values) > 1 and middle else 0.0


@benchmark(
    "relays",
    "Relays side by side (WAL, ordered, unordered, pgqueuer): throughput, latency, CPU",
    needs=(REDIS_SERVER,),  # PostgreSQL: a private server of its own
)
async def relays_benchmark(config: BenchConfig) -> Report:
    redis_url = required(config.redis_url, REDIS_SERVER)
    cluster = await asyncio.to_thread(start_primary, {"wal_level": "logical"})
    try:
        return await _measure(config, cluster, redis_url)
    finally:
        await asyncio.to_thread(cluster.remove)


async def _measure(config: BenchConfig, cluster: PrivateCluster, redis_url: str) -> Report:
    backlog = 2_000 if config.quick else 50_000
    small_backlog = 200 if config.quick else 20_000  # long enough that start-up is noise
    seconds = 0.5 if config.quick else 10.0
    rounds = 1 if config.quick else min(max(config.rounds, 1), 3)
    prefix = f"qulab_bench_{uuid.uuid4().hex[:8]}:"
    base_url = cluster.primary.url()
    url = await _create_database(base_url)
    server = (url, redis_url, prefix, pg_cpu.postmaster_pid(cluster.primary.data_dir))
    peers = peers_installed()
    contenders = [(kind, label) for kind, label in CONTENDERS if peers or kind != "pgqueuer"]
    drains = [*contenders, ("raw", "raw asyncpg loop")]
    fours = [("ordered", "QuLab ordered relays"), ("unordered", "QuLab unordered relays")]
    rates: dict[tuple[str, int], list[float]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    four: dict[str, list[float]] = {label: [] for _, label in fours}
    latency: dict[tuple[str, int], tuple[Samples, float]] = {}
    producers: dict[str, list[float]] = {"NOTIFY on": [], "NOTIFY off": []}
    try:
        async with bootstrap(bench_settings(database_url=url)) as runtime:
            await migrate.upgrade(runtime.db)
        await _create_slot(url, redis_url, prefix)
        for _ in range(rounds):
            for batch, count, cases in ((500, backlog, drains), (10, small_backlog, contenders)):
                for kind, _label in cases:
                    await _prepare(kind, url, count)
                    await _clear_streams(redis_url, prefix)
                    took, spent = await asyncio.to_thread(_drain, kind, 1, server, batch, count)
                    await _check_published(redis_url, prefix, kind, count)
                    rates.setdefault((kind, batch), []).append(count / took)
                    cpu.setdefault((kind, batch), []).append(spent / count * 10_000)
            for kind, label in fours:
                await _prepare(kind, url, 0)
                await _clear_streams(redis_url, prefix)
                took, _spent = await asyncio.to_thread(
                    _drain, kind, 4, server, 500, backlog, late=True
                )
                four[label].append(backlog / took)
            for label, notify in (("NOTIFY on", True), ("NOTIFY off", False)):
                producers[label].append(
                    await _produce(url, notify, 16, 0.5 if config.quick else 5.0)
                )
        for rate in RATES:
            for kind, _label in contenders:
                latency[kind, rate] = await _latency(kind, url, redis_url, prefix, rate, seconds)
    finally:
        await _clear_streams(redis_url, prefix)  # the server goes with its databases and slot
    return _report(
        rounds,
        (backlog, small_backlog),
        (contenders, drains, fours),
        (rates, cpu, four, latency, producers),
    )


def _report(
    rounds: int,
    sizes: tuple[int, int],
    cases: tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]],
    measured: tuple[Any, ...],
) -> Report:
    backlog, small_backlog = sizes
    contenders, drains, fours = cases
    rates, cpu, four, latency, producers = measured
    rate = {key: _median_spread(values) for key, values in rates.items()}
    per_10k = {key: statistics.median(values) for key, values in cpu.items()}

    def drain_rows(batch: int, labels: list[tuple[str, str]]) -> list[list[Any]]:
        rows: list[list[Any]] = [
            [label, len(rates[kind, batch]), *rate[kind, batch], per_10k[kind, batch]]
            for kind, label in labels
        ]
        if not peers_installed():
            rows.append(["pgqueuer worker", 0, "not installed", "", ""])
        return rows

    latency_rows = [
        [
            label,
            rate_offered,
            latency[kind, rate_offered][1],
            latency[kind, rate_offered][0].extra["committed"],
            len(latency[kind, rate_offered][0].seconds),
            *(latency[kind, rate_offered][0].percentile(p) * 1000 for p in (50, 95, 99)),
            max(latency[kind, rate_offered][0].seconds, default=0.0) * 1000,
        ]
        for rate_offered in RATES
        for kind, label in contenders
    ]
    four_rate = {label: _median_spread(values) for label, values in four.items()}
    notify_on = statistics.median(producers["NOTIFY on"])
    notify_off = statistics.median(producers["NOTIFY off"])
    wal, ordered = rate["wal", 500][0], rate["ordered", 500][0]
    wal_p99 = latency["wal", 1000][0].percentile(99) * 1000
    ordered_p99 = latency["ordered", 1000][0].percentile(99) * 1000
    targets = _targets(
        (wal / ordered, rate["wal", 10][0] / rate["ordered", 10][0]),
        (wal_p99, latency["wal", 1000][1]),
        (ordered_p99, latency["ordered", 1000][1]),
        ordered / rate["raw", 500][0],
        four_rate[fours[0][1]][0] / four_rate[fours[1][1]][0],
        rate["ordered", 10][0] / rate["pgqueuer", 10][0] if ("pgqueuer", 10) in rate else None,
    )
    cpu_column = "PostgreSQL CPU s / 10k events"
    return Report(
        name="relays",
        title="Relays side by side: PostgreSQL -> Redis Streams",
        tables=[
            Table(
                f"Draining {backlog:,} events at batch 500, one process each (median of "
                f"{rounds} round(s), spread = (max-min)/median)",
                ["case", "rounds", "events/s", "spread", cpu_column],
                drain_rows(500, drains),
            ),
            Table(
                f"Draining {small_backlog:,} events at batch 10, one process each",
                ["case", "rounds", "events/s", "spread", cpu_column],
                drain_rows(10, contenders),
            ),
            Table(
                f"Four processes, {backlog:,} events arriving in one commit once they run",
                ["case", "rounds", "events/s", "spread"],
                [[label, len(four[label]), *four_rate[label]] for _, label in fours],
            ),
            Table(
                "Commit-to-publish latency, one relay (or worker) woken by NOTIFY (the WAL relay "
                "by its stream), "
                f"{PRODUCERS} producers",
                [
                    "contender",
                    "offered/s",
                    "achieved/s",
                    "committed",
                    "on stream",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                ],
                latency_rows,
            ),
            Table(
                "Producers: 16 writers, one event per unit of work",
                ["NOTIFY", "events/s", "off / on"],
                [["on", notify_on, 1.0], ["off", notify_off, notify_off / notify_on]],
            ),
        ],
        targets=targets,
        notes=_notes(notify_on),
        raw={
            "rates": {f"{kind}@{batch}": values for (kind, batch), values in rates.items()},
            "cpu_per_10k": {f"{kind}@{batch}": values for (kind, batch), values in cpu.items()},
            "four_processes": four,
            "producers": producers,
            "latency": {
                f"{kind}@{offered}": samples.summary()
                for (kind, offered), (samples, _) in latency.items()
            },
        },
    )


def _targets(
    wal_vs_ordered: tuple[float, float],
    wal_latency: tuple[float, float],
    ordered_latency: tuple[float, float],
    ordered_vs_raw: float,
    ordered_vs_unordered4: float,
    small_vs_pgqueuer: float | None,
) -> list[Target]:
    (wal_p99, wal_achieved), (ordered_p99, ordered_achieved) = wal_latency, ordered_latency
    targets = [
        Target(
            "WAL relay / ordered polling relay, drain at batch 500",
            wal_vs_ordered[0],
            2.0,
            True,
            WAL_DRAIN_LIMITS,
        ),
        Target(
            "WAL relay / ordered polling relay, drain at batch 10",
            wal_vs_ordered[1],
            2.0,
            True,
            WAL_SMALL_DRAIN_LIMITS,
        ),
        Target(
            f"WAL relay commit-to-publish p99 at 1000 events/s offered ({wal_achieved:,.0f} "
            "achieved) (ms)",
            wal_p99,
            10,
            False,
            WAL_LATENCY_LIMITS,
        ),
        Target(
            f"ordered polling relay commit-to-publish p99 at 1000 events/s offered "
            f"({ordered_achieved:,.0f} achieved) (ms)",
            ordered_p99,
            50,
            False,
            ORDERED_LATENCY_LIMITS,
        ),
        Target("ordered relay / raw loop (1 process)", ordered_vs_raw, 0.9, True),
        Target(
            "ordered / unordered, 4 relays",
            ordered_vs_unordered4,
            0.9,
            True,
            "an ordered claim does more per batch: it reads only its leased partitions behind "
            "the commit-order fence (pg_snapshot_xmin) and holds its lease rows FOR KEY SHARE "
            "until the mark, where an unordered claim takes any pending row SKIP LOCKED; four "
            "processes, PostgreSQL and Redis share 2 cores, so the rounds spread by 10-30 %",
        ),
    ]
    if small_vs_pgqueuer is not None:
        targets.append(
            Target(
                "ordered relay / pgqueuer at batch 10",
                small_vs_pgqueuer,
                1.5,
                True,
                SMALL_BATCH_LIMITS,
            )
        )
    return targets


WAL_DRAIN_LIMITS = (
    "the 2 cores: on a 50,000-event drain the log-tailing relay's process is busy about 80 % "
    "of the time (about 15 us of CPU per event: reading the stream and decoding pgoutput, "
    "building the messages, encoding the XADDs and reading Redis's replies), while the other "
    "core runs its walsender (about 0.4 s of CPU per 50,000 events), Redis and the DELETEs "
    "that record the batches. The ordered polling relay spends most of its time waiting on "
    "its claims and marks, which PostgreSQL executes while the relay waits"
)
WAL_SMALL_DRAIN_LIMITS = (
    "a batch of 10 is one Redis pipeline; its DELETE, count and confirmation run behind the "
    "next batch's publish, in one transaction for the batches published meanwhile. Producers "
    "of the backlog, relay, PostgreSQL and Redis share 2 cores"
)
WAL_LATENCY_LIMITS = (
    "the stream sends a commit as soon as it is in the log and wakes the relay, which publishes "
    "it at once; what remains is the relay's turn on 2 cores shared with 16 producers, "
    "PostgreSQL and Redis"
)
ORDERED_LATENCY_LIMITS = (
    "the commit-order fence: with 16 producers committing at once an ordered claim takes only "
    "the events behind the oldest transaction still open (pg_snapshot_xip) and looks again 20 "
    "ms later for the rest; producers, relay, PostgreSQL and Redis share 2 busy cores. (A p99 "
    "past a second once came from plans the relay's connection made on the emptied outbox and "
    "kept: they read the whole table for every claim and mark as it grew; that connection now "
    "runs without sequential scans)"
)
SMALL_BATCH_LIMITS = (
    "a batch of 10 is three PostgreSQL round trips (BEGIN, the fenced claim that also marks "
    "the batch before, COMMIT) and one Redis write, each a send and a wake-up on shared cores; "
    "PostgreSQL's CPU per event still grows with the backlog as the claim steps over the dead "
    "index entries of the rows it published (0.5-0.6 s per 10k events on 6,000, 0.9-1.0 on "
    "20,000). Before the claim was planned once per connection it was planned for every batch "
    "on a 20,000-event backlog (0.6 ms each) and the ratio measured 0.95"
)


def _notes(notify_on: float) -> list[str]:
    return [
        "Every contender runs on one private PostgreSQL 15 with wal_level=logical, started for "
        "the run and removed after it (default settings otherwise); Redis is the shared one.",
        "Drains: the polling relays poll every 20 ms without NOTIFY, the WAL relay reads its "
        "replication stream from the slot's position; the clock stops when a watcher sees "
        "every event on the stream (its length, read every 10 ms) and then no pending row or "
        "job in PostgreSQL. Events each have their own aggregate and are "
        f"committed {PER_COMMIT} to a transaction; pgqueuer's jobs are enqueued 5,000 at a time.",
        "PostgreSQL CPU: user + system time of the server's processes (backends, the WAL "
        "relay's walsender, WAL writer, checkpointer, autovacuum; ended backends through the "
        "postmaster's cutime/cstime) from /proc/<pid>/stat over the drain, the watcher's "
        "backend excluded, per 10,000 events.",
        "The WAL relay deletes what it published (the log keeps the record); the polling relays "
        "mark rows published; pgqueuer deletes its jobs and logs them (its log is emptied "
        "before each drain, as the outbox is).",
        f"Latency: {PRODUCERS} producers offer the rate; alone they commit about "
        f"{notify_on:,.0f}/s (producers table), here they share the 2 cores with the relay, "
        "PostgreSQL and Redis. Latency is the stream entry's id (server milliseconds, "
        "truncated) minus the commit's return, so under 1 ms reads as 0.",
    ]
