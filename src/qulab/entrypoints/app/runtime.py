"""The app's process-wide async runtime: one loop thread and the clients built on it.

Both are ``st.cache_resource`` singletons: created once per server process and shared by every
session. QuLab itself (``bootstrap``: database, cache, publisher) is keyed on the settings and
on the loop, so changing the configuration (or clearing the cache, as the tests do) builds a
new one and closes the old.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st

from qulab.core.bootstrap import QuLab, bootstrap
from qulab.core.config import Settings, load_settings
from qulab.core.db import Database
from qulab.entrypoints.app.loop import LoopThread
from qulab.entrypoints.app.metrics import app_metrics

T = TypeVar("T")

RELEASE_TIMEOUT = 10.0


def _stop_loop(loop: LoopThread) -> None:
    loop.stop(RELEASE_TIMEOUT)


@st.cache_resource(show_spinner=False, on_release=_stop_loop)
def event_loop() -> LoopThread:
    """The one event-loop thread of this server process."""
    return LoopThread("qulab-app-loop")


def settings() -> Settings:
    """The current settings, read on every script run (raises ConfigurationError)."""
    return load_settings()


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the app loop and wait for it; ``timeout`` defaults to QULAB_APP_TIMEOUT."""
    if timeout is None:
        timeout = settings().app_timeout
    return event_loop().run(coro, timeout)


@dataclass(frozen=True)
class _BoundLab:
    lab: QuLab
    loop: LoopThread


def _release_lab(bound: _BoundLab) -> None:
    bound.loop.remove_closer(bound.lab.close)
    if bound.loop.running:
        bound.loop.run(bound.lab.close(), RELEASE_TIMEOUT)


@st.cache_resource(show_spinner=False, max_entries=4, on_release=_release_lab)
def _lab(key: str, loop_id: int, _loop: LoopThread, _settings: Settings) -> _BoundLab:
    async def build() -> QuLab:
        # On the loop: engines and Redis clients belong to the loop they first run on.
        return bootstrap(_settings)

    lab = _loop.run(build(), RELEASE_TIMEOUT)
    _loop.add_closer(lab.close)
    return _BoundLab(lab, _loop)


# The settings the broker (the runtime's publisher) is built from.
BROKER_FIELDS = {
    "broker_url",
    "outbox_stream_prefix",
    "outbox_stream_maxlen",
    "outbox_exchange",
    "memory_broker_size",
    "relay_publish_timeout",
}
# What the runtime is built from: the database, cache and broker settings. Changing one of
# them builds a new runtime (engine, cache subscribed to its bus, publisher) and closes the old.
_RUNTIME_FIELDS = BROKER_FIELDS | {
    "database_url",
    "pool_size",
    "max_overflow",
    "pool_timeout",
    "pool_recycle",
    "pool_pre_ping",
    "db_pre_ping_idle_seconds",
    "echo_sql",
    "sqlite_busy_timeout_ms",
    "db_connect_timeout",
    "db_statement_timeout",
    "redis_url",
    "cache_prefix",
    "cache_user_ttl",
    "cache_score_ttl",
    "cache_ttl_jitter",
    "cache_max_entries",
    "cache_max_value_bytes",
    "cache_negative_ttl",
    "cache_socket_timeout",
    "breaker_failure_threshold",
    "breaker_reset_seconds",
}


def lab(current: Settings | None = None) -> QuLab:
    """QuLab for the current settings, assembled once by ``bootstrap`` on the app loop and
    shared by every session: the database, the cache subscribed to its bus, the publisher.
    With ``QULAB_APP_METRICS_PORT`` set, the process's metrics report on this runtime."""
    current = current or settings()
    loop = event_loop()
    key = current.model_dump_json(include=_RUNTIME_FIELDS)
    built = _lab(key, id(loop), loop, current).lab
    metrics = app_metrics(current)
    if metrics is not None:
        metrics.watch(db=built.db, cache=built.cache)
    return built


def database(current: Settings | None = None) -> Database:
    """The Database (engine and pool) of the current runtime."""
    return lab(current).db
