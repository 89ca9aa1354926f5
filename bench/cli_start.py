"""``qulab bench cli_start``: how long whole ``qulab`` commands take to start, over a floor.

Each round runs every case once as a fresh process, in an order that rotates from round to
round, with ``python -c pass`` (the interpreter alone) among them as the floor; so load on the
machine falls on all cases alike. Reported: wall-clock median, p95 and spread per case, the
median overhead over the floor's median (what the targets bound), and the CPU time the process
used (user + system), which a busy machine disturbs far less than the wall clock. A second
reference, the libraries a data command needs imported alone, shows how much of a command's
start-up is beyond QuLab's reach.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import BenchConfig, Report, Samples, Table, Target, benchmark

RUNS = 30
QUICK_RUNS = 2
FLOOR = "python -c pass"
HELP_BUDGET_S = 0.15  # --help and --version
COMMAND_BUDGET_S = 0.35  # a data command, reading a small SQLite database
LIBRARIES = "libraries a data command needs"
NEEDED = (
    "sqlalchemy.orm",
    "sqlalchemy.ext.asyncio",
    "aiosqlite",
    "typer",
    "pydantic",
    "rich.table",
)
PLAIN = "the same listing, plain (bench/cli_floor.py)"
PLAIN_SCRIPT = Path(__file__).with_name("cli_floor.py")
USER_ID = "{user_id}"  # replaced by a seeded user's id when the cases run


def user_environment(tmp: str) -> dict[str, str]:
    """The environment a user's shell would give ``qulab``: no ``QULAB_*`` of this process, and
    Python caching compiled bytecode as it does by default. Where PYTHONDONTWRITEBYTECODE is
    set (as on machines that keep source trees free of ``__pycache__``), an editable install
    would compile every QuLab module from source on every run, which no installed copy does;
    so the children cache it under ``tmp`` (PYTHONPYCACHEPREFIX) instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env | {"PYTHONPYCACHEPREFIX": os.path.join(tmp, "pycache")}


