"""``qulab outbox relay`` against RabbitMQ with no queue bound: nothing is marked published."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import aio_pika
import pytest

from qulab.core.config import get_settings
from qulab.entrypoints.cli._common import EXIT_DEAD_LETTERED
from tests import services
from tests.cli.conftest import Invoke
from tests.relay_process import read_line_containing, start_relay, stop


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


def test_relay_once_that_dead_letters_exits_3_and_says_where_the_events_are(
    qulab: Invoke, exchange: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert qulab("db", "upgrade").code == 0
    assert qulab("user", "create", "--email", "d@example.com", "--name", "D").code == 0
    monkeypatch.setenv("QULAB_RELAY_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()

    relayed = qulab("outbox", "relay", "--once", "--broker", services.AMQP_URL)
    assert relayed.code == EXIT_DEAD_LETTERED == 3
    assert relayed.err == (
        "published 0, retrying 0, failed 1 (dead-lettered: `qulab outbox status` lists them, "
        "`qulab outbox replay --failed` sends them again)\n"
    )
    status = json.loads(qulab("outbox", "status", "--json").out)
    assert status["counts"]["failed"] == 1 and status["counts"]["pending"] == 0

    again = qulab("outbox", "relay", "--once", "--json", "--broker", services.AMQP_URL)
    assert again.code == 0  # nothing left to dead-letter: the failure was reported once
    assert json.loads(again.out)["dead"] == 0


def test_relay_once_with_json_that_dead_letters_still_exits_3(
    qulab: Invoke, exchange: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert qulab("db", "upgrade").code == 0
    assert qulab("user", "create", "--email", "j@example.com", "--name", "J").code == 0
    monkeypatch.setenv("QULAB_RELAY_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()

    relayed = qulab("outbox", "relay", "--once", "--json", "--broker", services.AMQP_URL)
    assert relayed.code == 3
    assert json.loads(relayed.out)["dead"] == 1


def test_a_running_relay_that_dead_lettered_exits_3_when_it_stops(
    qulab: Invoke, exchange: str, database_url: str
) -> None:
    assert qulab("db", "upgrade").code == 0
    assert qulab("user", "create", "--email", "s@example.com", "--name", "S").code == 0

    def failed() -> int:
        counts = json.loads(qulab("outbox", "status", "--json").out)["counts"]
        return int(counts["failed"])

    async def _run() -> tuple[int, list[str]]:
        relay = await start_relay(
            database_url, broker=services.AMQP_URL, outbox_exchange=exchange, relay_max_attempts="1"
        )
        seen: list[str] = []
        await read_line_containing(relay, "dead-lettered", seen)  # its log line for the event
        return await stop(relay, seen), seen

    code, seen = asyncio.run(_run())
    assert code == EXIT_DEAD_LETTERED
    assert seen[-1].startswith("published 0, retrying 0, failed 1 (dead-lettered: ")
    assert failed() == 1
