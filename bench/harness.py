"""The benchmark harness: named benchmarks, warm-up plus timed rounds, results side by side.

A benchmark is an async function registered under a name. It receives ``BenchConfig`` and
returns a ``Report``: tables of measurements taken in the same process run (so ratios compare
like with like) and the targets it checks. The runner writes every report to
``docs/benchmarks.json`` and regenerates ``docs/benchmarks.md`` when asked (``--write-docs``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qulab.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


# What a suite can need: PostgreSQL; Redis, one server or a cluster (REDIS); or one Redis
# server, not a cluster (REDIS_SERVER: a suite measured against a plain redis-py client, or
# whose keys are not hash-tagged).
POSTGRESQL, REDIS, REDIS_SERVER = "postgresql", "redis", "redis server"
WHERE = {
    POSTGRESQL: (
        "set QULAB_DATABASE_URL to a postgresql+asyncpg:// URL, or QULAB_BENCH_POSTGRES_URL"
    ),
    REDIS: "set QULAB_REDIS_URL, or QULAB_BENCH_REDIS_URL",
    REDIS_SERVER: "set QULAB_REDIS_URL, or QULAB_BENCH_REDIS_URL, to a redis:// URL",
}


def configured_postgres_url() -> str | None:
    """QULAB_BENCH_POSTGRES_URL, else the configured QULAB_DATABASE_URL when it is PostgreSQL.
    Benchmarks only create (and drop) databases of their own on that server."""
    override = os.environ.get("QULAB_BENCH_POSTGRES_URL")
    if override:
        return override
    from qulab.core.config import Settings

    url = Settings().database.url
    return url if url.startswith("postgresql") else None


def configured_redis_url() -> str | None:
    """QULAB_BENCH_REDIS_URL, else the configured QULAB_REDIS_URL. Benchmarks only write keys
    and streams under prefixes of their own, and delete them afterwards."""
    override = os.environ.get("QULAB_BENCH_REDIS_URL")
    if override:
        return override
    from qulab.core.config import Settings

    return Settings().cache.redis_url


def bench_settings(**changes: Any) -> Settings:
    """Settings for a runtime a benchmark builds: the configured tuning, but an in-process cache
    under a prefix of its own and the in-memory broker unless the benchmark names its own
    (``changes``), so that no benchmark writes to the application's cache keys or streams."""
    from qulab.core.config import Settings

    isolated = {
        "redis_url": None,
        "broker_url": "memory://",
        "cache_prefix": f"qulab_bench_{uuid.uuid4().hex[:8]}:",
    }
    return Settings().replace(**(isolated | changes))


@dataclass(frozen=True)
class BenchConfig:
    """What every benchmark is told. ``quick`` shrinks sizes and rounds (the smoke test).

    ``postgres_url`` and ``redis_url`` are the configured services (``QULAB_DATABASE_URL`` when
    it is PostgreSQL, ``QULAB_REDIS_URL``), or the benchmark-only ``QULAB_BENCH_POSTGRES_URL``
    and ``QULAB_BENCH_REDIS_URL``; None when neither is set. Benchmarks create and drop their
    own databases on the PostgreSQL server and use key and stream prefixes of their own on
    Redis. SQLite benchmarks work in a temporary directory under ``sqlite_dir``.
    """

    rounds: int = 5
    warmup: int = 1
    quick: bool = False
    postgres_url: str | None = field(default_factory=configured_postgres_url)
    redis_url: str | None = field(default_factory=configured_redis_url)
    sqlite_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    write_docs: bool = False  # suites that render a doc of their own write it only when asked
    docs_dir: Path = DOCS

    @classmethod
    def smoke(cls, **overrides: Any) -> BenchConfig:
        """Tiny sizes, one round, no warm-up: proves a benchmark runs, measures nothing."""
        return cls(**({"rounds": 1, "warmup": 0, "quick": True} | overrides))

    def describe(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "warmup": self.warmup, "quick": self.quick}


@dataclass
class Samples:
    """Timings of one case, in seconds, one per round (or per operation)."""

    label: str
    seconds: list[float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.seconds)
        index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        return ordered[index]

    @property
    def spread(self) -> float:
        """Relative spread: (max - min) / median."""
        if len(self.seconds) < 2 or self.median == 0:
            return 0.0
        return (max(self.seconds) - min(self.seconds)) / self.median

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "n": len(self.seconds),
            "median_s": self.median,
            "p50_s": self.percentile(50),
            "p95_s": self.percentile(95),
            "p99_s": self.percentile(99),
            "min_s": min(self.seconds),
            "max_s": max(self.seconds),
            "spread": self.spread,
            **self.extra,
        }


@dataclass
class Target:
    description: str
    measured: float
    threshold: float
    higher_is_better: bool
    limits: str = ""

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            return self.measured >= self.threshold
        return self.measured <= self.threshold


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Report:
    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


BenchFn = Callable[[BenchConfig], Awaitable[Report]]


@dataclass(frozen=True)
class Suite:
    """A registered benchmark: what it measures and the services it cannot run without."""

    name: str
    about: str
    needs: tuple[str, ...]
    run: BenchFn


REGISTRY: dict[str, Suite] = {}


def benchmark(name: str, about: str, needs: tuple[str, ...] = ()) -> Callable[[BenchFn], BenchFn]:
    def _register(fn: BenchFn) -> BenchFn:
        REGISTRY[name] = Suite(name, about, needs, fn)
        return fn

    return _register


