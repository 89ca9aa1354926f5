"""``qulab outbox status --watch``: the outbox's status again every few seconds, until Ctrl-C.

On a terminal each refresh replaces the last one (the screen is cleared and redrawn, like
``watch``); piped, each refresh is a new block under a header line, so a log of them reads in
order; with ``--json`` each refresh is one JSON object on one line. The database stays open
between refreshes. A database that does not answer is one line on stderr for that refresh, and
the next refresh tries again. Ctrl-C (or SIGTERM) ends it with exit 0.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from qulab.core import ServiceUnavailable
from qulab.entrypoints.cli._common import err, open_db, out, print_json, run

if TYPE_CHECKING:
    from qulab.core import Database
    from qulab.core.outbox import OutboxStatus

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def watch_outbox(failures: int, *, json: bool, interval: float, count: int = 0) -> None:
    """Show the status every ``interval`` seconds; ``count`` refreshes at most (0: no limit)."""

    async def _go() -> None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stopped.set)
        try:
            async with open_db() as db:
                await _refreshes(db, failures, json, interval, count, stopped)
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    run(_go)


async def _refreshes(
    db: Database, failures: int, json: bool, interval: float, count: int, stopped: asyncio.Event
) -> None:
    shown = 0
    while not stopped.is_set():
        found = await _read(db, failures, stopped)
        if stopped.is_set():
            return
        moment = datetime.now(UTC)
        if isinstance(found, str):
            err.print(f"{moment:%H:%M:%S} {found}", markup=False)
        elif json:
            _json_line(found, moment)
        else:
            _block(found, moment, interval)
        shown += 1
        if count and shown >= count:
            return
        with suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stopped.wait()


async def _read(db: Database, failures: int, stopped: asyncio.Event) -> OutboxStatus | str:
    """The status, or what kept it from being read; Ctrl-C does not wait for a slow read."""
    from qulab.core.outbox import outbox_status

    reading = asyncio.ensure_future(outbox_status(db, failures))
    stopping = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not reading.done():
            reading.cancel()
            await asyncio.wait({reading})
    if reading.cancelled():
        return "stopped"
    try:
        return reading.result()
    except ServiceUnavailable as error:
        return f"error: {error}"


def _block(found: OutboxStatus, moment: datetime, interval: float) -> None:
    from qulab.entrypoints.cli.outbox import show_status

    if out.is_terminal:
        out.clear()
    stamp = f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    out.print(f"outbox status at {stamp}, every {interval:g}s; Ctrl-C to stop", markup=False)
    show_status(found)
    if not out.is_terminal:
        out.print()


def _json_line(found: OutboxStatus, moment: datetime) -> None:
    print_json({"at": moment.isoformat(), **found.as_dict()}, one_line=True)
