"""``qulab consume run NAME``: run a consumer with an inbox; ``qulab consume status``: how
the consumer groups do."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from qulab.core import InvalidInput
from qulab.entrypoints.cli._common import (
    EXIT_DEAD_LETTERED,
    err,
    open_runtime,
    out,
    print_json,
    print_table,
    run,
)
from qulab.entrypoints.cli._logging import long_running
from qulab.entrypoints.cli._metrics import (
    DEFAULT_METRICS_HOST,
    MetricsHost,
    MetricsPort,
    serving_metrics,
)

if TYPE_CHECKING:
    from qulab.core import Runtime
    from qulab.core.consumers import Consumer, ConsumeResult, ConsumerStatus, Source
    from qulab.core.metrics import Metrics
    from qulab.core.outbox import Relay

# Named here so --help needs no import of the consumers (a test checks the platform's list).
CONSUMER_NAMES = ("score-summary",)

app = typer.Typer(help="Run consumers with an inbox, and see how they do.", no_args_is_help=True)

Broker = Annotated[
    str | None, typer.Option("--broker", help="Broker URL (default QULAB_BROKER_URL).")
]
JSON = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="consume")


@app.command("run")
def run_consumer(
    name: Annotated[
        str,
        typer.Argument(metavar="NAME", help=f"The consumer to run ({', '.join(CONSUMER_NAMES)})."),
    ],
    broker: Broker = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="Consumer group / queue / durable name (default NAME)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Drain what is there, then exit.")] = False,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_METRICS_HOST,
    json: JSON = False,
) -> None:
    """Apply events to a projection exactly once (each event id and its effects commit together
    in the inbox; acks follow the commit). --once drains what is there and exits 0, 1 when the
    broker or database was unreachable, 3 when it dropped events that cannot be applied.
    --metrics-port serves Prometheus metrics while it runs (docs/operations.md)."""
    if name not in CONSUMER_NAMES:
        known = ", ".join(CONSUMER_NAMES)
        raise InvalidInput("NAME", f"unknown consumer {name!r}; known: {known}")
    if once and metrics_port is not None:
        raise InvalidInput("--metrics-port", "serves a running consumer; drop --once")
    if not once:
        long_running()  # status lines at INFO unless QULAB_LOG_LEVEL says otherwise

    async def _go() -> ConsumeResult:
        with serving_metrics(metrics_port, metrics_host) as metrics:
            return await _consume(name, broker, group or name, once, metrics)

    result = run(_go)
    if json:
        print_json(result.as_dict())
    if result.outage and once:
        if not json:
            err.print(f"error: {_outage_line(result.outage)}", markup=False)
        raise typer.Exit(1)
    if not json:
        dropped = f", dropped {result.poisoned}" if result.poisoned else ""
        out.print(f"processed {result.processed}, duplicates skipped {result.duplicates}{dropped}")
    if result.poisoned and once:
        if not json:
            err.print(
                f"error: {result.poisoned} message(s) could not be applied and were dropped "
                "(each logged with its id)",
                markup=False,
            )
        raise typer.Exit(EXIT_DEAD_LETTERED)


def _outage_line(outage: str) -> str:
    outage = outage.rstrip(".")
    if outage.startswith("database unreachable"):
        return f"{outage}; nothing was acknowledged"
    return f"broker unavailable: {outage}; events wait there"


async def _consume(
    name: str, broker: str | None, group: str, once: bool, metrics: Metrics | None
) -> ConsumeResult:
    async with open_runtime(reads_data=True) as runtime:
        if metrics is not None:
            metrics.watch(db=runtime.db, cache=runtime.cache)
        await runtime.db.ping()  # a database that is down is exit 1 even with nothing to consume
        worker = runtime.consumer(
            name,
            broker=broker,
            group=group,
            metrics=None if metrics is None else metrics.consumer(name),
        )
        source = worker.source
        embedded = _embedded(broker, runtime)
        try:
            if once:
                if embedded is not None:
                    await embedded.publish_pending()
                return await worker.run_once()
            return await _run_until_signal(worker, embedded, name, source)
        finally:
            await source.close()


def _embedded(broker: str | None, runtime: Runtime) -> Relay | None:
    """With the embedded broker, nothing but this process can publish to it: a relay runs
    here too."""
    from qulab.core import open_publisher
    from qulab.core.outbox import Relay

    url = broker if broker is not None else runtime.db.settings.broker.url
    if url is not None and not url.startswith("memory://"):
        return None
    return Relay(runtime.db, open_publisher(runtime.db.settings, url), owns_publisher=True)


async def _run_until_signal(
    worker: Consumer, embedded: Relay | None, name: str, source: Source
) -> ConsumeResult:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        worker.stop()
        if embedded is not None:
            embedded.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    relay_task = asyncio.create_task(embedded.run()) if embedded is not None else None
    ready = asyncio.Event()
    task = asyncio.create_task(worker.run(ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if ready.is_set():
        err.print(f"consuming {name} from {source.description}; Ctrl-C to stop", markup=False)
    try:
        return await task
    finally:
        if embedded is not None and relay_task is not None:
            embedded.stop()
            with contextlib.suppress(Exception):
                await relay_task


@app.command("status")
def status(
    broker: Broker = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="Only this consumer group: its queue, lag and inbox."),
    ] = None,
    json: JSON = False,
) -> None:
    """Per consumer group: events applied and duplicate deliveries skipped (from its inbox),
    and the lag at the broker (its Redis group, RabbitMQ queue or JetStream durable)."""
    from qulab.core.consumers import ConsumerGroup, build_source, consumer_status
    from qulab.platform import PLATFORM

    async def _go() -> list[ConsumerStatus]:
        async with open_runtime(reads_data=True) as runtime:
            settings = runtime.db.settings
            url = broker if broker is not None else settings.broker.url
            remote = url is not None and not url.startswith("memory://")
            groups = [
                ConsumerGroup(
                    name,
                    group or name,
                    build_source(
                        url, settings, group=group or name, aggregate_types=kind().aggregate_types
                    )
                    if remote
                    else None,
                )
                for name, kind in PLATFORM.consumers.items()
            ]
            try:
                return await consumer_status(runtime.db, groups, group=group)
            finally:
                for watched in groups:
                    if watched.source is not None:
                        await watched.source.close()

    found = run(_go)
    if json:
        print_json([item.as_dict() for item in found])
        return
    rows = [
        {
            **item.as_dict(),
            "lag": "unknown" if item.lag is None or item.lag.total is None else item.lag.total,
        }
        for item in found
    ]
    print_table(
        "consumers",
        rows,
        ["name", "group", "processed", "duplicates", "lag", "unacked"],
        optional=["unacked"],
    )
    for item in found:
        if item.lag_error:
            err.print(f"{item.as_dict()['group']}: lag unknown: {item.lag_error}", markup=False)
