"""One status line every few seconds from a long-running worker (a relay, a consumer).

A worker builds its line from the counters it keeps and a read of what still waits, and logs it
at INFO through its own logger. Each number is also a structured field of the record (its
``extra``), so a JSON log carries them as keys and a text log shows them in the message. A read
that fails (a database or broker that does not answer) shows as ``unknown``: the status line
never stops the work, and the worker's own logging reports the outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

UNKNOWN = "unknown"


@dataclass(frozen=True)
class StatusLine:
    """``subject: name n, name n, …, lag 1.2s; key=value``: the numbers, then the ``context``
    (a consumer group, the partitions a relay holds); all of them are the record's fields."""

    subject: str
    counts: Mapping[str, int | None]
    lag_seconds: float | None
    context: Mapping[str, str] = field(default_factory=dict)

    def text(self) -> str:
        parts = [f"{name} {UNKNOWN if n is None else n}" for name, n in self.counts.items()]
        parts.append(f"lag {UNKNOWN if self.lag_seconds is None else f'{self.lag_seconds:.1f}s'}")
        line = f"{self.subject}: " + ", ".join(parts)
        if self.context:
            line += "; " + " ".join(f"{name}={value}" for name, value in self.context.items())
        return line

    def fields(self) -> dict[str, object]:
        return {**self.counts, "lag_seconds": self.lag_seconds, **self.context}

    def log(self, logger: logging.Logger) -> None:
        logger.info("%s", self.text(), extra={"status": self.subject, **self.fields()})


async def every(
    seconds: float, report: Callable[[], Awaitable[object]], stopped: asyncio.Event
) -> None:
    """Call ``report`` every ``seconds`` until ``stopped`` is set (0 or less: never). A report
    that fails is logged at DEBUG and the next one comes on time."""
    if seconds <= 0:
        return
    while not stopped.is_set():
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stopped.wait()
        if stopped.is_set():
            return
        try:
            await report()
        except Exception as error:  # a status line must never end the worker
            log.debug("status line not written: %s", error)


def start(
    seconds: float, report: Callable[[], Awaitable[object]], stopped: asyncio.Event, name: str
) -> asyncio.Task[None] | None:
    """``every`` as a task beside the worker (None when status lines are off)."""
    if seconds <= 0:
        return None
    return asyncio.get_running_loop().create_task(every(seconds, report, stopped), name=name)


async def finish(task: asyncio.Task[None] | None) -> None:
    """Stop a task from ``start``."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait({task})
