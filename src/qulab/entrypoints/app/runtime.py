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

from qulab.core import Database, Runtime, Settings, load_settings
from qulab.entrypoints.app.loop import LoopThread
from qulab.entrypoints.app.metrics import app_metrics
from qulab.platform import bootstrap

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
        timeout = settings().app.timeout
    return event_loop().run(coro, timeout)


@dataclass(frozen=True)
class _Bound:
    runtime: Runtime
    loop: LoopThread


def _release(bound: _Bound) -> None:
    bound.loop.remove_closer(bound.runtime.close)
    if bound.loop.running:
        bound.loop.run(bound.runtime.close(), RELEASE_TIMEOUT)


@st.cache_resource(show_spinner=False, max_entries=4, on_release=_release)
def _build(key: str, loop_id: int, _loop: LoopThread, _settings: Settings) -> _Bound:
    async def build() -> Runtime:
        # On the loop: engines and Redis clients belong to the loop they first run on.
        return bootstrap(_settings)

    built = _loop.run(build(), RELEASE_TIMEOUT)
    _loop.add_closer(built.close)
    return _Bound(built, _loop)


# What the runtime is built from: the database, cache and broker groups. Changing any of their
# settings builds a new runtime (engine, cache subscribed to its bus, publisher) and closes the old.
_RUNTIME_GROUPS = {"database", "cache", "broker"}


def current(given: Settings | None = None) -> Runtime:
    """The platform's runtime for the current settings, assembled once by ``bootstrap`` on the
    app loop and shared by every session: the database, the cache subscribed to its bus, the
    publisher. With ``QULAB_APP_METRICS_PORT`` set, the process's metrics report on it."""
    given = given or settings()
    loop = event_loop()
    key = given.model_dump_json(include=_RUNTIME_GROUPS)
    built = _build(key, id(loop), loop, given).runtime
    metrics = app_metrics(given)
    if metrics is not None:
        metrics.watch(db=built.db, cache=built.cache)
    return built


def database(given: Settings | None = None) -> Database:
    """The Database (engine and pool) of the current runtime."""
    return current(given).db
