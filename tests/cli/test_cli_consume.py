"""``qulab consume``: a consumer run from the command line, its status, and its errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from qulab.core.config import Settings, get_settings
from qulab.core.db import Database
from qulab.core.outbox import build_publisher, publish_pending
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


def _publish_scores(url: str, prefix: str, scores: list[int]) -> None:
    async def _go() -> None:
        settings = Settings().replace(
            database_url=url, broker_url=services.REDIS_URL, outbox_stream_prefix=prefix
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

    result = qulab("consume", "score-summary", "--once")
    assert result.code == 0, result.err
    assert result.err == "processed 5, duplicates skipped 0\n"

    shown = qulab("consume", "status", "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out) == [
        {
            "name": "score-summary",
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
    [row] = [line for line in table.out.splitlines() if "score-summary" in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        "score-summary",
        "5",
        "0",
        "2",
        "0",
    ]


def test_an_unknown_consumer_is_one_line_and_exit_2(qulab: Invoke) -> None:
    result = qulab("consume", "scores", "--once")
    assert result.code == 2
    assert result.err == "error: NAME: unknown consumer 'scores'; known: score-summary\n"


def test_consume_once_with_the_broker_down_is_exit_1_without_the_password(
    qulab: Invoke,
) -> None:
    assert qulab("db", "upgrade").code == 0
    port = services.free_port()
    result = qulab(
        "consume", "score-summary", "--once", "--broker", f"redis://:S3cretPW@127.0.0.1:{port}/0"
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
    result = qulab("consume", "score-summary", "--once", "--broker", "memory://")
    assert result.code == 1
    assert result.err.startswith("error: database unreachable: ")
    assert result.err.count("\n") == 1


def test_a_metrics_port_with_once_is_refused_in_one_line(qulab: Invoke) -> None:
    result = qulab("consume", "score-summary", "--once", "--metrics-port", "9")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "error: --metrics-port: serves a running consumer; drop --once"
    ]
