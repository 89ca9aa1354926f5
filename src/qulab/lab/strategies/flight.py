"""Single-flight: concurrent loads of one key in this process share one database load."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[T]] = {}

    def running(self, key: str) -> bool:
        return key in self._running

    def forget(self, key: str) -> None:
        """Later callers start afresh (an invalidation makes the running load too old)."""
        self._running.pop(key, None)

    async def run(self, key: str, load: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The value and whether this caller was the one that loaded it."""
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running), False
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_seen)
        self._running[key] = future
        try:
            value = await load()
        except BaseException as error:
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(error)
            raise
        else:
            future.set_result(value)
            return value, True
        finally:
            if self._running.get(key) is future:
                del self._running[key]


def _seen(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
