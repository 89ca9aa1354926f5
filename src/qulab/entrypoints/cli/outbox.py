"""``qulab outbox``: status, relay, replay and purge of the transactional outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from qulab._startup import release_sigterm, sigterm_received
from qulab.core import ConfigurationError, InvalidInput, ServiceUnavailable, UserError
from qulab.entrypoints.cli._common import (
    EXIT_DEAD_LETTERED,
    DryRun,
    Yes,
    ask,
    err,
    needs_consent,
    open_db,
    open_runtime,
    out,
    print_json,
    print_record,
    print_table,
    run,
    settings,
)
from qulab.entrypoints.cli._logging import long_running
from qulab.entrypoints.cli._metrics import (
    DEFAULT_METRICS_HOST,
    MetricsHost,
    MetricsPort,
    serving_metrics,
)

if TYPE_CHECKING:
    from qulab.core import Database
    from qulab.core.metrics import Metrics
    from qulab.core.outbox import OutboxStatus, PassResult, Relay

MEMORY_BROKER_REFUSED = (
    "the memory:// broker lives in this process only: nothing outside it would see the "
    "events, yet they would be marked published; pass --yes to relay anyway, or set "
    "QULAB_BROKER_URL (or --broker) to a real broker"
)

DEAD_LETTERED_HINT = (
    " (dead-lettered: `qulab outbox status` lists them, `qulab outbox replay --failed` "
    "sends them again)"
)

app = typer.Typer(help="Operate the transactional outbox.", no_args_is_help=True)

JSON = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.command()
def status(
    failures: Annotated[int, typer.Option(min=0, max=1000, help="Recent failures to list.")] = 10,
    json: JSON = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Refresh every --interval seconds until Ctrl-C, like a dashboard."
        ),
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option("--interval", min=0.01, help="Seconds between refreshes (--watch; 2)."),
    ] = None,
    count: Annotated[int, typer.Option("--count", min=0, hidden=True)] = 0,
) -> None:
    """Counts by status, the lag (age of the oldest pending event) and recent failures. With
    --watch it refreshes in place on a terminal (a new block each time when piped; with --json
    one JSON object per line) until Ctrl-C."""
    from qulab.core.outbox import outbox_status

    if watch:
        from qulab.entrypoints.cli._watch import watch_outbox

        watch_outbox(failures, json=json, interval=interval or 2.0, count=count)
        return
    if interval is not None or count:
        raise InvalidInput("--interval", "sets how often --watch refreshes; add --watch")

    async def _go() -> OutboxStatus:
        async with open_db() as db:
            return await outbox_status(db, failures)

    result = run(_go)
    if json:
        print_json(result.as_dict())
        return
    show_status(result)


def show_status(result: OutboxStatus) -> None:
    """The outbox's status as tables: counts, recent failures, partitions."""
    from qulab.core.outbox import ranges

    lag = f"{result.lag_seconds:.1f}s" if result.lag_seconds is not None else "none pending"
    print_record("outbox", {**result.counts, "retrying": result.retrying, "lag": lag})
    if result.recent_failures:
        rows = [vars(failure) for failure in result.recent_failures]
        columns = ["id", "event_type", "status", "attempts", "last_error", "next_attempt_at"]
        print_table("recent failures", rows, columns)
    if result.partitions:
        leases = [
            {
                "relay": holding.relay,
                "held": len(holding.partitions),
                "partitions": ranges(holding.partitions),
                "lease_expires_at": holding.expires_at,
            }
            for holding in result.relays
        ]
        if result.unheld:
            leases.append(
                {"relay": "(none)", "held": len(result.unheld), "partitions": ranges(result.unheld)}
            )
        columns = ["relay", "held", "partitions", "lease_expires_at"]
        print_table(f"partitions ({result.partitions})", leases, columns)