def unmet(config: BenchConfig, needs: tuple[str, ...]) -> str | None:
    """Why a suite needing ``needs`` cannot run with ``config`` (None when it can)."""
    from qulab.core import is_redis_cluster, redact_url

    urls = {POSTGRESQL: config.postgres_url, REDIS: config.redis_url}
    urls[REDIS_SERVER] = config.redis_url
    missing = [need for need in needs if not urls[need]]
    if missing:
        return "; ".join(f"no {need} configured ({WHERE[need]})" for need in missing)
    if REDIS_SERVER in needs and config.redis_url and is_redis_cluster(config.redis_url):
        return (
            f"this suite measures one Redis server, not the Redis Cluster at "
            f"{redact_url(config.redis_url)} ({WHERE[REDIS_SERVER]})"
        )
    return None


def required(url: str | None, service: str) -> str:
    """``url``, which the harness checked before running the suite."""
    if not url:
        raise RuntimeError(f"no {service} configured: {WHERE[service]}")
    return url


async def time_rounds(
    operation: Callable[[], Awaitable[Any]], rounds: int, warmup: int = 1
) -> list[float]:
    """Run ``operation`` ``warmup`` times untimed, then ``rounds`` times timed."""
    for _ in range(warmup):
        await operation()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await operation()
        samples.append(time.perf_counter() - start)
    return samples


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def render_markdown(reports: list[Report], meta: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (or `qulab bench NAME --write-docs`); every table compares",
        "cases measured side by side in one process run. Regenerated from `docs/benchmarks.json`;",
        "do not edit.",
        "",
        f"- run at: {meta['run_at']}",
        f"- machine: {meta['machine']['platform']}, {meta['machine']['cpus']} CPUs, "
        f"Python {meta['machine']['python']}"
        + (
            f", load average {meta['machine']['load_average']} at the end of the run"
            if meta["machine"].get("load_average")
            else ""
        ),
        "",
    ]
    for report in reports:
        lines += [f"## {report.title} (`{report.name}`)", ""]
        if report.meta:
            config = report.meta.get("config", {})
            lines += [
                f"Run at {report.meta.get('run_at', '?')}; {config.get('rounds', '?')} timed "
                f"round(s) after {config.get('warmup', '?')} warm-up"
                + (
                    " (quick sizes: structure only, not a measurement)"
                    if config.get("quick")
                    else ""
                )
                + ".",
                "",
            ]
        for table in report.tables:
            lines += [f"### {table.title}", ""]
            lines.append("| " + " | ".join(table.columns) + " |")
            lines.append("|" + "---|" * len(table.columns))
            lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in table.rows]
            lines.append("")
        if report.targets:
            lines += ["### Targets", "", "| target | measured | threshold | met | what limits it |"]
            lines.append("|---|---|---|---|---|")
            for target in report.targets:
                sign = ">=" if target.higher_is_better else "<="
                lines.append(
                    f"| {target.description} | {_fmt(target.measured)} | {sign} "
                    f"{_fmt(target.threshold)} | {'yes' if target.met else '**NO**'} | "
                    f"{target.limits if not target.met else ''} |"
                )
            lines.append("")
        lines += [f"- {note}" for note in report.notes]
        if report.notes:
            lines.append("")
    return "\n".join(lines)


def write_results(reports: list[Report], docs_dir: Path = DOCS) -> tuple[Path, Path]:
    """Merge ``reports`` into the stored results (replacing same-named ones) and render them.
    A suite that did not run keeps its stored results."""
    reports = [report for report in reports if not report.meta.get("skipped")]
    docs_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = docs_dir / "benchmarks.json", docs_dir / "benchmarks.md"
    stored: dict[str, Any] = {}
    if json_path.exists():
        stored = json.loads(json_path.read_text()).get("reports", {})
    meta = {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine()}
    for report in reports:
        report.meta.setdefault("run_at", meta["run_at"])
        stored[report.name] = asdict(report) | {"targets_met": all(t.met for t in report.targets)}
    json_path.write_text(json.dumps({**meta, "reports": stored}, indent=2, default=str) + "\n")
    ordered = [_from_dict(data) for _, data in sorted(stored.items())]
    md_path.write_text(render_markdown(ordered, meta) + "\n")
    return json_path, md_path


def _from_dict(data: dict[str, Any]) -> Report:
    return Report(
        name=data["name"],
        title=data["title"],
        tables=[Table(**table) for table in data["tables"]],
        targets=[Target(**target) for target in data["targets"]],
        notes=list(data["notes"]),
        raw=data.get("raw", {}),
        meta=data.get("meta", {}),
    )


def resolve(names: list[str]) -> list[str]:
    """Expand ``all`` and check every name; unknown names raise KeyError listing the known."""
    import bench.suites  # noqa: F401  (registers every benchmark)

    if not names or "all" in names:
        return sorted(REGISTRY)
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise KeyError(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(sorted(REGISTRY))}"
        )
    return list(dict.fromkeys(names))


async def run(
    names: list[str],
    config: BenchConfig,
    on_start: Callable[[str, int, int], None] | None = None,
) -> list[Report]:
    """Run the named benchmarks in order, in this process; ``on_start(name, index, total)`` is
    told before each one (progress for long runs)."""
    reports = []
    selected = resolve(names)
    for index, name in enumerate(selected, start=1):
        suite = REGISTRY[name]
        if on_start is not None:
            on_start(name, index, len(selected))
        reason = unmet(config, suite.needs)
        if reason is not None:
            reports.append(
                Report(name, suite.about, notes=[f"not run: {reason}"], meta={"skipped": reason})
            )
            continue
        report = await suite.run(config)
        report.meta.update(
            run_at=datetime.now(UTC).isoformat(timespec="seconds"), config=config.describe()
        )
        reports.append(report)
    return reports
