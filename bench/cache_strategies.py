"""``cache-strategies``: every caching strategy on a grid of workloads, and the two-tier
invalidation's propagation latency against a plain pub/sub floor.

The grid is Zipf skew {0, 0.8, 1.2} x read ratio {0.5, 0.9, 0.99}; each cell runs all six
strategies in one comparison (the same seeded operations, the same rows), with the order of
the strategies rotated from cell to cell. It runs on PostgreSQL + Redis and on SQLite + the
in-process cache. A full run also writes ``docs/caching-strategies.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.databases import postgres_url, sqlite_url
from bench.harness import (
    DOCS,
    POSTGRESQL,
    REDIS_SERVER,
    BenchConfig,
    Report,
    Table,
    Target,
    bench_settings,
    benchmark,
    required,
)
from bench.strategies_doc import render
from qulab.core.db import Database
from qulab.lab.cache_compare import CacheComparison, compare_strategies, percentile
from qulab.lab.strategies import STRATEGY_NAMES, ScratchRows, StrategyFactory
from qulab.lab.workload import Workload

SKEWS = (0.0, 0.8, 1.2)
READ_RATIOS = (0.5, 0.9, 0.99)
DOC = DOCS / "caching-strategies.md"
COLUMNS = [
    *("zipf", "reads", "strategy", "hit ratio", "DB loads", "loads vs invalidate"),
    *("stale reads", "max staleness ms", "lost writes", "p50 µs", "p99 µs", "stampede loads"),
]


def _redis_url(config: BenchConfig) -> str:
    return required(config.redis_url, REDIS_SERVER)


def _rotated(turn: int) -> list[str]:
    names = list(STRATEGY_NAMES)
    shift = turn % len(names)
    return names[shift:] + names[:shift]


async def _grid(url: str, redis_url: str | None, config: BenchConfig) -> list[CacheComparison]:
    ops = 120 if config.quick else 1000
    results = []
    db = Database(bench_settings(database_url=url))
    try:
        for turn, (zipf, read_ratio) in enumerate((z, r) for z in SKEWS for r in READ_RATIOS):
            workload = Workload(
                keys=200,
                zipf=zipf,
                read_ratio=read_ratio,
                ops=ops,
                concurrency=16,
                ttl=30,
                seed=turn + 1,
                stampede_readers=20 if config.quick else 200,
            )
            prefix = f"qulab_bench_{uuid.uuid4().hex[:8]}:"
            results.append(
                await compare_strategies(
                    db, _rotated(turn), workload, redis_url=redis_url, prefix=prefix
                )
            )
    finally:
        await db.dispose()
    return results


def _rows(comparisons: list[CacheComparison]) -> list[list[Any]]:
    rows = []
    for comparison in comparisons:
        by_name = {result.strategy: result for result in comparison.results}
        baseline = by_name["invalidate"].db_loads or 1
        for name in STRATEGY_NAMES:
            result = by_name[name]
            rows.append(
                [
                    comparison.workload.zipf,
                    f"{comparison.workload.read_ratio:.0%}",
                    name,
                    f"{result.hit_ratio or 0:.1%}",
                    result.db_loads,
                    f"{result.db_loads / baseline:.2f}x",
                    result.stale_reads,
                    round(result.max_staleness_ms, 1),
                    result.lost_writes,
                    round(result.p50_us or 0),
                    round(result.p99_us or 0),
                    result.stampede_loads,
                ]
            )
    return rows


async def propagation(redis_url: str, count: int) -> tuple[list[float], list[float]]:
    """Seconds from send to receipt: two two-tier clients (one invalidates, the other hears)
    and, interleaved with them, the same number of plain redis-py PUBLISH -> subscriber."""
    prefix = f"qulab_bench_{uuid.uuid4().hex[:8]}:"
    db = Database(bench_settings(database_url="sqlite+aiosqlite:///:memory:"))
    factory = StrategyFactory(ScratchRows(db, 1), redis_url=redis_url, prefix=prefix, ttl=60)
    sender, receiver = factory.two_tier_cache("tt"), factory.two_tier_cache("tt")
    await sender.start()
    await receiver.start()
    floor: list[float] = []
    heard = asyncio.Event()
    plain_sub = aioredis.Redis.from_url(redis_url)
    plain_pub = aioredis.Redis.from_url(redis_url)
    pubsub = plain_sub.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(f"{prefix}floor")

    async def listen() -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None:
                floor.append((time.time_ns() - int(message["data"])) / 1e9)
                heard.set()

    listener = asyncio.create_task(listen())
    arrived = asyncio.Event()
    receiver.listeners.append(lambda _message: arrived.set())
    try:
        for _ in range(count):
            arrived.clear()
            await sender.invalidate("r0")
            await arrived.wait()
            heard.clear()
            await plain_pub.publish(f"{prefix}floor", str(time.time_ns()))
            await heard.wait()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await pubsub.aclose()
        await plain_sub.aclose()
        await plain_pub.aclose()
        await sender.close()
        await receiver.close()
        await factory.clear()
        await db.dispose()
    return list(receiver.latencies), floor


def _ms(values: list[float], fraction: float) -> float:
    return round((percentile(sorted(values), fraction) or 0.0) * 1000, 3)


@benchmark(
    "cache-strategies",
    "Caching strategies across workloads, on PostgreSQL and SQLite",
    needs=(POSTGRESQL, REDIS_SERVER),
)
async def cache_strategies_benchmark(config: BenchConfig) -> Report:
    redis_url = _redis_url(config)
    async with postgres_url(config, "qulab_bench_strategies") as url:
        on_postgres = await _grid(url, redis_url, config)
    async with sqlite_url(config) as url:
        on_sqlite = await _grid(url, None, config)
    count = 50 if config.quick else 1000
    tier_latency, floor_latency = await propagation(redis_url, count)
    p99 = _ms(tier_latency, 0.99)
    report = Report(
        name="cache-strategies",
        title="Caching strategies on a grid of workloads",
        tables=[
            Table("PostgreSQL + Redis", COLUMNS, _rows(on_postgres)),
            Table("SQLite + in-process cache", COLUMNS, _rows(on_sqlite)),
            Table(
                "Two-tier invalidation propagation (localhost)",
                ["path", "messages", "p50 ms", "p99 ms", "max ms", "p99 vs floor"],
                [
                    [
                        "two-tier broadcast",
                        len(tier_latency),
                        _ms(tier_latency, 0.5),
                        p99,
                        round(max(tier_latency) * 1000, 3),
                        f"{p99 / max(_ms(floor_latency, 0.99), 1e-9):.2f}x",
                    ],
                    [
                        "plain PUBLISH (floor)",
                        len(floor_latency),
                        _ms(floor_latency, 0.5),
                        _ms(floor_latency, 0.99),
                        round(max(floor_latency) * 1000, 3),
                        "1.00x",
                    ],
                ],
            ),
        ],
        targets=[
            Target(
                "two-tier invalidation propagation p99 (ms)",
                p99,
                5.0,
                False,
                "on a busy shared machine the subscriber wakes late; compare with the plain "
                "pub/sub floor measured in the same run",
            ),
        ],
        notes=[
            f"{on_postgres[0].workload.ops} operations per strategy per cell, 16 tasks, "
            "200 keys, TTL 30 s; one comparison per cell (strategy order rotated per cell).",
            "Stale reads are judged by the version oracle: a read older than the newest write "
            "completed before it began.",
            "write-behind's flusher is killed right after the last operation: lost writes are "
            "the acknowledged writes the database never received.",
        ],
        raw={
            "postgres": [c.as_dicts() for c in on_postgres],
            "sqlite": [c.as_dicts() for c in on_sqlite],
            "cells": [c.workload.as_dict() for c in on_postgres],
            "propagation_ms": {
                "two_tier_p50": _ms(tier_latency, 0.5),
                "two_tier_p99": p99,
                "floor_p50": _ms(floor_latency, 0.5),
                "floor_p99": _ms(floor_latency, 0.99),
            },
        },
    )
    if config.write_docs and not config.quick:
        write_doc(report, config.docs_dir / DOC.name)
    return report


def write_doc(report: Report, path: Path) -> Path:
    """``docs/caching-strategies.md``: the tables and what they teach."""
    path.write_text(render(report))
    return path