@app.command()
def relay(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, max=10_000, help="Events per batch.")
    ] = None,
    broker: Annotated[
        str | None, typer.Option("--broker", help="Broker URL (default QULAB_BROKER_URL).")
    ] = None,
    interval: Annotated[
        float | None, typer.Option("--interval", min=0.01, help="Poll interval in seconds.")
    ] = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_METRICS_HOST,
    yes: Annotated[
        bool, typer.Option("--yes", help="Relay even to the in-process memory:// broker.")
    ] = False,
    json: JSON = False,
) -> None:
    """Publish pending events. Runs until SIGINT/SIGTERM (it finishes the current batch and
    exits 0), or makes one pass with --once. --metrics-port serves Prometheus metrics while it
    runs (docs/operations.md).

    Exits 3 when it dead-lettered events (they used their last attempt and are now failed),
    1 when --once met a broker or database outage.

    The default memory:// broker dies with this command, so relaying to it is refused unless
    --yes is given.
    """
    if once and metrics_port is not None:
        raise ConfigurationError("--metrics-port serves a running relay; drop --once")
    if not once:
        long_running()  # status lines at INFO unless QULAB_LOG_LEVEL says otherwise
    if not yes and _is_memory_broker(broker if broker is not None else settings().broker.url):
        raise UserError(MEMORY_BROKER_REFUSED)
    import asyncio
    import signal

    from qulab.core import open_publisher
    from qulab.core.outbox import relay_for

    async def _go() -> tuple[PassResult, int | None]:
        with serving_metrics(metrics_port, metrics_host) as metrics:
            return await _relay(metrics)

    async def _relay(metrics: Metrics | None) -> tuple[PassResult, int | None]:
        async with open_runtime(reads_data=True) as runtime:
            db = runtime.db
            own = broker is not None  # --broker: a publisher of its own, closed here
            publisher = open_publisher(db.settings, broker) if own else runtime.publisher
            if metrics is not None:
                metrics.watch(db=db, cache=runtime.cache)
            worker = relay_for(
                db,
                publisher,
                batch_size=batch_size,
                interval=interval,
                metrics=None if metrics is None else metrics.relay,
            )
            try:
                if once:
                    release_sigterm()
                    return await _one_pass(db, worker)
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, worker.stop)
                if sigterm_received():
                    worker.stop()  # SIGTERM while starting: no pass at all, and exit 0
                else:
                    err.print(f"relaying to {publisher.description}; Ctrl-C to stop", markup=False)
                return await worker.run(), None
            finally:
                if own:
                    await publisher.close()

    result, pending = run(_go)
    if json:
        print_json(result.as_dict() | ({"pending": pending} if once else {}))
    if once and result.outage:
        # --once is a health check as much as a pass: an outage is a failure, not a quiet 0.
        if not json:
            err.print(f"error: {_outage_line(result, pending)}", markup=False)
        raise typer.Exit(1)
    if not json:
        summary = f"published {result.published}, retrying {result.retried}, failed {result.dead}"
        if result.outage:
            summary += f" (broker unavailable: {result.outage})"
        elif result.dead:
            summary += DEAD_LETTERED_HINT
        # stderr, so that `--broker stdout://` leaves nothing but messages on stdout
        err.print(summary, markup=False)
    if result.dead:
        raise typer.Exit(EXIT_DEAD_LETTERED)


def _is_memory_broker(url: str | None) -> bool:
    return url is None or url.startswith("memory://")


async def _one_pass(db: Database, worker: Relay) -> tuple[PassResult, int | None]:
    """One pass and, after an outage, how many events still wait (None: the database is
    unreachable too)."""
    from qulab.core import EventStatus
    from qulab.core.outbox import PassResult, outbox_status

    worker.log_outages = False
    try:
        result = await worker.publish_pending()
    except ServiceUnavailable as error:
        result = PassResult(outage=str(error))
    if not result.outage:
        return result, None
    try:
        status = await outbox_status(db, 0)
    except ServiceUnavailable:
        return result, None
    return result, status.counts.get(EventStatus.PENDING.value, 0)


def _outage_line(result: PassResult, pending: int | None) -> str:
    from qulab.core import BrokerUnavailable

    waiting = "events stay pending" if pending is None else f"{pending} event(s) still pending"
    if result.outage and result.outage.startswith("database unreachable"):
        return f"{result.outage}; {waiting}"
    outage = (result.outage or "").removeprefix(f"{BrokerUnavailable.__name__}: ").rstrip(".")
    return f"broker unavailable: {outage}; published {result.published}, {waiting}"


@app.command("replay")
def replay_command(
    event_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[EVENT_ID]...", help="Events to send again.")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every dead-lettered event.")] = False,
    json: JSON = False,
) -> None:
    """Put failed events (or the given ones) back to pending with a fresh attempt count."""
    from qulab.core.outbox import replay

    async def _go() -> int:
        async with open_db() as db:
            return await replay(db, event_ids or (), failed=failed)

    count = run(_go)
    if json:
        print_json({"replayed": count})
    else:
        out.print(f"{count} event(s) back to pending")


@app.command()
def purge(
    published_older_than: Annotated[
        str, typer.Option("--published-older-than", help="Age such as 7d, 12h, 30m.")
    ],
    yes: Yes = False,
    dry_run: DryRun = False,
    json: JSON = False,
) -> None:
    """Delete published events older than the given age, page by page. Failed events are
    never purged. Asks first on a terminal; --yes otherwise. --dry-run counts them."""
    from qulab.core.outbox import count_purgeable, parse_age, purge_published

    age = parse_age(published_older_than, "published_older_than")
    needs_consent("outbox purge", yes=yes, dry_run=dry_run)

    async def _go() -> int:
        async with open_db() as db:
            count = await count_purgeable(db, age)
            if dry_run:
                return count
            if count:
                ask(f"{db.description}: {_purge_plan(count, published_older_than)}", yes=yes)
            return await purge_published(db, age)

    count = run(_go)
    key = "would_delete" if dry_run else "deleted"
    result: dict[str, Any] = {key: count, "older_than_seconds": age.total_seconds()}
    if json:
        print_json(({"dry_run": True} if dry_run else {}) | result)
    elif dry_run:
        out.print(f"dry run, nothing changed: {_purge_plan(count, published_older_than)}")
    else:
        out.print(f"deleted {count} published event(s) older than {published_older_than}")


def _purge_plan(count: int, age: str) -> str:
    return (
        f"deletes {count} published event(s) older than {age} from the outbox "
        "(pending and failed events are kept)"
    )
