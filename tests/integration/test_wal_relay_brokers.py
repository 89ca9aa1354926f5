"""The log-tailing relay on each real broker (Redis Streams, RabbitMQ, NATS JetStream): events
in commit order, and a batch whose slot never advanced published again, never lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import insert

from qulab.core import open_publisher
from qulab.core.bootstrap import Runtime
from qulab.core.config import Settings
from qulab.core.ids import new_id
from qulab.core.models import DomainEvent
from qulab.core.outbox import OutboxMessage, Publisher, relay_for
from qulab.core.outbox.publisher import Failures
from qulab.lab.broker_log import BrokerNamespace, broker_namespace
from qulab.lab.private_postgres import PrivateCluster
from tests.outbox_helpers import emit_events
from tests.wal_helpers import wal_runtime

URLS = {"redis": "redis_url", "rabbitmq": "amqp_url", "nats": "nats_url"}


@pytest.fixture(params=sorted(URLS))
def broker(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def namespace(broker: str, request: pytest.FixtureRequest) -> AsyncIterator[BrokerNamespace]:
    url = str(request.getfixturevalue(URLS[broker]))
    space = broker_namespace(url, ["Test"], "wal")
    space.url = url  # type: ignore[attr-defined]
    await space.prepare("wal_audit")
    try:
        yield space
    finally:
        await space.remove()


@pytest.fixture
async def runtime(logical_postgres: PrivateCluster) -> AsyncIterator[Runtime]:
    async with wal_runtime(logical_postgres) as rt:
        yield rt


def broker_settings(runtime: Runtime, space: BrokerNamespace) -> Settings:
    extra = {k.removeprefix("QULAB_").lower(): v for k, v in space.settings.items()}
    return runtime.settings.replace(broker_url=space.url, **extra)  # type: ignore[attr-defined]


class PublishThenHang:
    """Hands messages to the broker, then never answers: a relay killed after the broker's
    confirmation and before the slot's advance."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner
        self.delivered = asyncio.Event()
        self.description = "hanging " + inner.description

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        await self.inner.publish(messages)
        self.delivered.set()
        await asyncio.Event().wait()
        return {}

    async def close(self) -> None:
        await self.inner.close()


async def test_each_broker_gets_commit_order_and_a_killed_batch_again(
    runtime: Runtime, namespace: BrokerNamespace, broker: str
) -> None:
    db = runtime.db
    settings = broker_settings(runtime, namespace)
    sender = open_publisher(settings)
    try:
        await relay_for(db, sender, listen=False).publish_pending()  # the slot
        late = {
            "id": new_id(),
            "event_type": "test.happened",
            "aggregate_type": "Test",
            "aggregate_id": new_id(),
            "payload": {},
        }
        async with db.engine.connect() as slow:
            await slow.begin()
            await slow.execute(insert(DomainEvent), [late])
            early = await emit_events(db, 2)
            await slow.commit()
        hanging = PublishThenHang(open_publisher(settings))
        doomed = relay_for(db, hanging, listen=False, publish_timeout=60)
        task = asyncio.create_task(doomed.publish_pending())
        await asyncio.wait_for(hanging.delivered.wait(), 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await hanging.close()
        result = await relay_for(db, sender, listen=False).publish_pending()
    finally:
        await sender.close()
    assert result.published == 3
    batch = [*early, str(late["id"])]
    # Published twice; JetStream drops the copies itself (Nats-Msg-Id is the event id).
    again = [] if broker == "nats" else batch
    assert await namespace.read() == batch + again
