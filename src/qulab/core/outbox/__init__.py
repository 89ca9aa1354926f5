"""The transactional outbox: relay, publishers, retry policy and operations.

The RabbitMQ and NATS publishers load their client libraries (aio-pika, nats-py) only when
they are first named, so a process that never talks to those brokers never imports them.

Every name is imported from its module on first use (the package imports nothing itself),
so that writing to the outbox loads neither the relay nor any broker's client.
"""

from typing import TYPE_CHECKING

from qulab._lazy import lazy_attributes

if TYPE_CHECKING:
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
    from qulab.core.outbox.modes import relay_for
    from qulab.core.outbox.nats import MSG_ID, NatsPublisher, jetstream_name
    from qulab.core.outbox.ordered import ranges
    from qulab.core.outbox.publisher import OutageSwitch, Publisher
    from qulab.core.outbox.rabbitmq import RabbitMQPublisher
    from qulab.core.outbox.redis_streams import RedisStreamsPublisher, stream_name
    from qulab.core.outbox.relay import PassResult, Relay, event_publisher, publish_pending
    from qulab.core.outbox.retry import RetryPolicy
    from qulab.core.outbox.stdout import StdoutPublisher
    from qulab.core.outbox.wal_relay import WalRelay
    from qulab.core.outbox.wal_repository import SlotInfo, slot_info

_HOMES = {
    "build_publisher": "qulab.core.outbox.factory",
    "count_purgeable": "qulab.core.outbox.admin",
    "event_publisher": "qulab.core.outbox.relay",
    "jetstream_name": "qulab.core.outbox.nats",
    "memory_broker": "qulab.core.outbox.memory",
    "MemoryBroker": "qulab.core.outbox.memory",
    "MSG_ID": "qulab.core.outbox.nats",
    "NatsPublisher": "qulab.core.outbox.nats",
    "OutageSwitch": "qulab.core.outbox.publisher",
    "outbox_status": "qulab.core.outbox.admin",
    "OutboxMessage": "qulab.core.outbox.message",
    "OutboxStatus": "qulab.core.outbox.admin",
    "parse_age": "qulab.core.outbox.admin",
    "PassResult": "qulab.core.outbox.relay",
    "publish_pending": "qulab.core.outbox.relay",
    "Publisher": "qulab.core.outbox.publisher",
    "purge_published": "qulab.core.outbox.admin",
    "RabbitMQPublisher": "qulab.core.outbox.rabbitmq",
    "ranges": "qulab.core.outbox.ordered",
    "RedisStreamsPublisher": "qulab.core.outbox.redis_streams",
    "Relay": "qulab.core.outbox.relay",
    "relay_for": "qulab.core.outbox.modes",
    "replay": "qulab.core.outbox.admin",
    "RetryPolicy": "qulab.core.outbox.retry",
    "SlotInfo": "qulab.core.outbox.wal_repository",
    "slot_info": "qulab.core.outbox.wal_repository",
    "StdoutPublisher": "qulab.core.outbox.stdout",
    "stream_name": "qulab.core.outbox.redis_streams",
    "WalRelay": "qulab.core.outbox.wal_relay",
}

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
    "SlotInfo",
    "StdoutPublisher",
    "WalRelay",
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
    "relay_for",
    "replay",
    "slot_info",
    "stream_name",
]

__getattr__ = lazy_attributes(__name__, _HOMES, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
