"""``qulab cache compare``: the caching strategies side by side on one seeded workload."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qulab.entrypoints.cli._common import err, open_db, out, print_json, print_table, run, settings

if TYPE_CHECKING:
    from qulab.lab.cache_compare import CacheComparison
    from qulab.lab.cache_compare import Progress as Report

# Spelled out so `--help` imports neither the strategies nor the lab (tests check both match).
STRATEGY_NAMES = (
    "ttl-only",
    "invalidate",
    "write-through",
    "write-behind",
    "refresh-ahead",
    "two-tier",
)


@dataclass(frozen=True)
class _Defaults:
    """The defaults of ``qulab.lab.workload.Workload``."""

    keys: int = 100
    zipf: float = 0.8
    read_ratio: float = 0.9
    ops: int = 2000
    concurrency: int = 16
    ttl: float = 30.0
    seed: int = 1
    stampede_readers: int = 200
    kill_flusher_at: float = 1.0


COLUMNS = [
    *("strategy", "hits", "loads", "loads/s", "p50 µs", "p95 µs", "p99 µs"),
    *("stale", "max stale ms", "lost", "stampede"),
]
# Dropped on a narrow terminal, last first.
OPTIONAL = ["max stale ms", "loads/s", "p50 µs", "p99 µs"]
DEFAULTS = _Defaults()


def register(cache_app: typer.Typer) -> None:
    cache_app.command("compare")(compare)


def compare(
    strategies: Annotated[
        str, typer.Option(help=f"Comma-separated, any of: {', '.join(STRATEGY_NAMES)}.")
    ] = ",".join(STRATEGY_NAMES),
    keys: Annotated[int, typer.Option(help="Rows the workload touches.")] = DEFAULTS.keys,
    zipf: Annotated[
        float, typer.Option(help="Skew: 0 uniform ... 1.2 very skewed.")
    ] = DEFAULTS.zipf,
    read_ratio: Annotated[float, typer.Option(help="Share of reads.")] = DEFAULTS.read_ratio,
    ops: Annotated[int, typer.Option(help="Operations per strategy.")] = DEFAULTS.ops,
    concurrency: Annotated[
        int, typer.Option(help="Concurrent asyncio tasks.")
    ] = DEFAULTS.concurrency,
    ttl: Annotated[float, typer.Option(help="Cache TTL in seconds.")] = DEFAULTS.ttl,
    seed: Annotated[int, typer.Option(help="Seed of the workload.")] = DEFAULTS.seed,
    stampede_readers: Annotated[
        int, typer.Option(help="Concurrent readers when the hot key expires.")
    ] = DEFAULTS.stampede_readers,
    kill_flusher_at: Annotated[
        float,
        typer.Option(help="Fraction of the operations after which write-behind's flusher dies."),
    ] = DEFAULTS.kill_flusher_at,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Run one seeded workload against each strategy over the same scratch rows (created and
    removed by the command) and compare hit ratio, database loads, read latency, stale reads,
    lost writes and the loads of a stampede."""
    from qulab.lab.cache_compare import compare_strategies
    from qulab.lab.strategies import parse_strategies
    from qulab.lab.workload import Workload

    names = parse_strategies(strategies)
    workload = Workload(
        keys=keys,
        zipf=zipf,
        read_ratio=read_ratio,
        ops=ops,
        concurrency=concurrency,
        ttl=ttl,
        seed=seed,
        stampede_readers=stampede_readers,
        kill_flusher_at=kill_flusher_at,
    )
    current = settings()

    async def _go(report: Report) -> CacheComparison:
        async with open_db(current, create=True) as db:
            return await compare_strategies(
                db,
                names,
                workload,
                redis_url=current.cache.redis_url,
                prefix=current.cache.prefix,
                progress=report,
            )

    with _progress(names, workload.ops) as report:
        comparison = run(lambda: _go(report))
    if json:
        print_json(comparison.as_dicts())
        return
    rows = [_shown(result) for result in comparison.as_dicts()]
    title = (
        f"caching strategies on {comparison.stack}: {keys} keys, zipf {zipf:g}, "
        f"{read_ratio:.0%} reads, {ops} ops x {concurrency} tasks, ttl {ttl:g}s, seed {seed}"
    )
    print_table(title, rows, COLUMNS, optional=OPTIONAL)
    out.print(
        "hits: reads served by the cache; loads: database loads; stale: reads older than the "
        "newest write completed before they began; lost: writes acknowledged but never in the "
        f"database; stampede: loads when the hottest key expired under {stampede_readers} "
        "concurrent readers"
    )


@contextmanager
def _progress(names: list[str], ops: int) -> Iterator[Report]:
    """A bar per strategy on stderr (only on a terminal; it vanishes when done)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    if not err.is_terminal:
        yield lambda _name, _done, _total: None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    )
    tasks = {name: bar.add_task(name, total=ops) for name in names}
    with bar:
        yield lambda name, done, _total: bar.update(tasks[name], completed=done)


def _shown(data: dict[str, Any]) -> dict[str, Any]:
    def us(value: float | None) -> str | None:
        return None if value is None else f"{value:,.0f}"

    ratio = data["hit_ratio"]
    return {
        "strategy": data["strategy"],
        "hits": None if ratio is None else f"{ratio:.1%}",
        "loads": data["db_loads"],
        "loads/s": f"{data['db_loads_per_s']:,.0f}",
        "p50 µs": us(data["p50_us"]),
        "p95 µs": us(data["p95_us"]),
        "p99 µs": us(data["p99_us"]),
        "stale": data["stale_reads"],
        "max stale ms": f"{data['max_staleness_ms']:,.1f}",
        "lost": data["lost_writes"],
        "stampede": data["stampede_loads"],
    }
