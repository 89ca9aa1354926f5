"""The transactional outbox: relay, publishers, retry policy and operations.

The RabbitMQ and NATS publishers load their client libraries (aio-pika, nats-py) only when
they are first named, so a process that never talks to those brokers never imports them.
"""

from typing import TYPE_CHECKING

from qulab._lazy import lazy_attributes
from qulab.core.outbox.admin import (
    OutboxStatus,
    count_purgeable,
    outbox_status,
    parse_age,
    purge_published,
    replay,
)
from qulab.core.outbox.factory import build_publisher
from qulab.core.outbox.memory import MemoryBroker, memory_broker
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.ordered import ranges
from qulab.core.outbox.publisher import OutageSwitch, Publisher
from qulab.core.outbox.redis_streams import RedisStreamsPublisher, stream_name
from qulab.core.outbox.relay import PassResult, Relay, event_publisher, publish_pending
from qulab.core.outbox.retry import RetryPolicy
from qulab.core.outbox.stdout import StdoutPublisher

if TYPE_CHECKING:
    from qulab.core.outbox.nats import MSG_ID, NatsPublisher, jetstream_name
    from qulab.core.outbox.rabbitmq import RabbitMQPublisher

_LAZY = {
    "MSG_ID": "qulab.core.outbox.nats",
    "jetstream_name": "qulab.core.outbox.nats",
    "NatsPublisher": "qulab.core.outbox.nats",
    "RabbitMQPublisher": "qulab.core.outbox.rabbitmq",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())

__all__ = [
    "MSG_ID",
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
    "count_purgeable",
    "event_publisher",
    "jetstream_name",
    "memory_broker",
    "outbox_status",
    "parse_age",
    "publish_pending",
    "purge_published",
    "ranges",
    "replay",
    "stream_name",
]
