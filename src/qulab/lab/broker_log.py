"""A broker namespace of its own for one run (the chaos check): its settings, its log, its removal.

``settings`` are the ``QULAB_*`` variables that point relays and consumers at the namespace (a
stream prefix, an exchange). ``prepare`` makes sure nothing published is missed (on RabbitMQ the
consumer group's queue and an audit queue exist before the first publish). ``read`` is the
broker's own record of what was published, in broker order, one event id per message (stream
by stream; an aggregate never spans streams). ``remove`` deletes the namespace and nothing else.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from typing import Any, Protocol

import aio_pika
import nats
from nats.js import errors as js_errors
from redis.exceptions import RedisError

from qulab.core import (
    BrokerUnavailable,
    ConfigurationError,
    connect_rabbitmq,
    is_redis_cluster,
    redact_text,
    redact_url,
    redis_client,
    stream_name,
)
from qulab.core.consumers import RabbitMQSource, queue_name
from qulab.core.outbox import MSG_ID, jetstream_name
from qulab.lab.redis_keys import delete_keys, scan_keys

AUDIT = "audit"


class BrokerNamespace(Protocol):
    settings: dict[str, str]
    name: str  # the prefix or exchange everything of the namespace lives under

    async def prepare(self, group: str) -> None: ...

    async def read(self) -> list[str]: ...

    async def remove(self) -> None: ...


def broker_namespace(url: str, aggregate_types: Sequence[str], label: str) -> BrokerNamespace:
    tag = f"qulab_{label}_{secrets.token_hex(5)}"
    if url.startswith(("redis://", "rediss://")) or is_redis_cluster(url):
        return RedisNamespace(url, f"{tag}:", aggregate_types)
    if url.startswith(("amqp://", "amqps://")):
        return RabbitMQNamespace(url, tag.replace("_", "."))
    if url.startswith(("nats://", "tls://")):
        return NatsNamespace(url, f"{tag}_", aggregate_types)
    raise ConfigurationError(
        f"--broker: {redact_url(url)!r} is not a broker other processes can reach; "
        "use redis://, redis+cluster://, amqp:// or nats://"
    )


def _unavailable(url: str, error: BaseException) -> BrokerUnavailable:
    return BrokerUnavailable(f"{redact_url(url)}: {redact_text(str(error), url)}")


class RedisNamespace:
    def __init__(self, url: str, prefix: str, aggregate_types: Sequence[str]) -> None:
        self.url = url
        self.prefix = prefix
        self.streams = [stream_name(kind, prefix) for kind in aggregate_types]
        self.settings = {"QULAB_OUTBOX_STREAM_PREFIX": prefix}
        self.name = prefix

    async def prepare(self, group: str) -> None:
        return None  # the consumer group starts at the beginning of each stream

    async def read(self) -> list[str]:
        """Each stream's entries (XRANGE; on a cluster each from its own master)."""
        client = redis_client(self.url, decode_responses=True)
        try:
            ids: list[str] = []
            for stream in self.streams:
                entries: list[Any] = list(await client.xrange(stream) or [])
                ids += [str((fields or {}).get("id", "")) for _, fields in entries]
            return ids
        except (RedisError, OSError) as error:
            raise _unavailable(self.url, error) from error
        finally:
            await client.aclose()

    async def remove(self) -> None:
        client = redis_client(self.url)
        try:
            keys = [key async for key in scan_keys(client, f"{self.prefix}*", 500)]
            await delete_keys(client, keys)
        except (RedisError, OSError) as error:
            raise _unavailable(self.url, error) from error
        finally:
            await client.aclose()


class RabbitMQNamespace:
    def __init__(self, url: str, exchange: str) -> None:
        self.url = url
        self.exchange = exchange
        self.settings = {"QULAB_OUTBOX_EXCHANGE": exchange}
        self.name = exchange
        self.groups: list[str] = []

    async def prepare(self, group: str) -> None:
        for name in (group, AUDIT):
            source = RabbitMQSource(self.url, group=name, exchange=self.exchange)
            await source.start()
            await source.close()
            self.groups.append(name)

    async def read(self) -> list[str]:
        connection = await self._connect()
        ids: list[str] = []
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name(self.exchange, AUDIT), passive=True)
            while (message := await queue.get(fail=False, no_ack=True)) is not None:
                ids.append(str(message.message_id or ""))
        finally:
            await connection.close()
        return ids

    async def remove(self) -> None:
        connection = await self._connect()
        try:
            channel = await connection.channel()
            for group in self.groups:
                await channel.queue_delete(queue_name(self.exchange, group))
            await channel.exchange_delete(self.exchange)
        finally:
            await connection.close()

    async def _connect(self) -> Any:
        try:
            return await connect_rabbitmq(self.url, 5)
        except (OSError, aio_pika.exceptions.AMQPError) as error:
            raise _unavailable(self.url, error) from error


class NatsNamespace:
    def __init__(self, url: str, prefix: str, aggregate_types: Sequence[str]) -> None:
        self.url = url
        self.prefix = prefix
        self.streams = [jetstream_name(kind, prefix) for kind in aggregate_types]
        self.settings = {"QULAB_OUTBOX_STREAM_PREFIX": prefix}
        self.name = prefix

    async def prepare(self, group: str) -> None:
        return None  # the durable consumer delivers the whole stream

    async def read(self) -> list[str]:
        client = await nats.connect(self.url, connect_timeout=5, allow_reconnect=False)
        try:
            js = client.jetstream()
            ids: list[str] = []
            for stream in self.streams:
                try:
                    state = (await js.stream_info(stream)).state
                except js_errors.NotFoundError:
                    continue
                for sequence in range(state.first_seq, state.last_seq + 1):
                    with contextlib.suppress(js_errors.NotFoundError):
                        message = await js.get_msg(stream, sequence)
                        ids.append((message.headers or {}).get(MSG_ID, ""))
            return ids
        finally:
            await client.close()

    async def remove(self) -> None:
        client = await nats.connect(self.url, connect_timeout=5, allow_reconnect=False)
        try:
            js = client.jetstream()
            for stream in self.streams:
                with contextlib.suppress(js_errors.NotFoundError):
                    await js.delete_stream(stream)
        finally:
            await client.close()
