"""Consumers with an inbox: a source per broker, the consumer loop, the inbox and its counts."""

from qulab.core.consumers.delivery import Delivery
from qulab.core.consumers.factory import build_source
from qulab.core.consumers.inbox import applied_ids, apply_once, dialect_insert, inbox_counts
from qulab.core.consumers.memory import MemorySource
from qulab.core.consumers.nats import NatsSource
from qulab.core.consumers.projection import Projection, handles
from qulab.core.consumers.rabbitmq import RabbitMQSource, queue_name
from qulab.core.consumers.redis_streams import RedisStreamsSource
from qulab.core.consumers.runner import Consumer, ConsumeResult, Handler
from qulab.core.consumers.source import Lag, Source
from qulab.core.consumers.status import ConsumerGroup, ConsumerStatus, consumer_status

__all__ = [
    "ConsumeResult",
    "Consumer",
    "ConsumerGroup",
    "ConsumerStatus",
    "Delivery",
    "Handler",
    "Lag",
    "MemorySource",
    "NatsSource",
    "Projection",
    "RabbitMQSource",
    "RedisStreamsSource",
    "Source",
    "applied_ids",
    "apply_once",
    "build_source",
    "consumer_status",
    "dialect_insert",
    "handles",
    "inbox_counts",
    "queue_name",
]
