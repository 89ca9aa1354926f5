"""The transactional outbox: relay, publishers, retry policy and operations.

The RabbitMQ and NATS publishers load their client libraries (aio-pika, nats-py) only when
they are first named, so a process that never talks to those brokers never imports them.
"""

from typing import TYPE_CHECKING

from qulab._lazy import lazy_attributes
from qulab.adapters.outbox.admin import (
    OutboxStatus,
    outbox_status,
    parse_age,
    purge_published,
    replay,
)
from qulab.adapters.outbox.factory import build_publisher
from qulab.adapters.outbox.memory import MemoryBroker, memory_broker
from qulab.adapters.outbox.message import OutboxMessage
from qulab.adapters.outbox.ordered import ranges
from qulab.adapters.outbox.publisher import OutageSwitch, Publisher
from qulab.adapters.outbox.redis_streams import RedisStreamsPublisher, stream_name
from qulab.adapters.outbox.relay import PassResult, Relay, event_publisher, publish_pending
from qulab.adapters.outbox.retry import RetryPolicy
from qulab.adapters.outbox.stdout import StdoutPublisher

if TYPE_CHECKING:
    from qulab.adapters.outbox.nats import NatsPublisher
    from qulab.adapters.outbox.rabbitmq import RabbitMQPublisher

_LAZY = {
    "NatsPublisher": "qulab.adapters.outbox.nats",
    "RabbitMQPublisher": "qulab.adapters.outbox.rabbitmq",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())

__all__ = [
    "MemoryBroker",
    "NatsPublisher",
    "OutageSwitch",
    "OutboxMessage",
    "OutboxStatus",
    "PassResult",
    "Publisher",
    "RabbitMQPublisher",
    "RedisStreamsPublisher",
    "Relay",
    "RetryPolicy",
    "StdoutPublisher",
    "build_publisher",
    "event_publisher",
    "memory_broker",
    "outbox_status",
    "parse_age",
    "publish_pending",
    "purge_published",
    "ranges",
    "replay",
    "stream_name",
]
