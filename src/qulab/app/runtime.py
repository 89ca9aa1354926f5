"""The app's process-wide async runtime: one loop thread and the clients built on it.

Both are ``st.cache_resource`` singletons: created once per server process and shared by every
session. The database is keyed on the settings and on the loop, so changing the configuration
(or clearing the cache, as the tests do) builds a new engine and disposes of the old one.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st

from qulab.app.loop import LoopThread
from qulab.config import Settings, load_settings
from qulab.db import Database

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
class _BoundDatabase:
    db: Database
    loop: LoopThread


def _release_database(bound: _BoundDatabase) -> None:
    bound.loop.remove_closer(bound.db.dispose)
    if bound.loop.running:
        bound.loop.run(bound.db.dispose(), RELEASE_TIMEOUT)


@st.cache_resource(show_spinner=False, max_entries=4, on_release=_release_database)
def _database(key: str, loop_id: int, _loop: LoopThread, _settings: Settings) -> _BoundDatabase:
    async def build() -> Database:
        return Database(_settings)

    db = _loop.run(build(), RELEASE_TIMEOUT)
    _loop.add_closer(db.dispose)
    return _BoundDatabase(db, _loop)


_DATABASE_FIELDS = {
    "database_url",
    "pool_size",
    "max_overflow",
    "pool_timeout",
    "pool_recycle",
    "pool_pre_ping",
    "echo_sql",
    "sqlite_busy_timeout_ms",
}


def database(current: Settings | None = None) -> Database:
    """The Database (engine and pool) for the current settings, built on the app loop."""
    current = current or settings()
    loop = event_loop()
    key = current.model_dump_json(include=_DATABASE_FIELDS)
    return _database(key, id(loop), loop, current).db
