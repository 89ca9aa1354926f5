"""``qulab outbox relay --metrics-port``: a real relay process on PostgreSQL publishing to Redis
Streams, scraped over HTTP while it works; and the one-line refusal of a port already taken."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.outbox import stream_name
from qulab.platform import migrate
from tests import services
from tests.metrics_support import Exposition, scrape_async
from tests.outbox_helpers import emit_events
from tests.relay_process import start_relay, stop
from tests.waiting import eventually

EVENT = "test.happened"


@pytest.fixture
async def pg_db(fresh_pg_url: str) -> AsyncIterator[Database]:
    database = Database(Settings().replace(database_url=fresh_pg_url))
    await migrate.upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def stream_prefix(redis_url: str) -> AsyncIterator[str]:
    """A stream prefix of this test; every key under it is deleted afterwards."""
    prefix = services.unique_name("qulab_test") + ":"
    yield prefix
    await services.delete_redis_prefix(prefix)


async def _stream_length(prefix: str, aggregate_type: str) -> int:
    client = Redis.from_url(services.REDIS_URL)
    try:
        return int(await client.xlen(stream_name(aggregate_type, prefix)))
    finally:
        await client.aclose()


async def _until(endpoint: str, done: Callable[[Exposition], bool], what: str) -> Exposition:
    """Scrape until ``done(exposition)`` holds; return that scrape."""

    async def scraped() -> Exposition | None:
        seen = await scrape_async(endpoint)
        return seen if done(seen) else None

    return await eventually(scraped, f"{endpoint} to show {what}", timeout=30, interval=0.2)


async def test_relay_metrics_follow_the_events_it_publishes_and_dead_letters(
    pg_db: Database, stream_prefix: str
) -> None:
    poison = Redis.from_url(services.REDIS_URL)
    await poison.set(stream_name("Poison", stream_prefix), "not a stream")  # XADD -> WRONGTYPE
    await poison.aclose()
    port = services.free_port()
    endpoint = f"http://127.0.0.1:{port}/metrics"
    relay = await start_relay(
        pg_db.settings.database.url,
        "--metrics-port",
        str(port),
        broker=services.REDIS_URL,
        outbox_stream_prefix=stream_prefix,
        relay_max_attempts="1",
    )
    seen: list[str] = []
    try:
        first = await _until(
            endpoint, lambda s: s.value("qulab_outbox_pending_events") == 0, "nothing pending"
        )
        assert first.value("qulab_outbox_published_total", event_type=EVENT) is None
        assert first.value("qulab_outbox_lag_seconds", partition="all") == 0

        await emit_events(pg_db, 120, aggregate_type="Metric")
        await emit_events(pg_db, 3, aggregate_type="Poison")

        done = await _until(
            endpoint,
            lambda s: (
                s.value("qulab_outbox_published_total", event_type=EVENT) == 120
                and s.value("qulab_outbox_failed_events") == 3
                and s.value("qulab_outbox_pending_events") == 0
            ),
            "120 published, 3 dead-lettered and nothing pending",
        )
        assert done.value("qulab_outbox_dead_lettered_total", event_type=EVENT) == 3
        assert done.value("qulab_outbox_publish_failures_total", event_type=EVENT) == 3
        assert (done.value("qulab_outbox_publish_batch_seconds_count") or 0) > 0
        assert done.value("qulab_outbox_lag_seconds", partition="all") == 0
        assert (done.value("qulab_outbox_backlog_refreshed_timestamp_seconds") or 0) > 0
        assert done.value("qulab_db_pool_checked_out") is not None
        assert done.value("qulab_cache_breaker_state", state="closed") == 1
        assert await _stream_length(stream_prefix, "Metric") == 120
    finally:
        code = await stop(relay, seen)
    # A relay that dead-lettered events says so when it stops (docs/operations.md, exit codes).
    assert code == 3, "".join(seen)


async def test_events_behind_a_down_broker_show_as_pending_lag_and_publish_failures(
    pg_db: Database,
) -> None:
    port = services.free_port()
    endpoint = f"http://127.0.0.1:{port}/metrics"
    down = f"redis://127.0.0.1:{services.free_port()}/0"  # nothing listens there
    await emit_events(pg_db, 5, aggregate_type="Metric")
    relay = await start_relay(pg_db.settings.database.url, "--metrics-port", str(port), broker=down)
    seen: list[str] = []
    try:
        waiting = await _until(
            endpoint,
            lambda s: (
                s.value("qulab_outbox_pending_events") == 5
                and (s.value("qulab_outbox_publish_failures_total", event_type=EVENT) or 0) >= 5
            ),
            "5 pending after 5 failed attempts",
        )
        lag = waiting.value("qulab_outbox_lag_seconds", partition="all")
        assert lag is not None and lag > 0
        # The ordered relay on PostgreSQL also reports every partition; the oldest is "all".
        by_partition = {
            dict(labels)["partition"]: seconds
            for labels, seconds in waiting.series("qulab_outbox_lag_seconds").items()
        }
        assert set(by_partition) == {"all", *(str(p) for p in range(16))}
        assert max(v for p, v in by_partition.items() if p != "all") == lag
        assert waiting.value("qulab_outbox_published_total", event_type=EVENT) is None
        assert waiting.value("qulab_outbox_dead_lettered_total", event_type=EVENT) is None
        later = await _until(
            endpoint,
            lambda s: (s.value("qulab_outbox_lag_seconds", partition="all") or 0) > lag,
            "the lag growing",
        )
        assert later.value("qulab_outbox_pending_events") == 5
    finally:
        code = await stop(relay, seen)
    assert code == 0, "".join(seen)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def _relay(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    env["QULAB_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
    return subprocess.run(
        [sys.executable, "-m", "qulab", "outbox", "relay", "--yes", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_metrics_port_in_use_is_one_line_and_exit_2(tmp_path: Path, taken_port: int) -> None:
    result = _relay(tmp_path, "--metrics-port", str(taken_port))

    assert result.returncode == 2
    assert result.stderr == (
        f"error: --metrics-port: 127.0.0.1:{taken_port} is already in use; choose a free port\n"
    )
    assert not (tmp_path / "relay.db").exists()  # stopped before touching the database


def test_metrics_need_a_running_relay_not_one_pass(tmp_path: Path) -> None:
    result = _relay(tmp_path, "--once", "--metrics-port", str(services.free_port()))

    assert result.returncode == 2
    assert result.stderr == "error: --metrics-port serves a running relay; drop --once\n"


def test_a_metrics_host_that_cannot_be_bound_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _relay(
        tmp_path,
        *("--metrics-port", str(services.free_port())),
        *("--metrics-host", "no-such-host.invalid"),
    )

    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: --metrics-host: cannot listen on 'no-such-host.invalid'"
    )
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
