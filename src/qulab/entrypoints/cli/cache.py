"""``qulab cache``: status of the cache, its statistics, and invalidating one user's entries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from qulab.core import ServiceUnavailable
from qulab.entrypoints.cli._common import (
    open_cache,
    out,
    print_json,
    print_record,
    print_table,
    run,
)

if TYPE_CHECKING:
    from qulab.core.cache import CacheStatus, StatsSnapshot

app = typer.Typer(help="Inspect and control the read-through cache.", no_args_is_help=True)

JSON = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
STATS_ROWS = [
    *("hits", "misses", "errors", "sets", "invalidations", "coalesced", "corrupt", "bypassed"),
    *("wrong_type", "oversize", "too_large"),
    *("hit_ratio", "hit_p50_ms", "hit_p95_ms", "miss_p50_ms", "miss_p95_ms"),
    *("t_cache_ms", "t_database_ms", "t_avg_ms", "t_avg_measured_ms"),
]
PROCESS_ONLY_NOTE = (
    "in-process cache: these statistics cover this command only (each run starts empty); "
    "set QULAB_REDIS_URL for statistics shared by every process"
)


@app.command()
def status(json: JSON = False) -> None:
    """Backend, address, server version, whether it answers, and the circuit breaker."""

    async def _go() -> CacheStatus:
        async with open_cache() as cache:
            return await cache.status()

    current = run(_go)
    if json:
        print_json(current.as_dict())
        return
    record: dict[str, Any] = current.as_dict()
    record["connected"] = "yes" if current.connected else "no"
    print_record("cache", record)


@app.command()
def stats(
    json: JSON = False,
    reset: Annotated[bool, typer.Option("--reset", help="Reset them after printing.")] = False,
) -> None:
    """Hits, misses, errors, sets and invalidations per key family; hit ratio, p50/p95
    latencies and the average access time T_avg = H*T_cache + (1-H)*(T_cache + T_database)."""

    async def _go() -> tuple[StatsSnapshot, bool]:
        async with open_cache() as cache:
            snapshot = await cache.stats()
            if reset:
                await cache.reset_stats()
            return snapshot, cache.backend.shared

    snapshot, shared = run(_go)
    if json:
        print_json(snapshot.as_dict() | ({} if shared else {"note": PROCESS_ONLY_NOTE}))
        return
    families = list(snapshot.families)
    shown = {name: _shown(stats.as_dict()) for name, stats in snapshot.families.items()}
    rows = [{"metric": metric} | {n: shown[n][metric] for n in families} for metric in STATS_ROWS]
    print_table(f"cache statistics ({snapshot.scope})", rows, ["metric", *families])
    out.print(f"breaker: {snapshot.breaker_state} ({snapshot.breaker_rejected} calls refused)")
    if not shared:
        out.print(PROCESS_ONLY_NOTE)
    if reset:
        out.print("statistics reset")


def _ms(seconds: float | None) -> str | None:
    return None if seconds is None else f"{seconds * 1000:.3f}"


def _shown(data: dict[str, Any]) -> dict[str, Any]:
    ratio = data["hit_ratio"]
    times = {
        f"{name.removesuffix('_s')}_ms": _ms(data[name])
        for name in (
            *("hit_p50_s", "hit_p95_s", "miss_p50_s", "miss_p95_s"),
            *("t_cache_s", "t_database_s"),
        )
    }
    return (
        data
        | times
        | {
            "hit_ratio": None if ratio is None else f"{ratio:.1%}",
            "t_avg_ms": _ms(data["t_avg_formula_s"]),
            "t_avg_measured_ms": _ms(data["t_avg_measured_s"]),
        }
    )


@app.command()
def invalidate(
    user_id: Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id (UUID).")],
    json: JSON = False,
) -> None:
    """Drop a user's cached entries (``user:{id}`` and ``latest_airscore:{id}``)."""
    from qulab.core import validate_id
    from qulab.platform import invalidate_user, user_keys

    user_id = validate_id(user_id, "user_id")

    async def _go() -> list[str]:
        async with open_cache() as cache:
            await invalidate_user(cache, user_id)
            if cache.pending_invalidations:
                raise ServiceUnavailable(f"cache unreachable at {cache.backend.address}")
            return user_keys(cache, user_id)

    keys = run(_go)
    if json:
        print_json({"invalidated": keys})
    else:
        out.print("invalidated " + ", ".join(keys))
