"""RabbitMQ connections that do not outlive a failed opening.

``aio_pika.connect`` makes its connection object before it dials, and when dialling fails it drops
that object still looking open. Its finalizer then schedules ``close()`` on whatever event loop is
current where the garbage collector happens to run; from a thread with no running loop (a loop
run in a thread of its own, as the lab's is) that coroutine is dropped unawaited, and the failed
attempt surfaces later as a warning somewhere unrelated. Every RabbitMQ connection QuLab opens
goes through :func:`connect_rabbitmq`, which closes such an object before the error goes on.
"""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection


class _ClosedOnFailure(aio_pika.Connection):
    async def connect(self, timeout: Any = None) -> None:  # noqa: ASYNC109 (aio-pika's signature)
        try:
            await super().connect(timeout)
        except BaseException:
            await self.close()
            raise


async def connect_rabbitmq(url: str, within: float | None = None) -> AbstractConnection:
    """An open connection to the broker ``url`` names, within ``within`` seconds; the error
    aio-pika raises (an ``AMQPError`` or ``OSError``) when it cannot be opened."""
    return await aio_pika.connect(url, timeout=within, connection_class=_ClosedOnFailure)
