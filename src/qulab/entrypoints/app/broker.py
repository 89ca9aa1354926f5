"""The lab's broker: the configured publisher behind an outage switch, built on the app loop.

One per runtime (``st.cache_resource``; the publisher is the one ``bootstrap`` built): the
relay, the "publish one pass" button and the consumer view all use the same publisher, and the
outage switch flipped in one browser session is the broker every session sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from qulab.core import Runtime, Settings
from qulab.core.outbox import (
    MemoryBroker,
    OutageSwitch,
    Publisher,
    RabbitMQPublisher,
    RedisStreamsPublisher,
    StdoutPublisher,
)
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.loop import LoopThread

RELEASE_TIMEOUT = 10.0

# The publisher is built from the broker group alone.
BROKER_GROUPS = {"broker"}


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


@st.cache_resource(show_spinner=False, max_entries=4)
def _broker(key: str, lab_id: int, _lab: Runtime, _loop: LoopThread) -> LabBroker:
    async def build() -> OutageSwitch:
        # On the loop: the runtime builds its publisher on first use, and a Redis client
        # belongs to the loop it first runs on.
        return OutageSwitch(_lab.publisher)

    return LabBroker(_loop.run(build(), RELEASE_TIMEOUT), _loop)


def broker_key(settings: Settings) -> str:
    return settings.model_dump_json(include=BROKER_GROUPS)


def lab_broker(settings: Settings) -> LabBroker:
    """The process-wide broker for ``settings``: the runtime's publisher behind the outage
    switch (raises ConfigurationError when misconfigured). The runtime closes the publisher."""
    app_runtime = runtime.current(settings)
    return _broker(broker_key(settings), id(app_runtime), app_runtime, runtime.event_loop())
