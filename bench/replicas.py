"""Read replicas: reads/s and p99 on the primary alone and with one and two standbys, and how
long a read after a write waits for its token.

The suite starts a private primary and two streaming standbys of its own
(``qulab.lab.private_postgres``), seeds users on the primary, waits until both standbys have
replayed them and builds three runtimes on the same database: primary only, primary + 1 standby,
primary + 2 standbys (the same pool size and concurrency each). Each round runs the same
request-shaped reads (``read_user``: one Core statement on a read connection) through the three
runtimes in turn, the order rotating per round, so the three are measured side by side.

Read-your-writes: a unit of work renames a user and the same task reads the user back at once,
holding the commit's token; the wait is the read's whole time (routing, waiting for a standby to
replay the token or falling back to the primary, the statement). The same writes and reads on
the primary-only runtime are the floor. Every read-your-writes read is checked for the new name.

On one machine the standbys share the cores with the primary and with this process: the figures
show what routing costs, not the capacity replicas add on hosts of their own.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg

from bench.harness import BenchConfig, Report, Samples, Table, Target, bench_settings, benchmark
from qulab.core import QulabError
from qulab.core.bootstrap import Runtime
from qulab.lab.private_postgres import PrivateCluster, start_primary
from qulab.platform import migrate, read_models
from qulab.platform.application import bootstrap
from qulab.platform.schemas import UpdateUser
from qulab.platform.services import seeding
from qulab.platform.services.users import update_user
from qulab.platform.uow import uow_factory
from qulab.platform.views import user_ids

T = TypeVar("T")

USERS, QUICK_USERS = 500, 20
READS, QUICK_READS = 2_000, 40  # per contender per round
WRITES, QUICK_WRITES = 200, 5  # read-your-writes pairs per runtime
CONCURRENCY, QUICK_CONCURRENCY = 16, 4
POOL_SIZE = 10
CONTENDERS = ("primary only", "primary + 1 replica", "primary + 2 replicas")
DATABASE = "qulab_bench_replicas"


@dataclass
class ReadRun:
    """One round of reads through one runtime."""

    seconds: float
    latencies: list[float]
    served: int  # by a standby
    fallbacks: int  # meant for a standby, served by the primary

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds


@dataclass
class AfterWrite:
    """Read-your-writes pairs on one runtime."""

    commits: list[float] = field(default_factory=list)
    reads: list[float] = field(default_factory=list)
    served: int = 0
    fallbacks: int = 0
    stale: int = 0


async def fresh(call: Callable[[], Awaitable[T]]) -> T:
    """``call`` as another request makes it: in a context that has written nothing."""

    async def run() -> T:
        return await call()

    return await asyncio.create_task(run(), context=contextvars.Context())


def counts(runtime: Runtime) -> tuple[int, int]:
    replicas = runtime.db.replicas
    return (0, 0) if replicas is None else (replicas.served, replicas.fallbacks)


async def read_round(runtime: Runtime, ids: Sequence[str], reads: int, concurrency: int) -> ReadRun:
    """``reads`` user reads by ``concurrency`` tasks, each in a context of its own."""
    latencies: list[float] = []
    turn = iter(range(reads))

    async def reader() -> None:
        for n in turn:
            started = time.perf_counter()
            found = await read_models.read_user(runtime.db, ids[n % len(ids)])
            latencies.append(time.perf_counter() - started)
            if found is None:
                raise RuntimeError("a seeded user was not found")

    served, fallbacks = counts(runtime)
    started = time.perf_counter()
    await asyncio.gather(*(fresh(reader) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    now_served, now_fallbacks = counts(runtime)
    return ReadRun(seconds, latencies, now_served - served, now_fallbacks - fallbacks)


async def after_writes(runtime: Runtime, ids: Sequence[str], writes: int) -> AfterWrite:
    """``writes`` renames, each read back at once by the writer (its token in its context)."""
    found = AfterWrite()
    factory = uow_factory(runtime.db)

    async def pair(user_id: str) -> None:
        name = f"Renamed {uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        await update_user(UpdateUser(user_id=user_id, name=name), factory)
        committed = time.perf_counter()
        served, fallbacks = counts(runtime)
        user = await read_models.read_user(runtime.db, user_id)
        found.reads.append(time.perf_counter() - committed)
        found.commits.append(committed - started)
        now_served, now_fallbacks = counts(runtime)
        found.served += now_served - served
        found.fallbacks += now_fallbacks - fallbacks
        found.stale += user is None or user.name != name

    for n in range(writes):
        await fresh(functools.partial(pair, ids[n % len(ids)]))
    return found


async def _caught_up(cluster: PrivateCluster, database: str) -> None:
    """Until every standby has replayed what the primary has written so far."""
    conn = await asyncpg.connect(cluster.primary.dsn(database), timeout=10)
    try:
        written = str(await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
    finally:
        await conn.close()
    deadline = time.monotonic() + 60
    for standby in cluster.standbys:
        conn = await asyncpg.connect(standby.dsn(database), timeout=10)
        try:
            query = "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn"
            while not await conn.fetchval(query, written):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"standby on port {standby.port} did not catch up")
                await asyncio.sleep(0.05)
        finally:
            await conn.close()


async def _prepare(cluster: PrivateCluster, users: int) -> list[str]:
    conn = await asyncpg.connect(cluster.primary.dsn(), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    async with bootstrap(bench_settings(database_url=cluster.primary.url(DATABASE))) as rt:
        await migrate.upgrade(rt.db)
        await seeding.seed(rt.db, users, 1, marker="bench", rng_seed=13)
        ids = await user_ids(rt.db)
    await _caught_up(cluster, DATABASE)
    return ids


def _runtimes(cluster: PrivateCluster) -> list[Runtime]:
    standbys = [standby.url(DATABASE) for standby in cluster.standbys[:2]]
    return [
        bootstrap(
            bench_settings(
                database_url=cluster.primary.url(DATABASE),
                database_replica_urls=",".join(standbys[:count]),
                pool_size=POOL_SIZE,
                max_overflow=0,
            )
        )
        for count in range(3)
    ]


async def measure(cluster: PrivateCluster, config: BenchConfig) -> Report:
    """The suite on ``cluster`` (a primary with at least two standbys), which it leaves running."""
    users = QUICK_USERS if config.quick else USERS
    reads = QUICK_READS if config.quick else READS
    writes = QUICK_WRITES if config.quick else WRITES
    concurrency = QUICK_CONCURRENCY if config.quick else CONCURRENCY
    ids = await _prepare(cluster, users)
    runtimes = _runtimes(cluster)
    runs: dict[str, list[ReadRun]] = {label: [] for label in CONTENDERS}
    pairs: dict[str, AfterWrite] = {}
    try:
        for round_ in range(config.warmup + config.rounds):
            order = list(zip(CONTENDERS, runtimes, strict=True))
            shift = round_ % len(order)
            for label, runtime in order[shift:] + order[:shift]:
                run = await read_round(runtime, ids, reads, concurrency)
                if round_ >= config.warmup:
                    runs[label].append(run)
        for label, runtime in zip(CONTENDERS, runtimes, strict=True):
            if label != CONTENDERS[1]:
                pairs[label] = await after_writes(runtime, ids, writes)
    finally:
        for runtime in runtimes:
            await runtime.close()
        conn = await asyncpg.connect(cluster.primary.dsn(), timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        finally:
            await conn.close()
    return _report(runs, pairs, reads, writes, concurrency, users)


def _reads_row(label: str, found: list[ReadRun]) -> list[Any]:
    rates = [run.throughput for run in found]
    latencies = Samples(label, [s for run in found for s in run.latencies])
    served = sum(run.served for run in found)
    routed = served + sum(run.fallbacks for run in found)
    spread = (max(rates) - min(rates)) / statistics.median(rates) if len(rates) > 1 else 0.0
    share = f"{served / routed:.0%}" if routed else "-"
    return [
        label,
        len(found),
        statistics.median(rates),
        f"{spread:.0%}",
        latencies.percentile(50) * 1000,
        latencies.percentile(99) * 1000,
        share,
    ]


def _pairs_row(label: str, found: AfterWrite) -> list[Any]:
    reads = Samples(label, found.reads)
    routed = found.served + found.fallbacks
    return [
        label,
        len(found.reads),
        statistics.median(found.commits) * 1000,
        reads.percentile(50) * 1000,
        reads.percentile(95) * 1000,
        reads.percentile(99) * 1000,
        max(found.reads) * 1000,
        found.served if routed else "-",
        found.fallbacks if routed else "-",
        found.stale,
    ]


def _report(
    runs: dict[str, list[ReadRun]],
    pairs: dict[str, AfterWrite],
    reads: int,
    writes: int,
    concurrency: int,
    users: int,
) -> Report:
    rows = [_reads_row(label, found) for label, found in runs.items()]
    rate = {row[0]: row[2] for row in rows}
    two = CONTENDERS[2]
    ratio_rows = [[label, rate[label] / rate[CONTENDERS[0]]] for label in CONTENDERS]
    pair_rows = [_pairs_row(label, found) for label, found in pairs.items()]
    replicated = pairs[two]
    stale = sum(found.stale for found in pairs.values())
    p99_after_write = Samples(two, replicated.reads).percentile(99) * 1000
    return Report(
        name="replicas",
        title="Read replicas: routing reads, and reads after a write",
        tables=[
            Table(
                f"Reads: {reads:,} user reads per round by {concurrency} tasks, pool "
                f"{POOL_SIZE} per server ({users:,} users; spread = (max-min)/median)",
                [
                    "case",
                    "rounds",
                    "reads/s (median)",
                    "spread",
                    "p50 ms",
                    "p99 ms",
                    "served by replicas",
                ],
                rows,
            ),
            Table("reads/s against the primary alone", ["case", "ratio"], ratio_rows),
            Table(
                f"Read-your-writes: {writes:,} renames, each read back at once by the writer "
                "(its token)",
                [
                    "case",
                    "pairs",
                    "commit ms (median)",
                    "read p50 ms",
                    "read p95 ms",
                    "read p99 ms",
                    "read max ms",
                    "by a replica",
                    "fell back to the primary",
                    "stale reads",
                ],
                pair_rows,
            ),
        ],
        targets=[
            Target("stale reads after a write (token holders)", float(stale), 0.0, False),
            Target(
                "reads/s with 2 replicas / primary alone",
                rate[two] / rate[CONTENDERS[0]],
                1.0,
                True,
                "one 2-core machine: the two standbys, the primary and this process share the "
                "same cores, so spreading reads over three servers adds no CPU; what remains is "
                "the cost of routing (a health check per standby per interval, a pool per "
                "server). On hosts of their own the standbys add their capacity",
            ),
            Target(
                "read right after a write, 2 replicas, p99 (ms)",
                p99_after_write,
                200.0,
                False,
                "the read waits up to QULAB_REPLICA_WAIT_MS (200) for a standby to replay the "
                "commit, then the primary serves it",
            ),
        ],
        notes=[
            "One machine shows overhead, not capacity: the standbys run on the same two cores "
            "as the primary, the client and the other load.",
            "A read: read_user (one Core SELECT on a read connection); with replicas it goes to "
            "a healthy standby in turn, checked at most every QULAB_REPLICA_CHECK_INTERVAL (1 s).",
            "Read-your-writes: the read's whole time after the commit returned, waiting for a "
            "standby to replay the token included (polled every 5 ms, up to "
            "QULAB_REPLICA_WAIT_MS = 200 ms, then the primary); the commit includes the token's "
            "statement (pg_current_wal_insert_lsn) when replicas are configured.",
            "The served and fallback counts are db.replicas.served / .fallbacks, the figures "
            "exported as qulab_db_replica_reads_total and qulab_db_replica_fallbacks_total.",
        ],
        raw={
            "reads": {
                label: [
                    {
                        "reads_per_s": run.throughput,
                        "served": run.served,
                        "fallbacks": run.fallbacks,
                    }
                    for run in found
                ]
                for label, found in runs.items()
            },
            "after_write": {
                label: Samples(label, found.reads).summary()
                | {"served": found.served, "fallbacks": found.fallbacks, "stale": found.stale}
                for label, found in pairs.items()
            },
        },
    )


def _start_cluster() -> PrivateCluster:
    cluster = start_primary()
    try:
        cluster.add_standby()
        cluster.add_standby()
    except BaseException:
        cluster.remove()
        raise
    return cluster


@benchmark(
    "replicas",
    "Read replicas: reads/s and p99 with 0, 1 and 2 standbys; read-your-writes waits",
)
async def replicas_benchmark(config: BenchConfig) -> Report:
    try:
        cluster = await asyncio.to_thread(_start_cluster)
    except QulabError as error:
        return Report(
            name="replicas",
            title="Read replicas: routing reads, and reads after a write",
            notes=[f"not measured: no private PostgreSQL could be started ({error})"],
        )
    try:
        return await measure(cluster, config)
    finally:
        await asyncio.to_thread(cluster.remove)
