"""The lab's background publisher repairs the shared cache: with Redis configured, starting its
controller subscribes the lab's cache to the database's bus as a durable handler."""

from __future__ import annotations

import pytest

from qulab.core.config import Settings
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.relay_control import relay_controller
from tests import services


def test_the_lab_relay_has_the_cache_handler_when_redis_is_configured(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("QULAB_CACHE_PREFIX", services.unique_name("qulab_test") + ":")
    settings = Settings().replace(database_url=sqlite_url, redis_url=redis_url)
    db = runtime.database(settings)

    relay_controller(settings, db)

    [handler] = db.bus.handlers(durable_only=True)
    assert getattr(handler, "__name__", "") == "invalidate_events"


def test_without_redis_the_lab_relay_replays_nothing(sqlite_url: str) -> None:
    settings = Settings().replace(database_url=sqlite_url)
    db = runtime.database(settings)

    relay_controller(settings, db)

    assert db.bus.handlers(durable_only=True) == []