def _qulab() -> list[str]:
    script = Path(sys.executable).with_name("qulab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "qulab"]


def cases(user_id: str = USER_ID) -> dict[str, list[str]]:
    qulab = _qulab()
    return {
        FLOOR: [sys.executable, "-c", "pass"],
        # What a data command cannot do without: the libraries alone, none of QuLab.
        LIBRARIES: [sys.executable, "-c", f"import {', '.join(NEEDED)}"],
        # `qulab user list` written plainly with the same libraries: what QuLab adds is above it.
        PLAIN: [sys.executable, str(PLAIN_SCRIPT), "list"],
        "qulab --help": [*qulab, "--help"],
        "qulab --version": [*qulab, "--version"],
        "qulab user list --help": [*qulab, "user", "list", "--help"],
        # The runtime is built (engine, in-process cache) and closed; nothing connects.
        "qulab cache stats --json": [*qulab, "cache", "stats", "--json"],
        # Reads of the two demo users in a migrated SQLite file.
        "qulab user list": [*qulab, "user", "list"],
        "qulab user show ID": [*qulab, "user", "show", user_id],
        "qulab outbox status": [*qulab, "outbox", "status"],
    }


BUDGETS = {
    "qulab --help": HELP_BUDGET_S,
    "qulab --version": HELP_BUDGET_S,
    "qulab user list --help": HELP_BUDGET_S,
    "qulab cache stats --json": COMMAND_BUDGET_S,
    "qulab user list": COMMAND_BUDGET_S,
    "qulab user show ID": COMMAND_BUDGET_S,
    "qulab outbox status": COMMAND_BUDGET_S,
}


PROFILED = "qulab user list"
PROFILE_ROWS = 12


def import_profile(stderr: str) -> dict[str, float]:
    """Seconds of import per top-level package, from ``python -X importtime`` output.

    Each line's self time belongs to its own module only, so summing self times by the first
    component of the module name splits the whole import time without double counting."""
    micros: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        if not own.strip().isdigit():
            continue  # the header line
        package = name.strip().split(".")[0]
        micros[package] = micros.get(package, 0) + int(own)
    ranked = sorted(micros.items(), key=lambda item: -item[1])
    return {package: total / 1e6 for package, total in ranked}


async def _profile(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    python = [sys.executable, "-X", "importtime", "-m", "qulab", *argv[1:]]
    if argv[0] != str(Path(sys.executable).with_name("qulab")):
        python = [sys.executable, "-X", "importtime", *argv[1:]]
    process = await asyncio.create_subprocess_exec(
        *python, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    return import_profile(err.decode(errors="replace"))


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run (one child at a time, so the CPU is its own)."""
    cpu = _child_cpu()
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-3:])} exited {process.returncode}: {err.decode()}")
    return elapsed, _child_cpu() - cpu


async def _prepare(env: dict[str, str]) -> str:
    """Migrate the database and seed the demo users (``qulab setup``); one user's id."""
    qulab = _qulab()
    for argv in ([*qulab, "setup"], [*qulab, "user", "list", "--json"]):
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        shown, err = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[-3:])} exited {process.returncode}: {err.decode()}")
    found = re.search(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", shown.decode())
    if found is None:
        raise RuntimeError(f"no user id in `qulab user list --json`: {shown.decode()[:200]}")
    return found[0]


async def measure(
    runs: int, warmup: int, env: dict[str, str], user_id: str = USER_ID
) -> tuple[dict[str, Samples], dict[str, Samples]]:
    """Wall-clock and CPU samples per case."""
    commands = cases(user_id)
    names = list(commands)
    wall = {name: Samples(name, []) for name in names}
    cpu = {name: Samples(name, []) for name in names}
    for round_ in range(warmup + runs):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, used = await _timed(commands[name], env)
            if round_ >= warmup:
                wall[name].seconds.append(seconds)
                cpu[name].seconds.append(used)
    return wall, cpu


@benchmark("cli_start", "CLI start-up time over `python -c pass`")
async def cli_start(config: BenchConfig) -> Report:
    runs = QUICK_RUNS if config.quick else max(RUNS, config.rounds)
    with tempfile.TemporaryDirectory(prefix="qulab-bench-cli-") as tmp:
        env = user_environment(tmp)
        url = f"sqlite+aiosqlite:///{tmp}/cli.db"
        env |= {"QULAB_DATABASE_URL": url, "FLOOR_DATABASE_URL": url, "COLUMNS": "100"}
        user_id = await _prepare(env)
        for argv in cases(user_id).values():  # each case's modules compiled and cached once
            await _timed(argv, env)
        samples, cpu = await measure(runs, config.warmup, env, user_id)
        profile = await _profile(cases()[PROFILED], env)
    imports = sum(profile.values())
    shown = list(profile.items())[:PROFILE_ROWS]
    profile_rows = [[name, seconds * 1000, seconds / imports] for name, seconds in shown]
    profile_rows.append(
        [
            "everything else",
            (imports - sum(s for _, s in shown)) * 1000,
            1 - sum(s for _, s in shown) / imports,
        ]
    )
    top = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in shown[:3])
    floor, cpu_floor = samples[FLOOR].median, cpu[FLOOR].median
    libraries = samples[LIBRARIES].median - floor
    rows = [
        [
            name,
            found.median,
            found.median - floor,
            found.percentile(95),
            round(found.spread, 2),
            cpu[name].median,
            cpu[name].median - cpu_floor,
        ]
        for name, found in samples.items()
    ]
    load = (
        f"the machine's load: the wall clock here ran {samples[LIBRARIES].median:.2f} s for "
        f"{cpu[LIBRARIES].median:.2f} s of CPU in the `{LIBRARIES}` row"
    )
    plain = samples[PLAIN].median - floor
    added = samples[PROFILED].median - samples[PLAIN].median
    command_limits = (
        f"the same listing written plainly with the same libraries (the `{PLAIN}` row) runs "
        f"{plain:.2f} s over the floor by itself, and the libraries' imports alone "
        f"{libraries:.2f} s (the `{LIBRARIES}` row): the budget is below what Typer, pydantic "
        f"and SQLAlchemy's ORM and asyncio cost here; `{PROFILED}` adds {added:.2f} s over the "
        f"plain listing (in one profiled run imports took {imports * 1000:.0f} ms, led by "
        f"{top}: see the import table); and {load}"
    )
    help_limits = (
        "`qulab --help` and `--version` import Typer and the table of commands, no command "
        "module; a sub-command's `--help` also imports its command module (Typer only at its "
        f"top: no pydantic, rich or settings); and {load}"
    )
    targets = [
        Target(
            f"{name}: start-up over the floor (s, median)",
            samples[name].median - floor,
            budget,
            higher_is_better=False,
            limits=help_limits if budget == HELP_BUDGET_S else command_limits,
        )
        for name, budget in BUDGETS.items()
    ]
    return Report(
        name="cli_start",
        title="Command-line start-up",
        tables=[
            Table(
                title=f"{runs} runs per case, interleaved, each a fresh process",
                columns=[
                    "case",
                    "median s",
                    "over floor s",
                    "p95 s",
                    "spread",
                    "CPU s (median)",
                    "CPU over floor s",
                ],
                rows=rows,
            ),
            Table(
                title=f"Where `{PROFILED}` spends its start-up: import time by package "
                "(python -X importtime, one run; self times summed per top-level package)",
                columns=["package", "ms", "share"],
                rows=profile_rows,
            ),
        ],
        targets=targets,
        notes=[
            f"floor: `{FLOOR}` ({floor * 1000:.0f} ms median), measured in the same rounds",
            "every case runs once before the rounds, with Python caching its compiled bytecode "
            "as it does by default (see `user_environment`)",
            "`cache stats` builds the runtime (engine, in-process cache) and opens no "
            "connection; `user list`, `user show` and `outbox status` read a migrated SQLite "
            "file holding the two demo users",
            f"`{LIBRARIES}`: `python -c 'import {', '.join(NEEDED)}'`, the part of a data "
            "command's start-up QuLab cannot remove",
            f"`{PLAIN}`: a Typer command with the same options, a pydantic-settings class, an "
            "ORM model of the columns shown, one async engine, the count and the page, a rich "
            "table: the floor for a data command written with these libraries",
        ],
        raw={
            "wall": {name: found.summary() for name, found in samples.items()},
            "cpu": {name: found.summary() for name, found in cpu.items()},
        },
    )
