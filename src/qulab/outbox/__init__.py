"""The transactional outbox: relay, publishers, retry policy and operations."""

from qulab.outbox.admin import (
    OutboxStatus,
    outbox_status,
    parse_age,
    purge_published,
    replay,
)
from qulab.outbox.factory import build_publisher
from qulab.outbox.memory import MemoryBroker, memory_broker
from qulab.outbox.message import OutboxMessage
from qulab.outbox.publisher import OutageSwitch, Publisher
from qulab.outbox.rabbitmq import RabbitMQPublisher
from qulab.outbox.redis_streams import RedisStreamsPublisher, stream_name
from qulab.outbox.relay import PassResult, Relay, event_publisher, publish_pending
from qulab.outbox.retry import RetryPolicy
from qulab.outbox.stdout import StdoutPublisher

__all__ = [
    "MemoryBroker",
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
    "replay",
    "stream_name",
]
