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
from rich.table import Table as RichTable
from rich.text import Text

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
        list[str] | None, typer.Argument(metavar="NAME...", help="Benchmarks to run, or all.")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny sizes, one round: checks, measures nothing.")
    ] = False,
    rounds: Annotated[
        int | None, typer.Option("--rounds", min=1, max=1000, help="Timed rounds per case.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Directory for benchmarks.json and .md (default: docs/ of the checkout; "
            "quick runs write nothing unless given).",
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Run benchmarks (nplusone, pool, ... or all) in one process; write docs/benchmarks.md."""
    root = find_checkout()
    harness = load_harness(root)
    try:
        selected = harness.resolve(names or ["all"])
    except KeyError as error:
        raise InvalidInput("NAME", str(error.args[0])) from None
    base = harness.BenchConfig.smoke() if quick else harness.BenchConfig()
    config = dataclasses.replace(base, rounds=rounds) if rounds else base
    started = time.perf_counter()

    def _progress(name: str, index: int, total: int) -> None:
        err.print(
            f"[{index}/{total}] running {name} ({time.perf_counter() - started:.0f} s elapsed)",
            markup=False,
        )

    reports = run(lambda: harness.run(selected, config, _progress))
    written: tuple[Path, Path] | None = None
    if output is not None or not quick:
        written = harness.write_results(reports, output or root / "docs")
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
        out.print("\nquick run: results not written (pass --output DIR to keep them)")
