"""The app's read-through cache: one per server process, built on the app loop.

It is the cache of the app's runtime (``qulab.entrypoints.app.runtime.current``, built by
``bootstrap``), subscribed to the database's bus, so every unit of work that commits a change to
a user (page 1's form, page 3's sample scores, page 4's rename, clearing seeded users)
invalidates that user's entries after the commit. New settings build a new runtime; the old cache is
unsubscribed and closed with it.
"""

from __future__ import annotations

from qulab.core import Database, Settings
from qulab.core.cache import Cache, CacheStatus
from qulab.entrypoints.app import runtime

STATUS_TIMEOUT = 5.0


def lab_cache(settings: Settings, db: Database) -> Cache:
    """The cache of the runtime built for ``settings`` (``db`` is that runtime's database),
    subscribed to its bus by ``bootstrap``: invalidation after commit, and by the relay after
    each published batch."""
    app_runtime = runtime.current(settings)
    if app_runtime.db is not db:
        raise ValueError("lab_cache() was given a database of another runtime")
    return app_runtime.cache


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
