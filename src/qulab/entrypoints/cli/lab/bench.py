"""``qulab bench``: run the benchmarks of a source checkout (``bench/``) side by side.

The benchmarks are not part of the installed package; this command finds the checkout (from
the installed package's location, else from the working directory upwards) and imports them
from there.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

import qulab
from qulab.core import InvalidInput, UserError
from qulab.entrypoints.cli._common import err, out, print_json, run


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def _is_checkout(path: Path) -> bool:
    return (path / "bench" / "harness.py").is_file() and (path / "pyproject.toml").is_file()


def find_checkout(start: Path | None = None, *, installed: bool = True) -> Path:
    """The QuLab source checkout holding ``bench/``; UserError when there is none."""
    here = (start or Path.cwd()).resolve()
    candidates = [Path(qulab.__file__).resolve().parents[2]] if installed else []
    candidates += [here, *here.parents]
    for candidate in candidates:
        if _is_checkout(candidate):
            return candidate
    raise UserError(
        "qulab bench runs the benchmarks of a QuLab source checkout (bench/harness.py) and "
        f"none was found beside the installed package or from {here} upwards; "
        "run it inside the checkout"
    )


def load_harness(root: Path) -> ModuleType:
    """Import ``bench.harness`` (and register every benchmark) from the checkout at ``root``."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    harness = importlib.import_module("bench.harness")
    importlib.import_module("bench.suites")
    return harness


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def _print_report(report: Any) -> None:
    from rich.table import Table as RichTable
    from rich.text import Text

    out.print(Text.assemble("\n", (report.title, "bold"), f" ({report.name})"))
    for table in report.tables:
        rich_table = RichTable(title=table.title)
        for column in table.columns:
            rich_table.add_column(str(column))
        for row in table.rows:
            rich_table.add_row(*(_cell(cell) for cell in row))
        out.print(rich_table)
    for target in report.targets:
        sign = ">=" if target.higher_is_better else "<="
        state = "met" if target.met else "MISSED"
        out.print(
            f"  target: {target.description}: {target.measured:.3g} "
            f"(wanted {sign} {target.threshold:g}) {state}",
            markup=False,
        )
        if not target.met and target.limits:
            out.print(f"    limited by: {target.limits}", markup=False)
    for note in report.notes:
        out.print(f"  - {note}", markup=False)


def bench(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="[NAME]...", help="Benchmarks to run, or all; none lists them."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny sizes, one round: checks, measures nothing.")
    ] = False,
    rounds: Annotated[
        int | None, typer.Option("--rounds", min=1, max=1000, help="Timed rounds per case.")
    ] = None,
    write_docs: Annotated[
        bool,
        typer.Option(
            "--write-docs",
            help="Update docs/benchmarks.json and .md (and docs/caching-strategies.md) of the "
            "checkout with the results.",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write benchmarks.json and .md to this directory instead."),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """List the benchmarks (no NAME), or run them side by side in one process.

    They use the configured services: PostgreSQL when QULAB_DATABASE_URL names one, Redis from
    QULAB_REDIS_URL (QULAB_BENCH_POSTGRES_URL and QULAB_BENCH_REDIS_URL override them for
    benchmarks only). On PostgreSQL each creates and drops databases of its own; on Redis it
    uses key and stream prefixes of its own and deletes them. A suite whose services are not
    configured is reported as not run. Nothing under docs/ changes without --write-docs.
    """
    root = find_checkout()
    harness = load_harness(root)
    if not names:
        _list_suites(harness, json)
        return
    try:
        selected = harness.resolve(names)
    except KeyError as error:
        raise InvalidInput("NAME", str(error.args[0])) from None
    docs_dir = output or root / "docs"
    base = harness.BenchConfig.smoke() if quick else harness.BenchConfig()
    config = dataclasses.replace(
        base, write_docs=write_docs or output is not None, docs_dir=docs_dir
    )
    if rounds:
        config = dataclasses.replace(config, rounds=rounds)
    err.print(_services_line(config), markup=False)
    started = time.perf_counter()

    def _progress(name: str, index: int, total: int) -> None:
        err.print(
            f"[{index}/{total}] running {name} ({time.perf_counter() - started:.0f} s elapsed)",
            markup=False,
        )

    reports = run(lambda: harness.run(selected, config, _progress))
    written: tuple[Path, Path] | None = None
    if config.write_docs:
        written = harness.write_results(reports, docs_dir)
    if json:
        print_json(
            {
                "reports": [dataclasses.asdict(report) for report in reports],
                "targets_met": all(t.met for report in reports for t in report.targets),
                "written": [str(path) for path in written] if written else [],
            }
        )
        return
    for report in reports:
        _print_report(report)
    if written:
        out.print(f"\nwrote {written[0]} and {written[1]}")
    else:
        out.print("\nresults not written (--write-docs updates docs/, --output DIR elsewhere)")


def _list_suites(harness: ModuleType, json: bool) -> None:
    config = harness.BenchConfig()
    rows = [
        {
            "name": suite.name,
            "measures": suite.about,
            "needs": ", ".join(suite.needs) or "-",
            "ready": harness.unmet(config, suite.needs) is None,
        }
        for suite in (harness.REGISTRY[name] for name in sorted(harness.REGISTRY))
    ]
    if json:
        print_json({"benchmarks": rows})
        return
    from rich.table import Table as RichTable

    table = RichTable(title="benchmarks (qulab bench NAME... | all)")
    for column in ("name", "measures", "needs", "ready"):
        table.add_column(column)
    for row in rows:
        ready = "yes" if row["ready"] else "not configured"
        table.add_row(row["name"], row["measures"], row["needs"], ready)
    out.print(table)
    out.print(_services_line(config), markup=False)


def _services_line(config: Any) -> str:
    from qulab.core import redact_url

    postgres = redact_url(config.postgres_url) if config.postgres_url else "not configured"
    redis = redact_url(config.redis_url) if config.redis_url else "not configured"
    return (
        f"PostgreSQL: {postgres} (databases of their own); Redis: {redis} (prefixes of their "
        "own); QULAB_BENCH_POSTGRES_URL / QULAB_BENCH_REDIS_URL override for benchmarks only"
    )
