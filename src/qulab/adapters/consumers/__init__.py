"""Consumers with an inbox: broker sources, the consumer loop and the score-summary projection."""

from qulab.adapters.consumers.broker_log import BrokerNamespace, broker_namespace
from qulab.adapters.consumers.delivery import Delivery
from qulab.adapters.consumers.factory import build_source
from qulab.adapters.consumers.inbox import applied_ids, apply_once, inbox_counts
from qulab.adapters.consumers.memory import MemorySource
from qulab.adapters.consumers.nats import NatsSource
from qulab.adapters.consumers.projection import (
    ScoreSummaryProjection,
    excess_effects,
    projection_differences,
)
from qulab.adapters.consumers.rabbitmq import RabbitMQSource
from qulab.adapters.consumers.redis_streams import RedisStreamsSource
from qulab.adapters.consumers.runner import Consumer, ConsumeResult, Handler
from qulab.adapters.consumers.source import Lag, Source
from qulab.adapters.consumers.status import ConsumerStatus, consumer_status

CONSUMERS: dict[str, type[ScoreSummaryProjection]] = {
    ScoreSummaryProjection.name: ScoreSummaryProjection
}
"""The consumers ``qulab consume NAME`` can run, by name."""

__all__ = [
    "CONSUMERS",
    "BrokerNamespace",
    "ConsumeResult",
    "Consumer",
    "ConsumerStatus",
    "Delivery",
    "Handler",
    "Lag",
    "MemorySource",
    "NatsSource",
    "RabbitMQSource",
    "RedisStreamsSource",
    "ScoreSummaryProjection",
    "Source",
    "applied_ids",
    "apply_once",
    "broker_namespace",
    "build_source",
    "consumer_status",
    "excess_effects",
    "inbox_counts",
    "projection_differences",
]
