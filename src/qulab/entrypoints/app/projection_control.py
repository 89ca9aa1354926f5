"""The lab's own score-summary consumer, running as a task on the app loop.

With the embedded broker it reads the process's memory broker (a ``MemorySource``); with a
real broker it is a member of the consumer group ``qulab-lab`` (a group of the lab's own, so
a ``qulab consume run`` in a terminal still gets every event too: the inbox then counts one of
the two deliveries as a duplicate). One per server process (``st.cache_resource``), started on
first use and stopped when the runtime is torn down. It remembers the last deliveries it
received, oldest first, for the page.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from qulab.core import Database, Settings, utcnow
from qulab.core.consumers import (
    Consumer,
    ConsumeResult,
    Delivery,
    Lag,
    MemorySource,
    RabbitMQSource,
    Source,
    build_source,
)
from qulab.core.outbox import MemoryBroker, RabbitMQPublisher
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.background import BackgroundTask, Work, release
from qulab.entrypoints.app.broker import LabBroker, broker_key, lab_broker
from qulab.entrypoints.app.loop import LoopThread
from qulab.platform import ScoreSummaryProjection

LAB_GROUP = "qulab-lab"
KEPT_DELIVERIES = 20
RELEASE_TIMEOUT = 10.0
FETCH_WAIT = 0.5


@dataclass(frozen=True)
class Received:
    """One delivery as the lab's consumer received it."""

    received_at: datetime
    delivery: Delivery


class RecordingSource:
    """A source that keeps the last deliveries it handed out (the consumer's view)."""

    def __init__(self, inner: Source, keep: int = KEPT_DELIVERIES) -> None:
        self.inner = inner
        self.received: deque[Received] = deque(maxlen=keep)

    @property
    def description(self) -> str:
        return self.inner.description

    @property
    def dropped(self) -> int:
        return self.inner.dropped

    async def start(self) -> None:
        await self.inner.start()

    async def fetch(self, limit: int, wait: float) -> list[Delivery]:
        inner = self.inner
        if isinstance(inner, MemorySource) and inner.broker.total < inner.position:
            inner.position = 0  # the memory broker was cleared (a lab reset): read it afresh
        deliveries = await inner.fetch(limit, wait)
        now = utcnow()
        self.received.extend(Received(now, delivery) for delivery in deliveries)
        return deliveries

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        await self.inner.ack(deliveries)

    async def lag(self) -> Lag:
        return await self.inner.lag()

    async def close(self) -> None:
        await self.inner.close()


def lab_source(settings: Settings, broker: LabBroker) -> Source:
    """The embedded broker's messages, or the configured broker as the group ``qulab-lab``."""
    types = ScoreSummaryProjection.aggregate_types
    inner = broker.inner
    if isinstance(inner, MemoryBroker):
        return MemorySource(inner, aggregate_types=types)
    return build_source(settings.broker.url, settings, group=LAB_GROUP, aggregate_types=types)


async def bind_lab_queue(settings: Settings, broker: LabBroker) -> str | None:
    """On RabbitMQ: declare the queue the lab's consumer reads and bind it to the outbox
    exchange for every event type, so the relay's publishes (``mandatory``) have a queue to
    reach before the consumer first runs. Returns the queue's name; None on other brokers."""
    if not isinstance(broker.inner, RabbitMQPublisher):
        return None
    source = lab_source(settings, broker)
    if not isinstance(source, RabbitMQSource):
        return None
    await source.bind()
    return source.queue_name


async def lab_queue_depth(settings: Settings, broker: LabBroker) -> int | None:
    """On RabbitMQ: messages waiting in the lab's queue (None elsewhere or when not declared)."""
    if not isinstance(broker.inner, RabbitMQPublisher):
        return None
    source = lab_source(settings, broker)
    try:
        return (await source.lag()).undelivered
    finally:
        await source.close()


class ProjectionController:
    """Runs one score-summary Consumer on the app loop; thread-safe."""

    def __init__(self, db: Database, source: Source, loop: LoopThread) -> None:
        self.db = db
        self.source = RecordingSource(source)
        self.consumer = Consumer(db, self.source, ScoreSummaryProjection(), wait=FETCH_WAIT)
        self.task: BackgroundTask[ConsumeResult] = BackgroundTask(
            loop,
            name="qulab-lab-consumer",
            label="the lab's score-summary consumer",
            timeout=RELEASE_TIMEOUT,
        )

    @property
    def running(self) -> bool:
        return self.task.running

    @property
    def crash(self) -> str | None:
        return self.task.crash

    @property
    def totals(self) -> ConsumeResult:
        return self.consumer.totals

    def received(self) -> list[Received]:
        """The last deliveries, oldest first."""
        return list(self.source.received)

    def ensure_started(self) -> None:
        """Start the consumer unless it was started before (a crash stays on the page)."""
        work = Work(self.consumer.run, self.consumer.stop, self.source.close)
        self.task.start(lambda: work, restart=False)


@st.cache_resource(show_spinner=False, max_entries=4, on_release=release)
def _controller(
    key: str,
    loop_id: int,
    _loop: LoopThread,
    _db: Database,
    _settings: Settings,
    _broker: LabBroker,
) -> ProjectionController:
    return ProjectionController(_db, lab_source(_settings, _broker), _loop)


def projection_controller(settings: Settings, db: Database) -> ProjectionController:
    """The process-wide lab consumer for these settings, started (raises ConfigurationError
    when the broker is misconfigured)."""
    loop = runtime.event_loop()
    broker = lab_broker(settings)
    key = f"{id(db)}|{broker_key(settings)}|{id(broker)}"
    controller = _controller(key, id(loop), loop, db, settings, broker)
    controller.ensure_started()
    return controller
