"""Wait for what the code under test brings about: poll a condition until it holds, and fail
the test naming what was awaited when it does not hold in time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

import pytest

T = TypeVar("T")

TIMEOUT = 10.0


Described = str | Callable[[], str]


def _gave_up(what: Described, timeout: float) -> str:
    """What was awaited: a text, or a function that also tells what was last seen."""
    return f"gave up after {timeout:g} s waiting for {what() if callable(what) else what}"


def wait_until(
    condition: Callable[[], T | None],
    what: Described,
    *,
    timeout: float = TIMEOUT,
    interval: float = 0.1,
) -> T:
    """Call ``condition`` until it returns something truthy, and return that. A condition that
    raises ends the wait at once (an assertion that the awaited thing can still happen)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(_gave_up(what, timeout), pytrace=False)
        time.sleep(interval)
    return result


@overload
async def eventually(
    condition: Callable[[], Awaitable[T | None]],
    what: Described,
    *,
    timeout: float = ...,
    interval: float = ...,
) -> T: ...
@overload
async def eventually(
    condition: Callable[[], T | None],
    what: Described,
    *,
    timeout: float = ...,
    interval: float = ...,
) -> T: ...
async def eventually(
    condition: Callable[[], object],
    what: Described,
    *,
    timeout: float = TIMEOUT,
    interval: float = 0.02,
) -> object:
    """Check ``condition`` (a plain or an async function) until it gives something truthy, and
    return that, letting the loop run in between. The timeout also cuts a condition that hangs."""
    limit = asyncio.timeout(timeout)
    try:
        async with limit:
            while True:
                result = condition()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return result
                await asyncio.sleep(interval)
    except TimeoutError:
        if limit.expired():
            pytest.fail(_gave_up(what, timeout), pytrace=False)
        raise
