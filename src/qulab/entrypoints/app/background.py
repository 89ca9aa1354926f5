"""One background task on the app loop, started and stopped from any browser session.

The lab's relay and its consumer both run this way: the work is built and started on the app's
loop, ``stop`` asks it to finish its current step and waits (cancelling it when it does not),
and what ended it (an error) is kept for the page. ``finish`` runs once after the work, however
it ended, even when it was cancelled before it began.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from qulab.core import utcnow
from qulab.entrypoints.app.loop import LoopThread

log = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True)
class Work(Generic[R]):
    """What a background task runs: ``run`` until ``stop`` is called, then ``finish``."""

    run: Callable[[], Awaitable[R]]
    stop: Callable[[], None]
    finish: Callable[[], Awaitable[None]] | None = None


class BackgroundTask(Generic[R]):
    """Runs one piece of :class:`Work` at a time as a task on ``loop``; thread-safe.

    ``label`` names the work in the log ("the lab's event publisher"); ``timeout`` bounds how
    long starting and stopping it may take. Its closer is registered on the loop at once:
    closers run newest first, so the loop stops the work before it closes what the work uses
    (made earlier)."""

    def __init__(self, loop: LoopThread, *, name: str, label: str, timeout: float) -> None:
        self.loop = loop
        self.name = name
        self.label = label
        self.timeout = timeout
        self.started_at: datetime | None = None
        self.stopped_at: datetime | None = None
        self.crash: str | None = None  # what ended the last run, when an error did
        self._lock = threading.Lock()
        self._task: asyncio.Task[R] | None = None
        self._work: Work[R] | None = None
        self._finished = True
        loop.add_closer(self.close)

    @property
    def running(self) -> bool:
        task = self._task
        return task is not None and not task.done()

    @property
    def started(self) -> bool:
        """Whether it was ever started (it may have ended since)."""
        return self._task is not None

    def start(self, build: Callable[[], Work[R]], *, restart: bool = True) -> bool:
        """Build the work on the loop and start it; False when it already runs (or, without
        ``restart``, ran before: its crash stays reported). What ``build`` raises is raised
        here, and nothing is started."""
        with self._lock:
            if self.running or (not restart and self.started):
                return False
            self._task = self.loop.run(self._start(build), self.timeout)
            return True

    async def _start(self, build: Callable[[], Work[R]]) -> asyncio.Task[R]:
        work = build()
        self._work, self._finished = work, False
        self.started_at, self.stopped_at, self.crash = utcnow(), None, None
        task = asyncio.create_task(self._run(work), name=self.name)
        task.add_done_callback(_retrieve)
        return task

    async def _run(self, work: Work[R]) -> R:
        try:
            return await work.run()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("%s stopped on an error", self.label)
            self.crash = f"{type(error).__name__}: {error}"
            raise
        finally:
            await self._finish(work)

    async def _finish(self, work: Work[R]) -> None:
        if work is not self._work or self._finished:
            return
        self._finished = True
        try:
            if work.finish is not None:
                await work.finish()
        finally:
            self.stopped_at = utcnow()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the work to stop after its current step and wait for it; False if not running."""
        with self._lock:
            if not self.running or not self.loop.running:
                return False
            self.loop.run(self.close(), timeout or self.timeout)
            return True

    async def close(self) -> None:
        """On the loop: stop the work (cancelled when it takes longer than the timeout)."""
        work, task = self._work, self._task
        if work is None or task is None:
            return
        work.stop()
        done, _ = await asyncio.wait({task}, timeout=self.timeout - 1)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._finish(work)  # a task cancelled before its first step never ran it

    def release(self) -> None:
        """From a script thread, when the app lets go of it: stop it and forget its closer."""
        self.loop.remove_closer(self.close)
        if self.loop.running:
            try:
                self.loop.run(self.close(), self.timeout)
            except Exception:
                log.warning("stopping %s failed", self.label, exc_info=True)


class Runs(Protocol):
    """Anything that runs a background task (the app's relay and consumer controllers)."""

    @property
    def task(self) -> BackgroundTask[Any]: ...


def release(owner: Runs) -> None:
    """``st.cache_resource``'s ``on_release`` for what runs a background task: stop it."""
    owner.task.release()


def _retrieve(task: asyncio.Task[R]) -> None:
    """Mark a crashed task's exception as seen (``_run`` logged it and keeps it as ``crash``)."""
    if not task.cancelled():
        task.exception()
