"""The app assembles QuLab once per settings, with ``bootstrap`` on its loop: the pages'
database, cache and broker are that one runtime's, and new settings replace it."""

from __future__ import annotations

import pytest

from qulab.core.config import Settings
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.broker import lab_broker
from qulab.entrypoints.app.cache_resource import lab_cache


def test_database_cache_and_broker_come_from_one_runtime(sqlite_url: str) -> None:
    settings = Settings().replace(database_url=sqlite_url)
    app_runtime = runtime.current(settings)

    assert runtime.current(settings) is app_runtime
    assert runtime.database(settings) is app_runtime.db
    assert lab_cache(settings, app_runtime.db) is app_runtime.cache
    assert lab_broker(settings).inner is app_runtime.publisher
    assert app_runtime.cache.invalidate_events in app_runtime.bus.handlers()


def test_new_cache_settings_build_a_new_runtime_and_close_the_old(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QULAB_CACHE_PREFIX", "first:")
    first = runtime.current(Settings().replace(database_url=sqlite_url))
    monkeypatch.setenv("QULAB_CACHE_PREFIX", "second:")
    second = runtime.current(Settings().replace(database_url=sqlite_url))

    assert second is not first
    assert second.cache.prefix == "second:"
    assert not first.closed  # still cached (up to four runtimes)
    runtime._build.clear()
    assert first.closed and second.closed
    assert first.cache.invalidate_events not in first.bus.handlers()


def test_a_database_of_another_runtime_is_refused(sqlite_url: str) -> None:
    settings = Settings().replace(database_url=sqlite_url)
    other = runtime.database(Settings().replace(database_url=sqlite_url, pool_size=3))
    with pytest.raises(ValueError, match="another runtime"):
        lab_cache(settings, other)


def test_the_database_cache_and_broker_groups_key_the_runtime(sqlite_url: str) -> None:
    settings = Settings().replace(database_url=sqlite_url)
    app_runtime = runtime.current(settings)

    assert runtime.current(settings.replace(relay_batch_size=7, app_timeout=5)) is app_runtime
    assert runtime.current(settings.replace(relay_publish_timeout=3)) is not app_runtime
