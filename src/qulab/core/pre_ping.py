"""Pre-ping a pooled connection only when it has been idle: the liveness check, priced.

SQLAlchemy's ``pool_pre_ping`` tests every connection on every checkout. On asyncpg a ping is
three round trips (BEGIN, an empty query, ROLLBACK), more than the read it guards. A connection
handed back moments ago is almost always still alive, so this pings only one that has sat in the
pool longer than ``idle_seconds`` (0 pings on every checkout). A ping that finds the connection
dropped replaces it before the caller sees it, and invalidates every connection of the pool
opened before it, as SQLAlchemy's own pre-ping does. A connection dropped within the idle window
is not pinged: its statement fails once and that failure invalidates the pool the same way.

``PingStats`` says what the checks cost: how many ran, how many were skipped, how long they
took and how many dead connections they replaced.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool

log = logging.getLogger(__name__)

# Where a pooled connection remembers when it was last handed back (its record's ``info``).
_RETURNED_AT = "qulab.returned_at"
_STATS: weakref.WeakKeyDictionary[Pool, PingStats] = weakref.WeakKeyDictionary()


@dataclass
class PingStats:
    """What the idle pre-ping did since the engine was built (or ``reset``)."""

    idle_seconds: float
    pings: int = 0
    skipped: int = 0
    replaced: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def mean_ping_seconds(self) -> float:
        return self.seconds / self.pings if self.pings else 0.0

    def reset(self) -> None:
        with self._lock:
            self.pings = self.skipped = self.replaced = 0
            self.seconds = 0.0

    def _pinged(self, seconds: float, alive: bool) -> None:
        with self._lock:
            self.pings += 1
            self.seconds += seconds
            if not alive:
                self.replaced += 1

    def _skip(self) -> None:
        with self._lock:
            self.skipped += 1


def install_idle_pre_ping(engine: AsyncEngine, idle_seconds: float) -> PingStats:
    """Ping a connection on checkout when it was returned more than ``idle_seconds`` ago.

    The engine's pool must not pre-ping by itself (``pool_pre_ping=False``); a connection opened
    for this checkout is never pinged.
    """
    pool = engine.sync_engine.pool
    stats = _STATS[pool] = PingStats(idle_seconds)
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info.pop(_RETURNED_AT, None)

    @event.listens_for(pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.pop(_RETURNED_AT, None)
        if returned_at is None:
            return  # opened for this checkout
        if time.monotonic() - returned_at < idle_seconds:
            stats._skip()
            return
        started = time.perf_counter()
        alive = _ping(dialect, dbapi_connection)
        stats._pinged(time.perf_counter() - started, alive)
        if not alive:
            log.info(
                "a pooled connection idle over %g s was found dropped; replacing it", idle_seconds
            )
            raise exc.InvalidatePoolError("pre-ping found the connection closed")

    return stats


def ping_stats(engine: AsyncEngine) -> PingStats | None:
    """The idle pre-ping's figures for ``engine``; None when its pool does not pre-ping."""
    return _STATS.get(engine.sync_engine.pool)


def _ping(dialect: Dialect, dbapi_connection: Any) -> bool:
    """True when the connection answers; False when the driver says it is disconnected."""
    try:
        dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as error:
        if dialect.is_disconnect(error, dbapi_connection, None):
            return False
        raise
    return True
