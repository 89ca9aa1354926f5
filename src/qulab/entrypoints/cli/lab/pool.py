"""``qulab pool``: pooled connections against a fresh connection per request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from qulab.entrypoints.cli._common import open_db, out, print_json, print_table, run, settings

if TYPE_CHECKING:
    from qulab.lab import ExhaustionResult, LoadRun, PoolingComparison

MARKER = "pool"
SEED_USERS = 100
SEED_SCORES = 5


def register(app: typer.Typer) -> None:
    app.command("pool")(pool)


def _run(load: LoadRun) -> dict[str, Any]:
    return {
        "mode": load.mode,
        "requests": load.requests,
        "concurrency": load.concurrency,
        "throughput_rps": round(load.throughput, 1),
        "p50_ms": round(load.p50_s * 1000, 3),
        "p95_ms": round(load.p95_s * 1000, 3),
        "connections_opened": load.connects,
        "peak_checked_out": load.peak_checked_out,
        "pool_size": load.pool_size,
        "max_overflow": load.max_overflow,
        "overflow_used": load.overflow_used,
    }


def comparison_dict(result: PoolingComparison) -> dict[str, Any]:
    return {
        "database": result.database,
        "pooled": _run(result.pooled),
        "null_pool": _run(result.null_pool),
        "throughput_ratio": round(result.throughput_ratio, 2),
    }


def exhaustion_dict(result: ExhaustionResult) -> dict[str, Any]:
    return {
        "database": result.database,
        "pool_size": result.pool_size,
        "max_overflow": result.max_overflow,
        "holders": result.holders,
        "pool_timeout_s": result.timeout_s,
        "acquired": result.acquired,
        "timed_out": result.timed_out,
        "error": result.error,
        "waits_s": [round(o.waited_s, 3) for o in result.outcomes],
    }


async def _user_ids() -> list[str]:
    from qulab.platform import MIGRATIONS, ensure_seeded, seeded_users, users_statement

    async with open_db(create=True) as db:
        await MIGRATIONS.upgrade(db)
        await ensure_seeded(db, SEED_USERS, SEED_SCORES, marker=MARKER)
        async with db.session() as session:
            statement = users_statement(SEED_USERS, where=seeded_users(MARKER))
            return [user.id for user in (await session.execute(statement)).scalars()]


def pool(
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=500, help="Concurrent requests.")
    ] = 10,
    requests: Annotated[
        int, typer.Option("--requests", min=1, max=1_000_000, help="Requests per mode.")
    ] = 500,
    exhaust: Annotated[
        bool,
        typer.Option("--exhaust", help="Instead: hold 5 connections from a pool of 2 (0.5 s)."),
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Run REQUESTS request-shaped reads at CONCURRENCY through the pool and through NullPool.

    Reads users seeded under the marker "pool" (seeded when missing; remove them with
    `qulab seed --clear --marker pool`).
    """
    if exhaust:
        _exhaust(json)
        return

    from qulab.lab import compare_pooling

    async def _go() -> PoolingComparison:
        ids = await _user_ids()
        return await compare_pooling(settings(), ids, concurrency=concurrency, requests=requests)

    data = comparison_dict(run(_go))
    if json:
        print_json(data)
        return
    print_table(
        f"{data['database']}: {requests} requests at concurrency {concurrency}",
        [data["pooled"], data["null_pool"]],
        [
            "mode",
            "throughput_rps",
            "p50_ms",
            "p95_ms",
            "connections_opened",
            "peak_checked_out",
            "overflow_used",
        ],
    )
    out.print(f"pooled throughput is {data['throughput_ratio']}x NullPool's")


def _exhaust(json: bool) -> None:
    from qulab.lab import demonstrate_pool_exhaustion
    from qulab.platform import MIGRATIONS

    async def _go() -> ExhaustionResult:
        async with open_db(create=True) as db:
            await MIGRATIONS.upgrade(db)
        return await demonstrate_pool_exhaustion(settings())

    data = exhaustion_dict(run(_go))
    if json:
        print_json(data)
        return
    out.print(
        f"{data['database']}: pool of {data['pool_size']} (+{data['max_overflow']} overflow), "
        f"{data['holders']} holders: {data['acquired']} got a connection, "
        f"{data['timed_out']} gave up after {data['pool_timeout_s']} s"
    )
    if data["error"]:
        out.print(f"  error: {data['error']}", markup=False)
