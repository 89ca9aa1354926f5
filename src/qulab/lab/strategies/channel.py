"""Invalidation broadcast for two-tier caches: every client hears every invalidation.

A message carries the key, the generation the invalidation moved it to, and when it was sent
(so receivers can measure how long it took to arrive). ``RedisChannel`` uses Redis pub/sub:
fire-and-forget, so a subscriber that loses its connection may miss messages; it tells its
client through ``on_reset`` when the connection drops and again when it is back, and the
client then treats everything it holds locally as suspect. ``LocalChannel`` is the in-process
equivalent for the embedded stack (every client lives in one process).

On a Redis Cluster (``redis+cluster://``) the channel is the same: a subscriber listens on one
node, and the cluster carries every PUBLISH to every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from qulab.core import CacheUnavailable, redact_text, redact_url, redis_client

log = logging.getLogger(__name__)

FAILURES = (RedisError, RedisClusterException, OSError)
"""What a Redis client raises when the server (or the cluster) does not answer."""


@dataclass(frozen=True)
class Invalidation:
    key: str
    generation: int
    sent_ns: int

    def encode(self) -> bytes:
        return f"{self.generation} {self.sent_ns} {self.key}".encode()

    @classmethod
    def decode(cls, raw: bytes) -> Invalidation | None:
        try:
            generation, sent, key = raw.decode().split(" ", 2)
            return cls(key, int(generation), int(sent))
        except (UnicodeDecodeError, ValueError):
            return None


OnMessage = Callable[[Invalidation], None]
OnReset = Callable[[], None]


class InvalidationChannel(Protocol):
    @property
    def connected(self) -> bool: ...

    async def start(self, on_message: OnMessage, on_reset: OnReset) -> None: ...

    async def publish(self, key: str, generation: int) -> None: ...

    async def close(self) -> None: ...


class LocalHub:
    """What in-process channels share: the subscribers of one process."""

    def __init__(self) -> None:
        self.subscribers: list[OnMessage] = []


class LocalChannel:
    def __init__(self, hub: LocalHub) -> None:
        self.hub = hub
        self._on_message: OnMessage | None = None

    @property
    def connected(self) -> bool:
        return self._on_message is not None

    async def start(self, on_message: OnMessage, on_reset: OnReset) -> None:
        self._on_message = on_message
        self.hub.subscribers.append(on_message)

    async def publish(self, key: str, generation: int) -> None:
        message = Invalidation(key, generation, time.time_ns())
        for subscriber in list(self.hub.subscribers):
            subscriber(message)

    async def close(self) -> None:
        if self._on_message is not None:
            self.hub.subscribers.remove(self._on_message)
            self._on_message = None


class RedisChannel:
    """Redis pub/sub on ``channel``; reconnects on its own (``retry_seconds`` apart)."""

    def __init__(
        self, url: str, channel: str, *, retry_seconds: float = 0.2, socket_timeout: float = 1.0
    ) -> None:
        self.url = url
        self.channel = channel
        self.address = redact_url(url)
        self.retry_seconds = retry_seconds
        self.socket_timeout = socket_timeout
        self.resets = 0
        self._connected = False
        self._client: Any = None  # a Redis, or a RedisCluster
        self._task: asyncio.Task[None] | None = None
        self._pubsub: Any = None

    @property
    def connected(self) -> bool:
        return self._connected

    def _new_client(self) -> Any:
        return redis_client(
            self.url,
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=self.socket_timeout,
            health_check_interval=1,
        )

    async def _subscribed(self) -> Any:
        """A pubsub subscribed to the channel (on a cluster, once the layout is known)."""
        assert self._client is not None
        if isinstance(self._client, RedisCluster):
            await self._client.initialize()
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
        except BaseException:
            with contextlib.suppress(*FAILURES):
                await _close(pubsub)
            raise
        return pubsub

    async def start(self, on_message: OnMessage, on_reset: OnReset) -> None:
        """Subscribe and return once subscribed (CacheUnavailable if Redis does not answer);
        from then on a task delivers messages and reconnects after a failure."""
        self._client = self._new_client()
        try:
            pubsub = await self._subscribed()
        except FAILURES as error:
            with contextlib.suppress(*FAILURES):
                await self._client.aclose()
            self._client = None
            detail = redact_text(str(error), self.url)
            raise CacheUnavailable(f"redis {self.address} SUBSCRIBE: {detail}") from error
        self._connected = True
        self._pubsub = pubsub
        self._task = asyncio.get_running_loop().create_task(
            self._listen(pubsub, on_message, on_reset), name=f"qulab two-tier {self.channel}"
        )

    async def _listen(self, pubsub: Any, on_message: OnMessage, on_reset: OnReset) -> None:
        assert self._client is not None
        while True:
            try:
                raw = await pubsub.get_message(timeout=1.0)
                if raw is not None and raw.get("type") == "message":
                    message = Invalidation.decode(raw["data"])
                    if message is not None:
                        on_message(message)
                continue
            except FAILURES as error:
                log.warning("invalidation channel %s lost: %s", self.channel, error)
            self._connected = False
            self.resets += 1
            on_reset()
            with contextlib.suppress(*FAILURES):
                await _close(pubsub)
            self._pubsub = None
            pubsub = await self._resubscribe()
            self._pubsub = pubsub
            self._connected = True
            on_reset()  # messages sent while away are lost: start again from nothing
            log.info("invalidation channel %s subscribed again", self.channel)

    async def _resubscribe(self) -> Any:
        while True:
            await asyncio.sleep(self.retry_seconds)
            try:
                return await self._subscribed()
            except FAILURES as error:
                log.debug("invalidation channel %s still down: %s", self.channel, error)

    async def publish(self, key: str, generation: int) -> None:
        if self._client is None:
            raise CacheUnavailable(f"redis {self.address}: the channel is not started")
        message = Invalidation(key, generation, time.time_ns())
        try:
            await self._client.publish(self.channel, message.encode())
        except FAILURES as error:
            detail = redact_text(str(error), self.url)
            raise CacheUnavailable(f"redis {self.address} PUBLISH: {detail}") from error

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*FAILURES):
                await _close(pubsub)
        client, self._client = self._client, None
        self._connected = False
        if client is not None:
            with contextlib.suppress(*FAILURES):
                await client.aclose()


async def _close(pubsub: Any) -> None:
    await pubsub.aclose()
