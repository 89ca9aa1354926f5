"""Read replicas: PostgreSQL standbys that serve the reads which tolerate lag.

``QULAB_DATABASE_REPLICA_URLS`` names the standbys; ``Database`` builds this only when it is
set, so a database without replicas never imports it. Each standby gets an engine like the
primary's (autocommit, as reads use the primary). Its health is checked at most every
``QULAB_REPLICA_CHECK_INTERVAL`` seconds, by the read that finds the last check too old: one
statement on the standby reads whether it is in recovery, its replay position and its lag. A
standby that cannot be reached, is not in recovery, or lags more than ``QULAB_REPLICA_MAX_LAG``
seconds is skipped until a later check finds it well; its reads go to the primary. A read
(Core or session) that cannot connect to a standby between two checks marks it down the same
way and is served by the primary. The change is logged once each way, and the caller sees no
error.

A read that must have seen a commit (a ``Token``: explicit, this context's latest write, or a
cache fill's floor) is served by a standby whose known replay position has reached the token;
otherwise the furthest standby is asked again every few milliseconds for up to
``QULAB_REPLICA_WAIT_MS``, and then the primary serves it. The known position was read from the
standby before the read's statement, and replay only moves forward, so the read sees the commit.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from qulab.core import consistency
from qulab.core.config import Settings
from qulab.core.consistency import Token
from qulab.core.db import ReadOnlySession, make_engine, make_sessionmaker, read_engine
from qulab.core.db_errors import translated
from qulab.core.errors import QulabError
from qulab.core.sql_spans import instrument_engine
from qulab.core.urls import redact_text, redact_url

log = logging.getLogger(__name__)

POLL_SECONDS = 0.005
ROUTE = "qulab.route"

# Caught up with everything received: no lag, however long ago the last transaction was (an
# idle primary sends nothing to replay). Behind: the age of the last transaction replayed.
CHECK = (
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL "
    "AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END"
)
COMMIT_POSITION = "SELECT pg_current_wal_insert_lsn()::text"


@dataclass
class Replica:
    """One standby: its engine and what the last check found."""

    url: str
    engine: AsyncEngine  # autocommit, sharing ``base``'s pool
    base: AsyncEngine
    healthy: bool = False
    position: Token | None = None
    lag: float | None = None
    problem: str | None = "not checked yet"
    checked_at: float = float("-inf")
    checking: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def address(self) -> str:
        return redact_url(self.url)

    def has_seen(self, token: Token | None) -> bool:
        return self.healthy and (
            token is None or (self.position is not None and self.position >= token)
        )


@dataclass(frozen=True)
class ReplicaStatus:
    address: str
    healthy: bool
    position: str | None
    lag_seconds: float | None
    problem: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "healthy": self.healthy,
            "position": self.position,
            "lag_seconds": self.lag_seconds,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class Route:
    """Where one read goes: a standby, or the primary (``replica`` None). A later need (a cache
    fill's floor) the standby is not known to have replayed sends the read to the primary."""

    replicas: Replicas
    replica: Replica | None
    token: Token | None = None

    def sync_engine(self) -> Engine:
        needed = consistency.latest(self.token, consistency.required())
        if self.replica is not None and self.replica.has_seen(needed):
            return self.replica.engine.sync_engine
        if self.replica is not None:
            self.replicas.fell_back()
        return self.replicas.primary.sync_engine


class RoutedReadSession(ReadOnlySession):
    """A read session whose statements go where its ``Route`` says (see ``Route``)."""

    def get_bind(self, mapper: Any = None, clause: Any = None, **kw: Any) -> Any:
        route = self.info.get(ROUTE)
        if isinstance(route, Route):
            return route.sync_engine()
        return super().get_bind(mapper, clause=clause, **kw)


class Replicas:
    """The standbys of one database, their health, and the routing of reads among them."""

    def __init__(self, settings: Settings, primary: AsyncEngine) -> None:
        config = settings.database
        self.primary = primary  # the primary's read engine (autocommit)
        self.max_lag = config.replica_max_lag
        self.wait_seconds = config.replica_wait_ms / 1000
        self.check_interval = config.replica_check_interval
        self.replicas = [_replica(settings, url) for url in config.replica_urls]
        self.sessionmaker = make_sessionmaker(primary, read_only=True)
        self.sessionmaker.configure(sync_session_class=RoutedReadSession)
        self._turn = itertools.count()
        self.served = 0  # reads routed to a standby
        self.fallbacks = 0  # reads for a standby that the primary served (none well, or behind)

    def fell_back(self) -> None:
        self.fallbacks += 1

    # -- routing ------------------------------------------------------------------------------

    async def route(self, token: Token | None) -> Route:
        """A standby for a read that must have seen ``token`` (None: any healthy one), or the
        primary. Never raises because of a standby."""
        await self._check_due()
        healthy = [replica for replica in self.replicas if replica.healthy]
        if not healthy:
            self.fallbacks += 1
            return Route(self, None, token)
        start = next(self._turn) % len(healthy)
        for replica in healthy[start:] + healthy[:start]:
            if replica.has_seen(token):
                self.served += 1
                return Route(self, replica, token)
        caught_up = await self._wait_for(healthy, token)
        if caught_up is not None:
            self.served += 1
            return Route(self, caught_up, token)
        self.fallbacks += 1
        log.debug("no replica has replayed %s yet: the primary serves the read", token)
        return Route(self, None, token)

    async def _wait_for(self, healthy: Sequence[Replica], token: Token | None) -> Replica | None:
        if self.wait_seconds <= 0 or token is None:
            return None
        deadline = time.monotonic() + self.wait_seconds
        furthest = max(healthy, key=lambda r: r.position or Token(0))
        while True:
            await self.check(furthest)
            if furthest.has_seen(token):
                return furthest
            left = deadline - time.monotonic()
            if left <= 0 or not furthest.healthy:
                return None
            await asyncio.sleep(min(POLL_SECONDS, left))

    @asynccontextmanager
    async def connect(self, token: Token | None) -> AsyncIterator[AsyncConnection]:
        """A connection for Core reads where ``route`` sends them; a standby that refuses the
        connection is marked down and the primary serves the read."""
        route = await self.route(token)
        replica = route.replica
        with translated():
            if replica is not None:
                conn = replica.engine.connect()
                try:
                    await conn.start()
                except (SQLAlchemyError, OSError, TimeoutError) as error:
                    self._mark_down(replica, error)
                    self.served -= 1  # counted when routed; the primary serves it instead
                    self.fallbacks += 1
                else:
                    try:
                        yield conn
                    finally:
                        await conn.close()
                    return
            async with self.primary.connect() as conn:
                yield conn

    @asynccontextmanager
    async def session(self, route: Route) -> AsyncIterator[AsyncSession]:
        """A read session where ``route`` sends it. A session routed to a standby opens its
        connection there at once (its first statement would), so a standby that refuses it is
        marked down and the primary serves the session, as ``connect`` does for Core reads."""
        replica = route.replica
        if replica is not None:
            session = self.sessionmaker(info={ROUTE: route})
            try:
                await session.connection(bind_arguments={"bind": replica.engine.sync_engine})
            except (SQLAlchemyError, OSError, TimeoutError) as error:
                await _close_quietly(session)
                self._mark_down(replica, error)
                self.served -= 1  # counted when routed; the primary serves it instead
                self.fallbacks += 1
                route = Route(self, None, route.token)
            except BaseException:  # cancelled while connecting: give the session back
                await _close_quietly(session)
                raise
            else:
                async with session:
                    yield session
                return
        async with self.sessionmaker(info={ROUTE: route}) as session:
            yield session

    # -- health -------------------------------------------------------------------------------

    async def _check_due(self) -> None:
        now = time.monotonic()
        due = [r for r in self.replicas if now - r.checked_at >= self.check_interval]
        if due:
            await asyncio.gather(*(self.check(replica) for replica in due))

    async def check(self, replica: Replica) -> None:
        """Ask ``replica`` where it is (one statement); a concurrent check is not repeated."""
        if replica.checking.locked():
            async with replica.checking:
                return
        async with replica.checking:
            replica.checked_at = time.monotonic()
            try:
                with translated():
                    async with replica.engine.connect() as conn:
                        row = (await conn.exec_driver_sql(CHECK)).one()
            except (QulabError, SQLAlchemyError, OSError, TimeoutError) as error:
                self._mark_down(replica, error)
                return
            in_recovery, position, lag = row
            if not in_recovery or position is None:
                self._set_health(replica, False, "not a standby (not in recovery)")
                return
            replica.position = consistency.latest(replica.position, Token.parse(position))
            replica.lag = None if lag is None else float(lag)
            if replica.lag is None or replica.lag > self.max_lag:
                shown = "unknown" if replica.lag is None else f"{replica.lag:.1f} s"
                self._set_health(replica, False, f"lagging {shown} (max {self.max_lag:g} s)")
                return
            self._set_health(replica, True, None)

    def _mark_down(self, replica: Replica, error: BaseException) -> None:
        detail = redact_text(str(error).strip().splitlines()[0] if str(error) else "", replica.url)
        self._set_health(replica, False, f"unreachable: {detail or type(error).__name__}")

    def _set_health(self, replica: Replica, healthy: bool, problem: str | None) -> None:
        was = replica.healthy
        first = replica.problem == "not checked yet"
        replica.healthy, replica.problem = healthy, problem
        if healthy and not was and not first:
            log.warning("replica %s is back: it serves reads again", replica.address)
        elif not healthy and (was or first):
            log.warning(
                "replica %s skipped, its reads go to the primary: %s", replica.address, problem
            )

    # -- the consistency token ----------------------------------------------------------------

    async def commit_token(self) -> Token:
        """A WAL position at or after the end of every commit that has returned: the primary's
        insert position, read after COMMIT (see docs/scaling.md)."""
        with translated():
            async with self.primary.connect() as conn:
                position = (await conn.exec_driver_sql(COMMIT_POSITION)).scalar_one()
        return Token.parse(str(position))

    def status(self) -> list[ReplicaStatus]:
        return [
            ReplicaStatus(
                replica.address,
                replica.healthy,
                None if replica.position is None else str(replica.position),
                replica.lag,
                replica.problem,
            )
            for replica in self.replicas
        ]

    async def dispose(self) -> None:
        for replica in self.replicas:
            await replica.base.dispose()


async def _close_quietly(session: AsyncSession) -> None:
    """Close a session whose connection could not be opened; nothing of it is left to keep."""
    try:
        await session.close()
    except (SQLAlchemyError, OSError, TimeoutError) as error:
        log.debug("closing a read session that could not connect failed: %s", error)


def _replica(settings: Settings, url: str) -> Replica:
    """A standby's engine with the primary's options (pool, timeouts), reading in autocommit."""
    base = make_engine(settings.replace(database_url=url, database_replica_urls=""))
    instrument_engine(base)
    return Replica(url, read_engine(base), base)
