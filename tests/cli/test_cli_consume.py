"""``qulab consume run`` and ``qulab consume status``: a consumer run from the command line,
its status per group, its exit codes and its errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import aio_pika
import pytest
from redis.asyncio import Redis

from qulab.core.config import Settings, get_settings
from qulab.core.db import Database
from qulab.core.outbox import build_publisher, publish_pending, stream_name
from tests import services
from tests.cli.conftest import Invoke
from tests.consumer_support import scored_users

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
def redis_prefix(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Iterator[str]:
    prefix = services.unique_name("qt") + ":"
    monkeypatch.setenv("QULAB_OUTBOX_STREAM_PREFIX", prefix)
    monkeypatch.setenv("QULAB_BROKER_URL", redis_url)
    get_settings.cache_clear()
    yield prefix
    asyncio.run(services.delete_redis_prefix(prefix))


def _publish_scores(
    url: str, prefix: str, scores: list[int], *, broker: str = services.REDIS_URL, **more: str
) -> None:
    async def _go() -> None:
        settings = Settings().replace(
            database_url=url, broker_url=broker, outbox_stream_prefix=prefix, **more
        )
        db = Database(settings)
        publisher = build_publisher(None, settings)
        try:
            await scored_users(db, scores)
            await publish_pending(db, publisher)
        finally:
            await publisher.close()
            await db.dispose()

    asyncio.run(_go())


def test_consume_once_then_status_shows_processed_duplicates_and_lag(
    qulab: Invoke, database_url: str, redis_prefix: str
) -> None:
    assert qulab("db", "upgrade").code == 0
    _publish_scores(database_url, redis_prefix, [2, 1])

    result = qulab("consume", "run", "score-summary", "--once")
    assert result.code == 0, result.err
    assert result.out == "processed 5, duplicates skipped 0\n"

    shown = qulab("consume", "status", "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out) == [
        {
            "name": "score-summary",
            "group": "score-summary",
            "processed": 5,
            "duplicates": 0,
            "lag": 0,
            "undelivered": 0,
            "unacked": 0,
            "lag_error": None,
        }
    ]
    _publish_scores(database_url, redis_prefix, [1])
    table = qulab("consume", "status")
    assert table.code == 0
    assert table.out.splitlines()[1:] == [
        "name           group          processed  duplicates  lag  unacked",
        "score-summary  score-summary  5          0           2    0",
    ]


def test_an_unknown_consumer_is_one_line_and_exit_2(qulab: Invoke) -> None:
    result = qulab("consume", "run", "scores", "--once")
    assert result.code == 2
    assert result.err == "error: NAME: unknown consumer 'scores'; known: score-summary\n"


def test_consume_once_with_the_broker_down_is_exit_1_without_the_password(
    qulab: Invoke,
) -> None:
    assert qulab("db", "upgrade").code == 0
    port = services.free_port()
    result = qulab(
        "consume",
        "run",
        "score-summary",
        "--once",
        "--broker",
        f"redis://:S3cretPW@127.0.0.1:{port}/0",
    )
    assert result.code == 1
    assert result.err.startswith(
        f"error: broker unavailable: Redis at redis://:***@127.0.0.1:{port}"
    )
    assert result.err.count("\n") == 1
    assert "S3cretPW" not in result.err


def test_consume_once_with_the_database_down_is_exit_1_in_one_line(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = services.free_port()
    monkeypatch.setenv("QULAB_DATABASE_URL", f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x")
    get_settings.cache_clear()
    result = qulab("consume", "run", "score-summary", "--once", "--broker", "memory://")
    assert result.code == 1
    assert result.err.startswith("error: database unreachable: ")
    assert result.err.count("\n") == 1


def test_a_metrics_port_with_once_is_refused_in_one_line(qulab: Invoke) -> None:
    result = qulab("consume", "run", "score-summary", "--once", "--metrics-port", "9")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "error: --metrics-port: serves a running consumer; drop --once"
    ]


def test_the_old_shape_consume_name_is_gone_in_one_line(qulab: Invoke) -> None:
    assert qulab("db", "upgrade").code == 0
    result = qulab("consume", "score-summary", "--once", "--broker", "memory://")
    assert (result.code, result.out) == (2, "")
    assert result.err == "error: no such command 'score-summary' (see `qulab consume --help`)\n"


def test_consume_once_that_dropped_poison_messages_exits_3(
    qulab: Invoke, database_url: str, redis_prefix: str
) -> None:
    assert qulab("db", "upgrade").code == 0
    _publish_scores(database_url, redis_prefix, [1])

    async def _poison() -> None:
        client = Redis.from_url(services.REDIS_URL)
        try:
            await client.xadd(stream_name("AIRScore", redis_prefix), {"what": "no event id"})
        finally:
            await client.aclose()

    asyncio.run(_poison())
    result = qulab("consume", "run", "score-summary", "--once")
    assert result.code == 3
    assert result.out == "processed 2, duplicates skipped 0, dropped 1\n"
    assert result.err == (
        "error: 1 message(s) could not be applied and were dropped (each logged with its id)\n"
    )
    again = qulab("consume", "run", "score-summary", "--once", "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["malformed"] == 0


@pytest.fixture
def rabbit_exchange(monkeypatch: pytest.MonkeyPatch, amqp_url: str) -> Iterator[str]:
    exchange = services.unique_name("qt") + ".outbox"
    monkeypatch.setenv("QULAB_OUTBOX_EXCHANGE", exchange)
    monkeypatch.setenv("QULAB_BROKER_URL", amqp_url)
    get_settings.cache_clear()
    yield exchange

    async def _clean() -> None:
        connection = await aio_pika.connect(amqp_url, timeout=5)
        async with connection:
            channel = await connection.channel()
            for group in ("first", "second"):
                await channel.queue_delete(f"{exchange}.{group}")
            await channel.exchange_delete(exchange)

    asyncio.run(_clean())


def test_status_for_a_group_reports_its_own_queue_lag_and_inbox(
    qulab: Invoke, database_url: str, rabbit_exchange: str, amqp_url: str
) -> None:
    assert qulab("db", "upgrade").code == 0
    for group in ("first", "second"):  # each group's queue exists before anything is published
        assert qulab("consume", "run", "score-summary", "--group", group, "--once").code == 0
    _publish_scores(database_url, "", [2, 1], broker=amqp_url, outbox_exchange=rabbit_exchange)
    first = qulab("consume", "run", "score-summary", "--group", "first", "--once")
    assert first.code == 0, first.err
    assert first.out == "processed 5, duplicates skipped 0\n"

    def shown(group: str) -> list[dict[str, object]]:
        result = qulab("consume", "status", "--group", group, "--json")
        assert result.code == 0, result.err
        return list(json.loads(result.out))

    assert shown("first") == [
        {
            "name": "score-summary",
            "group": "first",
            "processed": 5,
            "duplicates": 0,
            "lag": 0,
            "undelivered": 0,
            "unacked": None,
            "lag_error": None,
        }
    ]
    assert shown("second") == [
        {
            "name": "score-summary",
            "group": "second",
            "processed": 0,
            "duplicates": 0,
            "lag": 5,
            "undelivered": 5,
            "unacked": None,
            "lag_error": None,
        }
    ]
