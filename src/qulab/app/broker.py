"""The lab's broker: the configured publisher behind an outage switch, built on the app loop.

One per server process (``st.cache_resource``), keyed on the broker settings: the relay, the
"publish one pass" button and the consumer view all use the same publisher, and the outage
switch flipped in one browser session is the broker every session sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import streamlit as st

from qulab.app import runtime
from qulab.app.loop import LoopThread
from qulab.config import Settings
from qulab.outbox import (
    MemoryBroker,
    OutageSwitch,
    Publisher,
    RabbitMQPublisher,
    RedisStreamsPublisher,
    StdoutPublisher,
    build_publisher,
)

log = logging.getLogger(__name__)

RELEASE_TIMEOUT = 10.0

BROKER_FIELDS = {
    "broker_url",
    "outbox_stream_prefix",
    "outbox_stream_maxlen",
    "outbox_exchange",
    "memory_broker_size",
    "relay_publish_timeout",
}


@dataclass(frozen=True)
class LabBroker:
    """The publisher the relay uses (``switch``) and what it wraps (``inner``)."""

    switch: OutageSwitch
    loop: LoopThread

    @property
    def inner(self) -> Publisher:
        return self.switch.inner

    @property
    def kind(self) -> str:
        inner = self.inner
        if isinstance(inner, MemoryBroker):
            return "in-memory broker"
        if isinstance(inner, RedisStreamsPublisher):
            return "Redis Streams"
        if isinstance(inner, RabbitMQPublisher):
            return "RabbitMQ"
        if isinstance(inner, StdoutPublisher):
            return "stdout"
        return type(inner).__name__

    @property
    def address(self) -> str:
        """Where messages go, without credentials (the publishers never show passwords)."""
        return self.inner.description

    @property
    def outage(self) -> bool:
        return self.switch.down

    def set_outage(self, down: bool) -> None:
        self.switch.set_down(down)

    async def close(self) -> None:
        await self.switch.close()


def _release(broker: LabBroker) -> None:
    broker.loop.remove_closer(broker.close)
    if broker.loop.running:
        try:
            broker.loop.run(broker.close(), RELEASE_TIMEOUT)
        except Exception:
            log.warning("closing the lab's broker failed", exc_info=True)


@st.cache_resource(show_spinner=False, max_entries=4, on_release=_release)
def _broker(key: str, loop_id: int, _loop: LoopThread, _settings: Settings) -> LabBroker:
    async def build() -> OutageSwitch:
        # Built on the loop: a Redis client belongs to the loop it first runs on.
        return OutageSwitch(build_publisher(settings=_settings))

    broker = LabBroker(_loop.run(build(), RELEASE_TIMEOUT), _loop)
    _loop.add_closer(broker.close)
    return broker


def broker_key(settings: Settings) -> str:
    return settings.model_dump_json(include=BROKER_FIELDS)


def lab_broker(settings: Settings) -> LabBroker:
    """The process-wide broker for ``settings`` (raises ConfigurationError when misconfigured)."""
    loop = runtime.event_loop()
    return _broker(broker_key(settings), id(loop), loop, settings)
