"""The lab app serves /metrics on a port of its own when QULAB_APP_METRICS_PORT is set: started
by the runtime every page goes through, once per server process, stopped with its resources."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import streamlit as st

from qulab.core.config import Settings
from qulab.core.errors import ConfigurationError
from qulab.core.recorders import NoCacheMetrics
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.relay_control import relay_controller
from qulab.platform import migrate
from qulab.platform.cache import read_user_cached
from qulab.platform.schemas import UserCreate
from qulab.platform.services.users import create_user
from qulab.platform.uow import uow_factory
from tests import services
from tests.app.helpers import open_runtime
from tests.metrics_support import Exposition, scrape
from tests.outbox_helpers import emit_events
from tests.waiting import wait_until


def test_the_app_serves_metrics_of_its_runtime_on_its_own_port(sqlite_url: str) -> None:
    port = services.free_port()
    settings = Settings().replace(database_url=sqlite_url, app_metrics_port=port)
    app_runtime = runtime.current(settings)
    assert runtime.current(settings) is app_runtime  # a second page run starts nothing new

    async def read_twice() -> None:
        await migrate.upgrade(app_runtime.db)
        user = await create_user(
            UserCreate(email="app@example.com", name="App"), uow_factory(app_runtime.db)
        )
        await read_user_cached(app_runtime.db, app_runtime.cache, user.id)
        await read_user_cached(app_runtime.db, app_runtime.cache, user.id)

    runtime.run(read_twice())
    seen = scrape(f"http://127.0.0.1:{port}/metrics")

    assert seen.value("qulab_cache_reads_total", family="user", outcome="miss") == 1
    assert seen.value("qulab_cache_reads_total", family="user", outcome="hit") == 1
    assert seen.value("qulab_db_pool_checked_out") == 0
    assert seen.value("qulab_db_pool_size") == settings.database.pool_size
    assert seen.value("qulab_cache_breaker_state", state="closed") == 1
    assert seen.has_family("process_resident_memory_bytes")

    st.cache_resource.clear()  # what a server shutdown releases
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        again.bind(("127.0.0.1", port))
        again.listen()


def test_the_labs_background_publisher_reports_the_outbox(sqlite_url: str) -> None:
    port = services.free_port()
    settings = Settings().replace(database_url=sqlite_url, app_metrics_port=port)
    app_runtime = runtime.current(settings)
    runtime.run(migrate.upgrade(app_runtime.db))
    controller = relay_controller(settings, app_runtime.db)
    assert controller.start()
    try:
        runtime.run(emit_events(app_runtime.db, 3))

        def all_published() -> Exposition | None:
            seen = scrape(f"http://127.0.0.1:{port}/metrics")
            published = seen.value("qulab_outbox_published_total", event_type="test.happened")
            return (
                seen if published == 3 and seen.value("qulab_outbox_pending_events") == 0 else None
            )

        seen = wait_until(all_published, "/metrics to report 3 events published", timeout=20)
    finally:
        controller.stop()

    assert seen.value("qulab_outbox_published_total", event_type="test.happened") == 3
    assert seen.value("qulab_outbox_pending_events") == 0
    assert seen.value("qulab_outbox_lag_seconds", partition="all") == 0


def test_without_the_setting_the_app_serves_no_metrics(sqlite_url: str) -> None:
    app_runtime = runtime.current(Settings().replace(database_url=sqlite_url))
    assert isinstance(app_runtime.cache.metrics, NoCacheMetrics)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_metrics_port_in_use_is_a_configuration_error(sqlite_url: str, taken_port: int) -> None:
    settings = Settings().replace(database_url=sqlite_url, app_metrics_port=taken_port)
    with pytest.raises(ConfigurationError) as raised:
        runtime.current(settings)
    assert str(raised.value) == (
        f"QULAB_APP_METRICS_PORT: 127.0.0.1:{taken_port} is already in use; choose a free port"
    )


def test_the_lab_shows_a_metrics_port_in_use_as_a_configuration_error(
    sqlite_url: str, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QULAB_APP_METRICS_PORT", str(taken_port))

    at = open_runtime()

    assert not at.exception
    assert [str(e.value) for e in at.error] == [
        f"The configuration is invalid: QULAB_APP_METRICS_PORT: 127.0.0.1:{taken_port} is "
        "already in use; choose a free port. Fix the environment variable (or the .env file) "
        "and restart the app."
    ]
