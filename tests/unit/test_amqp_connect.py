"""A RabbitMQ connection whose opening failed is closed, not left for the garbage collector.

aio-pika drops such a connection looking open; its finalizer then makes a ``close()`` coroutine
where the collector runs, and from a thread without a running loop that coroutine is never
awaited (a warning, later, in whatever code happens to be running). The lab runs its loop in a
thread of its own, so that is where QuLab's connections are opened.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Awaitable, Callable, Iterator

import aio_pika
import pytest
from aiormq.exceptions import AMQPConnectionError

from qulab.core import connect_rabbitmq
from tests.services import free_port


@pytest.fixture
def loop_in_a_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def left_open() -> list[aio_pika.Connection]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, aio_pika.Connection) and not o.is_closed]


def fail_to_open(
    loop: asyncio.AbstractEventLoop, opener: Callable[[str], Awaitable[object]]
) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{free_port()}/"

    async def attempt() -> object:
        return await opener(url)

    with pytest.raises(AMQPConnectionError):
        asyncio.run_coroutine_threadsafe(attempt(), loop).result(timeout=30)


def test_a_connection_that_could_not_be_opened_is_closed(
    loop_in_a_thread: asyncio.AbstractEventLoop,
) -> None:
    before = left_open()
    fail_to_open(loop_in_a_thread, lambda url: connect_rabbitmq(url, 5))
    assert [c for c in left_open() if not any(c is b for b in before)] == []
