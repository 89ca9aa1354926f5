"""``build_source(url, group, aggregate_types)``: the broker a consumer reads, by URL.

The URL schemes are the relay's (``QULAB_BROKER_URL``); stream prefix and exchange come from
the same settings, so a consumer reads where the relay publishes.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from qulab.core.config import Settings
from qulab.core.consumers.memory import MemorySource
from qulab.core.consumers.nats import NatsSource
from qulab.core.consumers.rabbitmq import RabbitMQSource
from qulab.core.consumers.redis_streams import RedisStreamsSource
from qulab.core.consumers.source import Source
from qulab.core.errors import ConfigurationError
from qulab.core.outbox.memory import memory_broker
from qulab.core.redis_cluster import REDIS_SCHEMES
from qulab.core.urls import address_problem, redact_url


def member_name() -> str:
    """This process as a member of a consumer group."""
    return f"{socket.gethostname()}-{os.getpid()}"


def build_source(
    url: str | None, settings: Settings, *, group: str, aggregate_types: Sequence[str]
) -> Source:
    broker, consumer = settings.broker, settings.consumer
    url = url if url is not None else broker.url
    if url is None or url.startswith("memory://"):
        name = urlsplit(url or "memory://").netloc or "default"
        return MemorySource(
            memory_broker(name, broker.memory_size), aggregate_types=aggregate_types
        )
    problem = address_problem(url)
    if problem is not None:
        raise ConfigurationError(f"--broker: {problem} (got {redact_url(url)!r})")
    timeout = broker.publish_timeout
    if url.startswith(REDIS_SCHEMES):
        return RedisStreamsSource(
            url,
            group=group,
            member=member_name(),
            aggregate_types=aggregate_types,
            prefix=broker.stream_prefix,
            claim_idle=consumer.claim_idle,
            timeout=timeout,
        )
    if url.startswith(("amqp://", "amqps://")):
        return RabbitMQSource(
            url,
            group=group,
            exchange=broker.exchange,
            prefetch=consumer.batch_size,
            timeout=timeout,
        )
    if url.startswith(("nats://", "tls://")):
        return NatsSource(
            url,
            group=group,
            aggregate_types=aggregate_types,
            prefix=broker.stream_prefix,
            ack_wait=consumer.ack_wait,
            timeout=timeout,
        )
    raise ConfigurationError(
        f"--broker: cannot consume from {redact_url(url)!r}; "
        "use memory://, redis://, redis+cluster://, amqp:// or nats://"
    )
