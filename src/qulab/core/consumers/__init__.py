"""Consumers with an inbox: broker sources, the consumer loop and the score-summary projection."""

from qulab.core.consumers.delivery import Delivery
from qulab.core.consumers.factory import build_source
from qulab.core.consumers.inbox import applied_ids, apply_once, inbox_counts
from qulab.core.consumers.memory import MemorySource
from qulab.core.consumers.nats import NatsSource
from qulab.core.consumers.rabbitmq import RabbitMQSource
from qulab.core.consumers.redis_streams import RedisStreamsSource
from qulab.core.consumers.runner import Consumer, ConsumeResult, Handler
from qulab.core.consumers.source import Lag, Source
from qulab.core.consumers.status import ConsumerStatus, consumer_status
from qulab.lab.broker_log import BrokerNamespace, broker_namespace
from qulab.platform.projection import (
    ScoreSummaryProjection,
    excess_effects,
    projection_differences,
)

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
