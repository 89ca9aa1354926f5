"""``qulab chaos``: kill relays and consumers at random and check that nothing was lost or
applied twice. Progress goes to stderr; the verdict to stdout (``--json`` for machines)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from qulab.core import InvalidInput
from qulab.entrypoints.cli._common import err, out, print_json, print_record, run, settings

if TYPE_CHECKING:
    from qulab.lab.chaos import Progress, Report
    from qulab.lab.chaos_check import ChaosReport

REACHABLE = ("redis://", "rediss://", "amqp://", "amqps://", "nats://", "tls://")


def register(app: typer.Typer) -> None:
    app.command("chaos")(chaos)


def chaos(
    relays: Annotated[int, typer.Option("--relays", min=1, max=16, help="Relay processes.")] = 1,
    consumers: Annotated[
        int, typer.Option("--consumers", min=1, max=16, help="Consumer processes.")
    ] = 2,
    events: Annotated[
        int, typer.Option("--events", min=1, max=100_000, help="Events to write.")
    ] = 200,
    kills: Annotated[int, typer.Option("--kills", min=0, max=1000, help="SIGKILLs to deal.")] = 4,
    broker: Annotated[
        str | None, typer.Option("--broker", help="Broker URL (default QULAB_BROKER_URL).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds to wait for everything to settle.")
    ] = 120.0,
    relay_mode: Annotated[
        str,
        typer.Option(
            "--relay-mode",
            help="polling, or wal: relays tail PostgreSQL's write-ahead log (wal_level=logical).",
        ),
    ] = "polling",
    replicas: Annotated[
        int,
        typer.Option(
            "--replicas",
            min=0,
            max=4,
            help="Read replicas to read through the cache under lag (PostgreSQL): the first N "
            "of QULAB_DATABASE_REPLICA_URLS, else a private primary with N standbys.",
        ),
    ] = 0,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Start R relays and C consumers as processes in a scratch database and broker namespace,
    write N events, SIGKILL a random relay or consumer K times (restarting it), wait until all
    has settled and check from the outside: events lost, order inversions per aggregate at
    the broker, duplicate deliveries (allowed), duplicate effects, projection = air_scores.
    With --relay-mode wal the relays tail the write-ahead log (the database needs
    wal_level=logical). With --replicas N, readers also read users through the cache from
    standbys whose replay is paused at random, and each writer reads its rename back with its
    token: a stale read after a write fails the check. Exit 0 when the check passes, 1 when it
    does not."""
    current = settings()
    url = broker if broker is not None else current.broker.url
    if url is None or not url.startswith(REACHABLE):
        raise InvalidInput(
            "--broker",
            "the chaos check needs a broker other processes reach (redis://, amqp://, nats://)",
        )
    private = replicas > 0 and not current.database.replica_urls  # a primary of its own
    if relays > 1 and current.database.is_sqlite and not private:
        raise InvalidInput("--relays", "SQLite runs one relay; use PostgreSQL for more")
    if relay_mode not in ("polling", "wal"):
        raise InvalidInput("--relay-mode", "polling or wal")
    if relay_mode == "wal" and current.database.is_sqlite:
        raise InvalidInput("--relay-mode", "wal tails PostgreSQL's write-ahead log; use PostgreSQL")
    configured = len(current.database.replica_urls)
    if replicas and configured and current.database.is_sqlite:
        raise InvalidInput("--replicas", "QULAB_DATABASE_REPLICA_URLS needs a PostgreSQL primary")
    if replicas > configured > 0:
        raise InvalidInput(
            "--replicas", f"QULAB_DATABASE_REPLICA_URLS names only {configured} standby(s)"
        )
    from qulab.lab.chaos import ChaosPlan, run_chaos

    plan = ChaosPlan(
        broker=url,
        relays=relays,
        consumers=consumers,
        events=events,
        kills=kills,
        seed=seed,
        timeout=timeout,
        relay_mode=relay_mode,
        replicas=replicas,
    )
    report = run(lambda: run_chaos(plan, current, _show_progress()))
    if json:
        print_json(report.as_dict())
    else:
        _print(report)
    if not report.passed:
        raise typer.Exit(1)


@dataclass
class _Shown:
    phase: str = ""
    at: float = 0.0
    line: str = ""


def _show_progress() -> Report:
    """One line per phase, per kill and, while it runs, at most one a second."""
    last = _Shown()

    def show(progress: Progress) -> None:
        if progress.note:
            err.print(f"  {progress.note}", markup=False)
            progress.note = ""
        line = (
            f"{progress.phase}: written {progress.produced}, published {progress.published}, "
            f"applied {progress.applied}, kills {progress.kills}"
        )
        now = time.monotonic()
        fresh = progress.phase != last.phase or now - last.at >= 1.0
        if fresh and line != last.line:
            err.print(line, markup=False)
            last.phase, last.at, last.line = progress.phase, now, line

    return show


def _print(report: ChaosReport) -> None:
    shown = report.as_dict()
    problems = shown.pop("problems")
    print_record("chaos check", shown)
    if report.replicas:
        out.print(
            f"stale reads after a write (token holders): {report.stale_reads_after_write}",
            markup=False,
        )
    for problem in problems if isinstance(problems, list) else []:
        out.print(f"  {problem}", markup=False)
    out.print("passed" if report.passed else "FAILED")
