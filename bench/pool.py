"""``qulab bench pool``: pooled engine vs NullPool (a connection per request) on PostgreSQL.

Each round runs the same request-shaped reads (open a session, read a user and their latest
score, close) through both engines, at each concurrency; the pooled engine is warm (its first
connections are opened in the warm-up), as a long-running server's would be.
"""

from __future__ import annotations

from typing import Any

from bench.databases import migrated, postgres_unavailable, postgres_url
from bench.harness import BenchConfig, Report, Samples, Table, Target, bench_settings, benchmark
from qulab.core.config import Settings
from qulab.lab.pooling import NULL_POOL, POOLED, LoadRun, pooled_and_unpooled, run_load
from qulab.platform.repositories import users_statement
from qulab.platform.services import seeding

CONCURRENCY = (1, 10, 50)
QUICK_CONCURRENCY = (1, 3)
REQUESTS = 500
QUICK_REQUESTS = 12
USERS = 200
POOL_SIZE = 10
MAX_OVERFLOW = 20


async def _user_ids(url: str) -> list[str]:
    async with migrated(url) as db:
        await seeding.seed(db, USERS, 5, marker="bench", rng_seed=11)
        async with db.session() as session:
            return [u.id for u in (await session.execute(users_statement())).scalars()]


def _summary(mode: str, concurrency: int, runs: list[LoadRun]) -> dict[str, Any]:
    throughput = Samples(f"{mode} c={concurrency}", [1 / r.throughput for r in runs])
    latencies = Samples(f"{mode} latency", [s for r in runs for s in r.latencies_s])
    return {
        "mode": mode,
        "concurrency": concurrency,
        "throughput_rps": 1 / throughput.median,
        "throughput_spread": throughput.spread,
        "p50_s": latencies.percentile(50),
        "p95_s": latencies.percentile(95),
        "connects_per_round": max(r.connects for r in runs),
        "peak_checked_out": max(r.peak_checked_out for r in runs),
        "overflow_used": max((r.overflow_used or 0) for r in runs),
    }


async def measure(settings: Settings, ids: list[str], config: BenchConfig) -> list[dict[str, Any]]:
    levels = QUICK_CONCURRENCY if config.quick else CONCURRENCY
    requests = QUICK_REQUESTS if config.quick else REQUESTS
    pooled, unpooled = pooled_and_unpooled(settings)
    rows: list[dict[str, Any]] = []
    try:
        for concurrency in levels:
            runs: dict[str, list[LoadRun]] = {POOLED: [], NULL_POOL: []}
            for round_ in range(config.warmup + config.rounds):
                for mode, db in ((POOLED, pooled), (NULL_POOL, unpooled)):
                    run = await run_load(db, mode, ids, concurrency=concurrency, requests=requests)
                    if round_ >= config.warmup:
                        runs[mode].append(run)
            rows += [_summary(mode, concurrency, found) for mode, found in runs.items()]
    finally:
        await pooled.dispose()
        await unpooled.dispose()
    return rows


def _table(rows: list[dict[str, Any]], requests: int) -> Table:
    return Table(
        title=f"PostgreSQL: {requests} requests per round, pool_size {POOL_SIZE} + "
        f"max_overflow {MAX_OVERFLOW}",
        columns=[
            "concurrency",
            "mode",
            "throughput (req/s, median)",
            "spread",
            "p50 ms",
            "p95 ms",
            "connections opened / round",
            "peak checked out",
            "overflow used",
        ],
        rows=[
            [
                row["concurrency"],
                row["mode"],
                row["throughput_rps"],
                f"{row['throughput_spread']:.0%}",
                row["p50_s"] * 1000,
                row["p95_s"] * 1000,
                row["connects_per_round"],
                row["peak_checked_out"] if row["mode"] == POOLED else "-",
                row["overflow_used"] if row["mode"] == POOLED else "-",
            ]
            for row in rows
        ],
    )


def _ratios(rows: list[dict[str, Any]]) -> dict[int, float]:
    by = {(row["mode"], row["concurrency"]): row["throughput_rps"] for row in rows}
    return {c: by[(POOLED, c)] / by[(NULL_POOL, c)] for _, c in by if (NULL_POOL, c) in by}


def _limits(rows: list[dict[str, Any]]) -> str:
    by = {(row["mode"], row["concurrency"]): row for row in rows}
    first = min(row["concurrency"] for row in rows)
    connect_ms = (by[(NULL_POOL, first)]["p50_s"] - by[(POOLED, first)]["p50_s"]) * 1000
    return (
        f"a fresh connection costs only about {connect_ms:.1f} ms here (local PostgreSQL, trust "
        "auth, no TLS), and the pooled side is bound by the CPU of this one Python process on "
        "2 cores shared with the server and other load (see the spread); TLS, password auth or "
        "a network hop make every NullPool request pay more"
    )


@benchmark("pool", "Connection pooling against a connection per request")
async def pool(config: BenchConfig) -> Report:
    report = Report(name="pool", title="Connection pooling vs a connection per request")
    reason = await postgres_unavailable(config)
    if reason is not None:
        report.notes.append(f"not measured: PostgreSQL unavailable ({reason})")
        return report
    async with postgres_url(config) as url:
        ids = await _user_ids(url)
        settings = bench_settings(database_url=url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)
        rows = await measure(settings, ids, config)
    requests = QUICK_REQUESTS if config.quick else REQUESTS
    report.tables.append(_table(rows, requests))
    ratios = _ratios(rows)
    report.tables.append(
        Table(
            "pooled / NullPool throughput",
            ["concurrency", "ratio"],
            [[c, ratio] for c, ratio in sorted(ratios.items())],
        )
    )
    report.raw["rows"] = rows
    level = 10 if 10 in ratios else max(ratios)
    report.targets.append(
        Target(
            f"pooled / NullPool throughput at concurrency {level}",
            ratios[level],
            3.0,
            higher_is_better=True,
            limits=_limits(rows),
        )
    )
    report.notes += [
        "A request: open a session, read the user by id and their latest score, close "
        "(2 SELECTs). Throughput = requests / wall time of the round.",
        "Pre-ping is on (the default) for connections idle longer than "
        "QULAB_DB_PRE_PING_IDLE_SECONDS (1 s); a busy pool's connections come back sooner, so "
        "its checkouts skip the ping.",
        "At concurrency 50 the pool (10 + 20 overflow) is the limit: 20 requests wait for a "
        "connection, which shows in the pooled p95; NullPool opens 50 server processes at once.",
    ]
    return report
