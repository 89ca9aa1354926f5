"""Connection pooling, measured: request-shaped units of work through a pool and without one.

A request opens a session, reads a user and their latest score, and closes the session. The
same requests run through the pooled engine and through a ``NullPool`` engine (a fresh
connection per request); throughput, latency percentiles and the pool's peak use are read from
the run itself. The exhaustion demonstration holds more connections than the pool allows and
shows the waiters ending in ``PoolExhausted`` after the pool timeout instead of hanging.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from qulab.core import Database, InvalidInput, PoolExhausted, Settings, open_database
from qulab.platform import ScoreRepository, UserRepository

log = logging.getLogger(__name__)

POOLED = "pooled"
NULL_POOL = "NullPool"
MAX_CONCURRENCY = 500
MAX_REQUESTS = 1_000_000


@dataclass
class PoolUse:
    """What a pool did during a run: checkouts, new connections opened, peak checked out, and
    the number checked out after every checkout and checkin (seconds since tracking began)."""

    checkouts: int = 0
    connects: int = 0
    peak_checked_out: int = 0
    timeline: list[tuple[float, int]] = field(default_factory=list)
    _current: int = field(default=0, repr=False)
    _start: float = field(default_factory=time.perf_counter, repr=False)

    def _moved(self, by: int) -> None:
        self._current += by
        self.timeline.append((time.perf_counter() - self._start, self._current))


@contextmanager
def track_pool(db: Database) -> Iterator[PoolUse]:
    """Record checkouts, connects and the peak number of connections checked out at once."""
    use = PoolUse()
    target = db.engine.sync_engine

    def _connect(*_: Any) -> None:
        use.connects += 1

    def _checkout(*_: Any) -> None:
        use.checkouts += 1
        use._moved(1)
        use.peak_checked_out = max(use.peak_checked_out, use._current)

    def _checkin(*_: Any) -> None:
        use._moved(-1)

    listeners = (("connect", _connect), ("checkout", _checkout), ("checkin", _checkin))
    for name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield use
    finally:
        for name, listener in listeners:
            event.remove(target, name, listener)


@dataclass(frozen=True)
class LoadRun:
    """One mode's run of ``requests`` requests at ``concurrency``."""

    mode: str
    concurrency: int
    requests: int
    total_s: float
    latencies_s: tuple[float, ...]
    checkouts: int
    connects: int
    peak_checked_out: int
    pool_size: int | None
    max_overflow: int | None
    # (seconds into the run, connections checked out) after every checkout and checkin.
    timeline: tuple[tuple[float, int], ...] = ()

    @property
    def throughput(self) -> float:
        """Requests per second over the whole run (Θ = requests / total time)."""
        return self.requests / self.total_s if self.total_s else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_s, p)

    @property
    def p50_s(self) -> float:
        return self.percentile(50)

    @property
    def p95_s(self) -> float:
        return self.percentile(95)

    @property
    def overflow_used(self) -> int | None:
        if self.pool_size is None:
            return None
        return max(0, self.peak_checked_out - self.pool_size)


@dataclass(frozen=True)
class PoolingComparison:
    database: str
    pooled: LoadRun
    null_pool: LoadRun

    @property
    def throughput_ratio(self) -> float:
        if not self.null_pool.throughput:
            return 0.0
        return self.pooled.throughput / self.null_pool.throughput


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    if p == 50:
        return float(statistics.median(values))
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


async def request_unit(db: Database, user_id: str) -> None:
    """One request: open a session, read the user and their latest score, close."""
    async with db.session_scope() as session:
        await UserRepository(session).get(user_id)
        await ScoreRepository(session).get_latest_or_none(user_id)


def _check(concurrency: int, requests: int, user_ids: Sequence[str]) -> None:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidInput("concurrency", f"must be between 1 and {MAX_CONCURRENCY}")
    if not 1 <= requests <= MAX_REQUESTS:
        raise InvalidInput("requests", f"must be between 1 and {MAX_REQUESTS}")
    if not user_ids:
        raise InvalidInput("user_ids", "needs at least one user to read")


async def run_load(
    db: Database, mode: str, user_ids: Sequence[str], *, concurrency: int, requests: int
) -> LoadRun:
    """Run ``requests`` requests with ``concurrency`` workers and measure them."""
    _check(concurrency, requests, user_ids)
    latencies: list[float] = []
    issued = 0

    async def _worker() -> None:
        nonlocal issued
        while issued < requests:
            index = issued
            issued += 1
            start = time.perf_counter()
            await request_unit(db, user_ids[index % len(user_ids)])
            latencies.append(time.perf_counter() - start)

    status = db.pool_status()
    with track_pool(db) as use:
        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, requests)):
                group.create_task(_worker())
        total = time.perf_counter() - start
    return LoadRun(
        mode=mode,
        concurrency=concurrency,
        requests=requests,
        total_s=total,
        latencies_s=tuple(latencies),
        checkouts=use.checkouts,
        connects=use.connects,
        peak_checked_out=use.peak_checked_out,
        pool_size=status.size,
        max_overflow=status.max_overflow,
        timeline=tuple(use.timeline),
    )


