"""Consumers with an inbox: a source per broker, the consumer loop, the inbox and its counts.

Each name is imported from its module on first use, so that a process reading one broker
never loads the other brokers' clients.
"""

from typing import TYPE_CHECKING

from qulab._lazy import lazy_attributes

if TYPE_CHECKING:
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

_HOMES = {
    "applied_ids": "qulab.core.consumers.inbox",
    "apply_once": "qulab.core.consumers.inbox",
    "build_source": "qulab.core.consumers.factory",
    "Consumer": "qulab.core.consumers.runner",
    "consumer_status": "qulab.core.consumers.status",
    "ConsumeResult": "qulab.core.consumers.runner",
    "ConsumerGroup": "qulab.core.consumers.status",
    "ConsumerStatus": "qulab.core.consumers.status",
    "Delivery": "qulab.core.consumers.delivery",
    "dialect_insert": "qulab.core.consumers.inbox",
    "Handler": "qulab.core.consumers.runner",
    "handles": "qulab.core.consumers.projection",
    "inbox_counts": "qulab.core.consumers.inbox",
    "Lag": "qulab.core.consumers.source",
    "MemorySource": "qulab.core.consumers.memory",
    "NatsSource": "qulab.core.consumers.nats",
    "Projection": "qulab.core.consumers.projection",
    "queue_name": "qulab.core.consumers.rabbitmq",
    "RabbitMQSource": "qulab.core.consumers.rabbitmq",
    "RedisStreamsSource": "qulab.core.consumers.redis_streams",
    "Source": "qulab.core.consumers.source",
}

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

__getattr__ = lazy_attributes(__name__, _HOMES, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
