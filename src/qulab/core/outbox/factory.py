"""``build_publisher(url)``: the broker named by ``QULAB_BROKER_URL`` (or the argument)."""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

from qulab.core import tracing
from qulab.core.config import Settings, get_settings
from qulab.core.errors import ConfigurationError
from qulab.core.outbox.memory import memory_broker
from qulab.core.outbox.publisher import Publisher
from qulab.core.outbox.redis_streams import RedisStreamsPublisher
from qulab.core.outbox.stdout import StdoutPublisher
from qulab.core.redis_cluster import REDIS_SCHEMES
from qulab.core.urls import address_problem, redact_url


def build_publisher(url: str | None = None, settings: Settings | None = None) -> Publisher:
    """``None`` or ``memory://[name]`` is the embedded broker (shared per process);
    ``stdout://``, ``redis://…``, ``amqp://…`` and ``nats://…`` are the others. Stream prefix,
    MAXLEN and the exchange come from the settings (``QULAB_OUTBOX_*``), the wire format from
    ``QULAB_EVENT_FORMAT``."""
    settings = settings or get_settings()
    tracing.configure(settings.tracing)
    return _publisher(url, settings)


class WireFormat(NamedTuple):
    format: str
    source: str


def _publisher(url: str | None, settings: Settings) -> Publisher:
    config = settings.broker
    wire = WireFormat(config.event_format, config.event_source)
    url = url if url is not None else config.url
    if url is None or url.startswith("memory://"):
        parts = urlsplit(url or "memory://")
        size = parse_qs(parts.query).get("maxlen", [str(config.memory_size)])[0]
        if not size.isdigit() or int(size) < 1:
            raise ConfigurationError(f"QULAB_BROKER_URL: maxlen must be a positive integer: {url}")
        return memory_broker(parts.netloc or "default", int(size))
    problem = address_problem(url)
    if problem is not None:
        raise ConfigurationError(f"QULAB_BROKER_URL: {problem} (got {redact_url(url)!r})")
    if url.startswith("stdout://"):
        return StdoutPublisher(event_format=wire.format, event_source=wire.source)
    if url.startswith(REDIS_SCHEMES):
        return RedisStreamsPublisher(
            url,
            prefix=config.stream_prefix,
            maxlen=config.stream_maxlen,
            timeout=config.publish_timeout,
            event_format=wire.format,
            event_source=wire.source,
        )
    if url.startswith(("amqp://", "amqps://")):
        from qulab.core.outbox.rabbitmq import RabbitMQPublisher  # aio-pika when needed

        return RabbitMQPublisher(
            url,
            exchange=config.exchange,
            timeout=config.publish_timeout,
            event_format=wire.format,
            event_source=wire.source,
        )
    if url.startswith(("nats://", "tls://")):
        from qulab.core.outbox.nats import NatsPublisher  # nats-py when needed

        return NatsPublisher(
            url,
            prefix=config.stream_prefix,
            timeout=config.publish_timeout,
            event_format=wire.format,
            event_source=wire.source,
        )
    raise ConfigurationError(
        f"QULAB_BROKER_URL: unknown broker {redact_url(url)!r}; "
        "use memory://, stdout://, redis://, redis+cluster://, amqp:// or nats://"
    )
