"""``qulab outbox relay`` against RabbitMQ with no queue bound: nothing is marked published."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import aio_pika
import pytest

from tests import services
from tests.cli.conftest import Invoke


async def _delete_exchange(name: str) -> None:
    connection = await aio_pika.connect(services.AMQP_URL, timeout=5)
    try:
        channel = await connection.channel()
        await channel.exchange_delete(name)
    finally:
        await connection.close()


@pytest.fixture
def exchange(monkeypatch: pytest.MonkeyPatch, amqp_url: str) -> Iterator[str]:
    name = services.unique_name("qulab_test_exchange")
    monkeypatch.setenv("QULAB_OUTBOX_EXCHANGE", name)
    yield name
    asyncio.run(_delete_exchange(name))


def test_relay_once_with_no_queue_bound_leaves_the_event_pending_with_the_reason(
    qulab: Invoke, exchange: str
) -> None:
    assert qulab("db", "upgrade").code == 0
    assert qulab("user", "create", "--email", "r@example.com", "--name", "R").code == 0

    relayed = qulab("outbox", "relay", "--once", "--broker", services.AMQP_URL)
    assert relayed.code == 0
    assert relayed.err == "published 0, retrying 1, failed 0\n"

    status = json.loads(qulab("outbox", "status", "--json").out)
    assert status["counts"]["pending"] == 1 and status["counts"]["published"] == 0
    [failure] = status["recent_failures"]
    assert failure["event_type"] == "user.created" and failure["attempts"] == 1
    assert failure["last_error"] == (
        f"unroutable (NO_ROUTE): no queue is bound to exchange {exchange} "
        "for routing key user.created"
    )
