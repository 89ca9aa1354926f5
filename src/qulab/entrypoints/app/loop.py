"""A dedicated asyncio event loop on its own thread, and a blocking bridge into it.

Async engines and clients are bound to the loop that created them, so the app builds them on
this loop and submits every coroutine to it; script threads only wait for results.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from qulab.entrypoints.app.errors import LoopStopped, OperationTimedOut

T = TypeVar("T")
Closer = Callable[[], Awaitable[None]]

log = logging.getLogger(__name__)


class LoopThread:
    """One event loop running forever on a daemon thread until ``stop()``.

    Resources built on the loop register an async closer with ``add_closer``; ``stop`` runs the
    closers (newest first) on the loop before stopping it, so nothing outlives its loop.
    """

    def __init__(self, name: str = "qulab-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._closers: list[Closer] = []
        self._lock = threading.Lock()
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), name=name, daemon=True)
        self._thread.start()
        started.wait()

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        try:
            self.loop.run_forever()
        finally:
            self._cancel_leftovers()
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def _cancel_leftovers(self) -> None:
        tasks = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self.loop.is_running()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop and return at once (for background work)."""
        if not self.running:
            coro.close()
            raise LoopStopped("the app's event loop has stopped: restart the app")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (or its exception).

        After ``timeout`` seconds the work is cancelled and OperationTimedOut is raised.
        """
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LoopThread.run() called on the loop thread would deadlock")
        future = self.submit(coro)
        done, _ = concurrent.futures.wait([future], timeout=timeout)
        if not done:
            future.cancel()
            raise OperationTimedOut(timeout or 0.0)
        return future.result()

    def add_closer(self, closer: Closer) -> None:
        with self._lock:
            self._closers.append(closer)

    def remove_closer(self, closer: Closer) -> None:
        with self._lock:
            if closer in self._closers:
                self._closers.remove(closer)

    def stop(self, timeout: float = 10.0) -> None:
        """Run the registered closers, then stop the loop and join its thread. Idempotent."""
        with self._lock:
            closers, self._closers = list(reversed(self._closers)), []
        if self.running:
            for closer in closers:
                try:
                    self.run(_await(closer), timeout=timeout)
                except Exception:
                    log.warning("closing a resource on the app loop failed", exc_info=True)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


async def _await(closer: Closer) -> None:
    await closer()
