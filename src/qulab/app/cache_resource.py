"""The app's read-through cache: one per server process, built on the app loop.

It is subscribed to the app's Database bus, so every unit of work that commits a change to a
user (page 1's form, page 3's sample scores, page 4's rename, clearing seeded users) invalidates
that user's entries after the commit. Keyed on the cache settings and on the Database, so a new
engine gets a cache subscribed to its bus and the old one is unsubscribed and closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from qulab.app import runtime
from qulab.app.loop import LoopThread
from qulab.cache import Cache, CacheStatus, build_cache
from qulab.config import Settings
from qulab.db import Database

RELEASE_TIMEOUT = 10.0
STATUS_TIMEOUT = 5.0

_CACHE_FIELDS = {
    "redis_url",
    "cache_prefix",
    "cache_user_ttl",
    "cache_score_ttl",
    "cache_ttl_jitter",
    "cache_max_entries",
    "cache_negative_ttl",
    "cache_socket_timeout",
    "breaker_failure_threshold",
    "breaker_reset_seconds",
}


@dataclass(frozen=True)
class _BoundCache:
    cache: Cache
    db: Database
    loop: LoopThread


def _release_cache(bound: _BoundCache) -> None:
    bound.cache.unsubscribe(bound.db.bus)
    bound.loop.remove_closer(bound.cache.close)
    if bound.loop.running:
        bound.loop.run(bound.cache.close(), RELEASE_TIMEOUT)


@st.cache_resource(show_spinner=False, max_entries=4, on_release=_release_cache)
def _cache(
    key: str, db_id: int, loop_id: int, _db: Database, _loop: LoopThread, _settings: Settings
) -> _BoundCache:
    async def build() -> Cache:
        return build_cache(_settings)

    cache = _loop.run(build(), RELEASE_TIMEOUT)
    cache.subscribe(_db.bus)
    _loop.add_closer(cache.close)
    return _BoundCache(cache, _db, _loop)


def lab_cache(settings: Settings, db: Database) -> Cache:
    """The cache for the current settings, subscribed to ``db``'s bus (invalidation after
    commit, and by the relay after each published batch)."""
    loop = runtime.event_loop()
    key = settings.model_dump_json(include=_CACHE_FIELDS)
    return _cache(key, id(db), id(loop), db, loop, settings).cache


def cache_status(settings: Settings, db: Database) -> CacheStatus:
    """Probe the cache now: backend, address, server version, connected, breaker state."""
    cache = lab_cache(settings, db)
    return runtime.run(cache.status(), timeout=STATUS_TIMEOUT)


def backend_label(status: CacheStatus) -> str:
    if status.backend == "redis":
        version = f" {status.server_version}" if status.server_version else ""
        return f"Redis{version} at {status.address}"
    return status.address


def status_line(settings: Settings, db: Database) -> str:
    """One line for the sidebar: the live backend and the circuit breaker's state."""
    try:
        status = cache_status(settings, db)
    except Exception:
        return ":red[status unavailable]"
    colour = "green" if status.connected and status.breaker_state == "closed" else "orange"
    reach = "" if status.connected else ", not answering"
    return f":{colour}[{backend_label(status)}{reach}] · breaker {status.breaker_state}"
