"""One result handed to many waiters (a single flight), each of whom may give up alone.

``asyncio.shield`` does the same for one future but costs a second future and two callbacks per
waiter; in a stampede of hundreds of readers that is most of the work. Here each waiter awaits a
future of its own: cancelling a waiter cancels only that future, and the result is set on every
future still waiting. A waiter that comes after the result is known gets it without waiting.
When the shared work itself is cancelled, waiters get ``ABANDONED`` and may do it themselves.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Final, Generic, Literal, TypeVar

T = TypeVar("T")


class _Abandoned(Enum):
    ABANDONED = "abandoned"


ABANDONED: Final = _Abandoned.ABANDONED
Abandoned = Literal[_Abandoned.ABANDONED]


class Shared(Generic[T]):
    __slots__ = ("_error", "_finished", "_value", "_waiters")

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[T | Abandoned]] = []
        self._finished = False
        self._value: T | Abandoned | None = None
        self._error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self._finished

    async def wait(self) -> T | Abandoned:
        if self._finished:
            return self._outcome()
        waiter: asyncio.Future[T | Abandoned] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def _outcome(self) -> T | Abandoned:
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def set_result(self, value: T | Abandoned) -> None:
        self._finished, self._value = True, value
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(value)

    def set_exception(self, error: BaseException) -> None:
        """Fail every waiter with ``error``; a cancelled one hands them ABANDONED instead."""
        if isinstance(error, asyncio.CancelledError):
            self.set_result(ABANDONED)
            return
        self._finished, self._error = True, error
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)
