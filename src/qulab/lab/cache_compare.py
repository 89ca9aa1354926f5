"""Caching strategies side by side: one seeded workload, every strategy, the same rows.

Each strategy replays the same operations over the same scratch rows, on its own key prefix,
starting cold, one after another in one run. Per strategy it measures hit ratio, database
loads, read latency percentiles, stale reads and the worst staleness (judged by the version
oracle, not estimated), writes lost (acknowledged, never in the database: write-behind with
its flusher killed), and the database loads when the hottest key expires under a crowd of
concurrent readers (the stampede). The scratch table and every key are removed afterwards.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from qulab.core import Database
from qulab.lab.strategies import (
    ScratchRows,
    Strategy,
    StrategyFactory,
    WriteBehind,
)
from qulab.lab.workload import Operation, VersionOracle, Workload, operations

Progress = Callable[[str, int, int], None]
LATENCY_SAMPLE = 2000


@dataclass(frozen=True)
class StrategyResult:
    strategy: str
    reads: int
    writes: int
    hits: int
    hit_ratio: float | None
    db_loads: int
    db_loads_per_s: float
    stale_reads: int
    max_staleness_ms: float
    lost_writes: int
    p50_us: float | None
    p95_us: float | None
    p99_us: float | None
    stampede_loads: int
    stampede_readers: int
    seconds: float
    latencies_us: tuple[float, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["latencies_us"]
        return data


@dataclass(frozen=True)
class CacheComparison:
    stack: str
    workload: Workload
    results: list[StrategyResult]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [result.as_dict() for result in self.results]


async def compare_strategies(
    db: Database,
    names: list[str],
    workload: Workload,
    *,
    redis_url: str | None = None,
    prefix: str = "qulab:",
    progress: Progress | None = None,
) -> CacheComparison:
    """Run ``workload`` against each named strategy on ``db`` (and Redis when ``redis_url``)."""
    rows = ScratchRows(db, workload.keys)
    run_prefix = f"{prefix}compare:{rows.name.rpartition('_')[2]}:"
    factory = StrategyFactory(
        rows,
        redis_url=redis_url,
        prefix=run_prefix,
        ttl=workload.ttl,
        rng=random.Random(workload.seed),
    )
    await factory.probe()
    await rows.create()
    results: list[StrategyResult] = []
    try:
        plan = operations(workload)
        for name in names:
            strategy = await factory.build(name)
            try:
                results.append(await _measure(strategy, rows, plan, workload, progress))
            finally:
                await strategy.close()
    finally:
        try:
            await rows.drop()
        finally:
            await factory.clear()
    stack = f"{db.dialect} + {'redis' if redis_url else 'in-process cache'}"
    return CacheComparison(stack, workload, results)


@dataclass
class _Tally:
    reads: int = 0
    writes: int = 0
    hits: int = 0
    stale: int = 0
    max_staleness: float = 0.0
    done: int = 0
    latencies: list[float] = field(default_factory=list)


async def _measure(
    strategy: Strategy,
    rows: ScratchRows,
    plan: list[Operation],
    workload: Workload,
    progress: Progress | None,
) -> StrategyResult:
    ids = rows.ids()
    # The stampede first, while the database and the cache agree (after a write-behind crash
    # the database is behind the cache and every refill of a lost row is refused).
    stampede = await _stampede(strategy, rows, ids[0], workload.stampede_readers)
    await strategy.expire(ids[0])  # the workload starts cold too
    oracle = VersionOracle(await rows.versions(), time.perf_counter())
    tally = _Tally()
    kill_at = math.ceil(workload.kill_flusher_at * len(plan))
    queue = iter(enumerate(plan))
    step = max(1, len(plan) // 100)

    async def worker() -> None:
        for index, operation in queue:
            if index >= kill_at and isinstance(strategy, WriteBehind) and not strategy.killed:
                await strategy.kill()
            await _apply(strategy, oracle, tally, ids[operation.key], operation)
            tally.done += 1
            if progress is not None and (tally.done % step == 0 or tally.done == len(plan)):
                progress(strategy.name, tally.done, len(plan))

    loads_before = rows.loads
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workload.concurrency)))
    seconds = time.perf_counter() - started
    loads = rows.loads - loads_before
    if isinstance(strategy, WriteBehind) and not strategy.killed:
        await strategy.kill()  # the crash comes right after the last operation
    lost = oracle.lost(await rows.versions())
    return _result(strategy.name, tally, loads, seconds, lost, stampede, workload)


async def _apply(
    strategy: Strategy, oracle: VersionOracle, tally: _Tally, ident: str, operation: Operation
) -> None:
    if operation.kind == "write":
        version = oracle.reserve(ident)
        await strategy.write(ident, version)
        oracle.complete(ident, version, time.perf_counter())
        tally.writes += 1
        return
    newest = oracle.latest(ident)
    started = time.perf_counter()
    read = await strategy.read(ident)
    tally.latencies.append(time.perf_counter() - started)
    tally.reads += 1
    tally.hits += read.hit
    returned = read.value.version if read.value is not None else -1
    if returned < newest:
        tally.stale += 1
        age = oracle.staleness(ident, returned, newest, started)
        tally.max_staleness = max(tally.max_staleness, age)


async def _stampede(strategy: Strategy, rows: ScratchRows, hot: str, readers: int) -> int:
    """Database loads when the hot key's entry expires under ``readers`` concurrent reads."""
    if readers == 0:
        return 0
    await strategy.read(hot)
    await strategy.expire(hot)
    before = rows.loads
    await asyncio.gather(*(strategy.read(hot) for _ in range(readers)))
    return rows.loads - before


def _result(
    name: str,
    tally: _Tally,
    loads: int,
    seconds: float,
    lost: int,
    stampede: int,
    workload: Workload,
) -> StrategyResult:
    ordered = sorted(seconds_ * 1e6 for seconds_ in tally.latencies)
    every = max(1, len(ordered) // LATENCY_SAMPLE)
    return StrategyResult(
        strategy=name,
        reads=tally.reads,
        writes=tally.writes,
        hits=tally.hits,
        hit_ratio=tally.hits / tally.reads if tally.reads else None,
        db_loads=loads,
        db_loads_per_s=loads / seconds if seconds > 0 else 0.0,
        stale_reads=tally.stale,
        max_staleness_ms=tally.max_staleness * 1000,
        lost_writes=lost,
        p50_us=percentile(ordered, 0.50),
        p95_us=percentile(ordered, 0.95),
        p99_us=percentile(ordered, 0.99),
        stampede_loads=stampede,
        stampede_readers=workload.stampede_readers,
        seconds=seconds,
        latencies_us=tuple(ordered[::every]),
    )


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
