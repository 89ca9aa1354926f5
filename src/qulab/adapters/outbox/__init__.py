"""The transactional outbox: relay, publishers, retry policy and operations."""

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
from qulab.adapters.outbox.nats import NatsPublisher
from qulab.adapters.outbox.ordered import ranges
from qulab.adapters.outbox.publisher import OutageSwitch, Publisher
from qulab.adapters.outbox.rabbitmq import RabbitMQPublisher
from qulab.adapters.outbox.redis_streams import RedisStreamsPublisher, stream_name
from qulab.adapters.outbox.relay import PassResult, Relay, event_publisher, publish_pending
from qulab.adapters.outbox.retry import RetryPolicy
from qulab.adapters.outbox.stdout import StdoutPublisher

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