def pooled_and_unpooled(settings: Settings) -> tuple[Database, Database]:
    """The configured pooled database and the same database with a connection per checkout."""
    return open_database(settings), open_database(settings, null_pool=True)


async def compare_pooling(
    settings: Settings,
    user_ids: Sequence[str],
    *,
    concurrency: int,
    requests: int,
    warmup: bool = True,
) -> PoolingComparison:
    """The same requests through the pool and through ``NullPool``, one after the other.

    With ``warmup`` each mode first serves ``concurrency`` untimed requests, so the pooled run
    measures a warm pool (the steady state of a server) rather than its first connections.
    """
    _check(concurrency, requests, user_ids)
    pooled, unpooled = pooled_and_unpooled(settings)
    runs: list[LoadRun] = []
    try:
        for mode, db in ((POOLED, pooled), (NULL_POOL, unpooled)):
            if warmup:
                await run_load(db, mode, user_ids, concurrency=concurrency, requests=concurrency)
            runs.append(
                await run_load(db, mode, user_ids, concurrency=concurrency, requests=requests)
            )
    finally:
        await pooled.dispose()
        await unpooled.dispose()
    return PoolingComparison(database=pooled.description, pooled=runs[0], null_pool=runs[1])


@dataclass(frozen=True)
class HolderOutcome:
    index: int
    acquired: bool
    waited_s: float
    error: str | None


@dataclass(frozen=True)
class ExhaustionResult:
    database: str
    pool_size: int
    max_overflow: int
    holders: int
    timeout_s: float
    outcomes: tuple[HolderOutcome, ...]

    @property
    def acquired(self) -> int:
        return sum(outcome.acquired for outcome in self.outcomes)

    @property
    def timed_out(self) -> int:
        return sum(not outcome.acquired for outcome in self.outcomes)

    @property
    def error(self) -> str | None:
        """The message the first waiter got (they all get the same one)."""
        return next((o.error for o in self.outcomes if o.error), None)


async def _hold(db: Database, index: int, release: asyncio.Event) -> HolderOutcome:
    start = time.perf_counter()
    try:
        async with db.session_scope() as session:
            await session.connection()
            waited = time.perf_counter() - start
            await release.wait()
    except PoolExhausted as error:
        return HolderOutcome(index, False, time.perf_counter() - start, str(error))
    return HolderOutcome(index, True, waited, None)


async def demonstrate_pool_exhaustion(
    settings: Settings,
    *,
    pool_size: int = 2,
    max_overflow: int = 0,
    holders: int = 5,
    pool_timeout: float = 0.5,
) -> ExhaustionResult:
    """``holders`` requests each hold a connection from a pool of ``pool_size + max_overflow``.

    The holders that get a connection keep it until every other one has given up; those end in
    ``PoolExhausted`` after ``pool_timeout`` seconds. Nothing waits forever: if the pool misbehaved,
    the holders are released after a few timeouts anyway.
    """
    if holders < 1:
        raise InvalidInput("holders", "must be at least 1")
    if pool_size < 1 or max_overflow < 0:
        raise InvalidInput("pool_size", "must be at least 1 (and max_overflow at least 0)")
    if pool_timeout <= 0:
        raise InvalidInput("pool_timeout", "must be greater than 0")
    limited = settings.replace(
        pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout
    )
    db = open_database(limited)
    release = asyncio.Event()
    expected_failures = max(0, holders - pool_size - max_overflow)
    try:
        tasks = [asyncio.create_task(_hold(db, index, release)) for index in range(holders)]
        deadline = time.perf_counter() + pool_timeout * 4 + 1.0
        pending: set[asyncio.Task[HolderOutcome]] = set(tasks)
        finished = 0
        while finished < expected_failures and pending:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                log.warning("pool exhaustion demo: waiters still pending after the deadline")
                break
            done, pending = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            finished += len(done)
        release.set()
        outcomes = await asyncio.gather(*tasks)
    finally:
        release.set()
        await db.dispose()
    return ExhaustionResult(
        database=db.description,
        pool_size=pool_size,
        max_overflow=max_overflow,
        holders=holders,
        timeout_s=pool_timeout,
        outcomes=tuple(outcomes),
    )
