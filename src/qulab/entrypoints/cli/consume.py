"""``qulab consume NAME``: run a consumer with an inbox; ``qulab consume status``: how they do."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from qulab.core import InvalidInput
from qulab.entrypoints.cli._common import err, open_runtime, print_json, print_table, run
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

STATUS = "status"
# Named here so --help needs no import of the consumers (a test checks the platform's list).
CONSUMER_NAMES = ("score-summary",)


def register(app: typer.Typer) -> None:
    app.command("consume")(consume)


def consume(
    name: Annotated[
        str,
        typer.Argument(help=f"The consumer to run ({', '.join(CONSUMER_NAMES)}), or 'status'."),
    ],
    broker: Annotated[
        str | None, typer.Option("--broker", help="Broker URL (default QULAB_BROKER_URL).")
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="Consumer group / queue / durable name (default NAME)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Drain what is there, then exit.")] = False,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_METRICS_HOST,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Apply events to a projection exactly once (each event id and its effects commit together
    in the inbox; acks follow the commit). `qulab consume status` shows per consumer what it
    applied, the duplicate deliveries it skipped and the lag at the broker. --metrics-port
    serves Prometheus metrics while it runs (docs/operations.md)."""
    if name == STATUS:
        _status(broker, json)
        return
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
        rejected = f", rejected {result.rejected}" if result.rejected else ""
        err.print(f"processed {result.processed}, duplicates skipped {result.duplicates}{rejected}")


def _outage_line(outage: str) -> str:
    outage = outage.rstrip(".")
    if outage.startswith("database unreachable"):
        return f"{outage}; nothing was acknowledged"
    return f"broker unavailable: {outage}; events wait there"


async def _consume(
    name: str, broker: str | None, group: str, once: bool, metrics: Metrics | None
) -> ConsumeResult:
    async with open_runtime() as runtime:
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


def _status(broker: str | None, json: bool) -> None:
    from qulab.core.consumers import build_source, consumer_status
    from qulab.platform import PLATFORM

    async def _go() -> list[ConsumerStatus]:
        async with open_runtime() as runtime:
            settings = runtime.db.settings
            url = broker if broker is not None else settings.broker.url
            sources: dict[str, Source] = {}
            if url is not None and not url.startswith("memory://"):
                sources = {
                    name: build_source(
                        url, settings, group=name, aggregate_types=kind().aggregate_types
                    )
                    for name, kind in PLATFORM.consumers.items()
                }
            try:
                return await consumer_status(runtime.db, sources)
            finally:
                for source in sources.values():
                    await source.close()

    found = run(_go)
    if json:
        print_json([status.as_dict() for status in found])
        return
    rows = [
        {
            **status.as_dict(),
            "lag": "unknown"
            if status.lag is None or status.lag.total is None
            else status.lag.total,
        }
        for status in found
    ]
    print_table("consumers", rows, ["name", "processed", "duplicates", "lag", "unacked"])
    for status in found:
        if status.lag_error:
            err.print(f"{status.name}: lag unknown: {status.lag_error}", markup=False)
