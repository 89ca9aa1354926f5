"""Engine factory (dialect-aware pooling), sessions, pool readout and the statement counter."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool, QueuePool, StaticPool

from qulab.core import tracing
from qulab.core.bus import MessageBus
from qulab.core.config import Settings
from qulab.core.db_errors import raise_translated, translated
from qulab.core.pre_ping import PingStats, install_idle_pre_ping, ping_stats
from qulab.core.sql_spans import instrument_engine

if TYPE_CHECKING:
    from qulab.core.consistency import Token
    from qulab.core.replicas import Replicas

log = logging.getLogger(__name__)


def is_sqlite_memory(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def make_engine(settings: Settings, *, null_pool: bool = False) -> AsyncEngine:
    """Build an async engine suited to the configured database.

    PostgreSQL gets a queue pool sized by the settings and the connect and statement timeouts,
    pre-pinging connections that sat idle (``qulab.core.pre_ping``);
    a SQLite file gets the same pool plus WAL, a busy timeout and foreign keys on every
    connection; SQLite ``:memory:`` shares one connection so every session sees the same
    database. ``null_pool`` opens a fresh connection per checkout (used to measure what pooling
    saves).
    """
    config = settings.database
    url = config.url
    kwargs: dict[str, Any] = {"echo": config.echo_sql}
    if null_pool:
        kwargs["poolclass"] = NullPool
    elif is_sqlite_memory(url):
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs.update(
            poolclass=AsyncAdaptedQueuePool,
            pool_size=config.pool_size,
            max_overflow=config.max_overflow,
            pool_timeout=config.pool_timeout,
            pool_recycle=config.pool_recycle,
        )
    if make_url(url).get_backend_name() == "postgresql":
        kwargs["connect_args"] = postgres_connect_args(settings)
    engine = create_async_engine(url, **kwargs)
    if config.pool_pre_ping and isinstance(engine.sync_engine.pool, QueuePool):
        install_idle_pre_ping(engine, config.pre_ping_idle_seconds)
    if config.is_sqlite:
        if not is_sqlite_memory(url):
            event.listen(engine.sync_engine, "do_connect", _open_sqlite_file_first)
        _install_sqlite_pragmas(engine, config.sqlite_busy_timeout_ms, is_sqlite_memory(url))
    return engine


def postgres_connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg's connect timeout, a client-side command timeout and the server's
    ``statement_timeout``. The client waits a second longer than the server so that a live
    server cancels a slow statement itself; the client timeout catches a server that stalls."""
    config = settings.database
    args: dict[str, Any] = {"timeout": config.connect_timeout}
    statement_timeout = config.statement_timeout
    if statement_timeout > 0:
        args["command_timeout"] = statement_timeout + 1.0
        args["server_settings"] = {"statement_timeout": str(max(int(statement_timeout * 1000), 1))}
    return args


def _open_sqlite_file_first(
    _dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]
) -> None:
    """Open the file once, synchronously, before aiosqlite does. aiosqlite reports a failed
    open, then stops its worker thread without waiting; that thread calls back into an event
    loop that may be closed by then and prints a second traceback. Failing here instead raises
    the same ``sqlite3`` error and starts no thread."""
    sqlite3.connect(cargs[0], uri=bool(cparams.get("uri", False))).close()


def _install_sqlite_pragmas(engine: AsyncEngine, busy_timeout_ms: int, memory: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()


class BoundarySession(AsyncSession):
    """An AsyncSession whose ``async with`` block is the database boundary: driver and pool
    failures raised in it, or while closing it, leave it as QuLab's errors."""

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        with translated():
            await super().__aexit__(type_, value, traceback)
        if isinstance(value, BaseException):
            raise_translated(value)


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` as reads should use it: on PostgreSQL in autocommit, sharing its pool.

    A read in a transaction pays a BEGIN and a ROLLBACK round trip around its SELECTs; in
    PostgreSQL's default READ COMMITTED each SELECT sees its own snapshot either way, so a
    read-only block sees the same rows without them. SQLite starts no transaction for a SELECT,
    and switching its isolation costs a thread hop per checkout, so it keeps the engine as is.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


class ReadOnlySession(Session):
    """The sync session under a read session: it refuses to flush a change, because on
    PostgreSQL a read session runs in autocommit and the change would be committed at once."""

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("a read session writes nothing: write through the unit of work")
        super().flush(objects)


class KeptConnection:
    """A connection held across transactions (the ordered relay keeps one between batches: no
    pool checkout or pre-ping per batch). Each ``transaction()`` block is a database boundary
    that commits when it succeeds; after any failure the connection is closed and the next
    block opens a fresh one."""

    def __init__(self, engine: AsyncEngine, setup: Sequence[str] = ()) -> None:
        self.engine = engine
        self.setup = tuple(setup)  # session settings, run (and committed) on each new connection
        self._conn: AsyncConnection | None = None
        self.reused = False  # whether the last transaction ran on a connection kept from before

    @property
    def open(self) -> bool:
        return self._conn is not None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        with translated():
            try:
                if self._conn is not None and await self._driver_closed(self._conn):
                    await self.close(broken=True)  # the server ended it while it was idle
                self.reused = self._conn is not None
                if self._conn is None:
                    self._conn = await self.engine.connect()
                    if self.setup:
                        async with self._conn.begin():
                            for statement in self.setup:
                                await self._conn.exec_driver_sql(statement)
                async with self._conn.begin():
                    yield self._conn
            except BaseException:
                await self.close(broken=True)
                raise

    @staticmethod
    async def _driver_closed(conn: AsyncConnection) -> bool:
        """Whether the driver already saw the connection end (no round trip)."""
        raw = await conn.get_raw_connection()
        is_closed = getattr(raw.driver_connection, "is_closed", None)
        return bool(is_closed()) if callable(is_closed) else False

    async def close(self, *, broken: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if broken:
                await conn.invalidate()
            await conn.close()
        except Exception as error:  # closing what already failed: nothing left to do
            log.debug("closing a kept connection failed: %s", error)


def make_sessionmaker(
    engine: AsyncEngine, *, read_only: bool = False
) -> async_sessionmaker[BoundarySession]:
    return async_sessionmaker(
        engine,
        class_=BoundarySession,
        sync_session_class=ReadOnlySession if read_only else Session,
        expire_on_commit=False,
        autoflush=False,
    )


@dataclass(frozen=True)
class PoolStatus:
    kind: str
    size: int | None
    checked_in: int | None
    checked_out: int | None
    overflow: int | None
    max_overflow: int | None
    timeout: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pool_status(engine: AsyncEngine) -> PoolStatus:
    pool = engine.sync_engine.pool
    if isinstance(pool, QueuePool):
        return PoolStatus(
            kind=type(pool).__name__,
            size=pool.size(),
            checked_in=pool.checkedin(),
            checked_out=pool.checkedout(),
            overflow=max(pool.overflow(), 0),
            max_overflow=pool._max_overflow,
            timeout=pool.timeout(),
        )
    return PoolStatus(type(pool).__name__, None, None, None, None, None, None)


@dataclass
class StatementCounter:
    """The SQL statements an engine ran while the counter was active (text and parameters)."""

    statements: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def count(self) -> int:
        return len(self.statements)

    def _record(self, statement: str) -> None:
        with self._lock:
            self.statements.append(" ".join(statement.split()))


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[StatementCounter]:
    """Count every statement sent to the database through ``engine`` inside the block.

    An ``executemany`` counts once, as it is one round of the statement. Pings and the PRAGMAs
    run on connect are not statements of the caller's and are not counted.
    """
    with _listening(engine.sync_engine) as counter:
        yield counter


@contextmanager
def count_connection_statements(
    connection: AsyncConnection | Connection,
) -> Iterator[StatementCounter]:
    """Count only the statements sent through this one connection inside the block.

    Other work on the same engine (a background relay, concurrent requests) is not counted,
    so a scenario can assert exact counts while the engine is shared.
    """
    target = connection.sync_connection if isinstance(connection, AsyncConnection) else connection
    if target is None:
        raise RuntimeError("the connection is closed; cannot count its statements")
    with _listening(target) as counter:
        yield counter


@asynccontextmanager
async def count_session_statements(session: AsyncSession) -> AsyncIterator[StatementCounter]:
    """Count the statements ``session`` sends inside the block (on its current connection).

    The session's connection is checked out on entry, so it must not commit or close inside the
    block (a commit would move later statements to another connection).
    """
    connection = await session.connection()
    with count_connection_statements(connection) as counter:
        yield counter


@contextmanager
def _listening(target: Engine | Connection) -> Iterator[StatementCounter]:
    counter = StatementCounter()

    def _before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        counter._record(statement)

    event.listen(target, "before_cursor_execute", _before)
    try:
        yield counter
    finally:
        event.remove(target, "before_cursor_execute", _before)


class Database:
    """An engine with its session factory and its message bus: the handle repositories and
    units of work are given. ``qulab.core.bootstrap`` builds it and subscribes the cache to its
    bus."""

    def __init__(self, settings: Settings, *, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        tracing.configure(settings.tracing)
        self.engine = engine or make_engine(settings)
        instrument_engine(self.engine)  # a span per statement while tracing is on
        self.sessionmaker = make_sessionmaker(self.engine)
        self.reader = read_engine(self.engine)
        self.read_sessionmaker = make_sessionmaker(self.reader, read_only=True)
        # The one bus for this database: every unit of work on it dispatches here after commit,
        # and the relay replays its durable handlers. The cache subscribes its invalidation.
        self.bus = MessageBus()
        # Standbys for the reads that tolerate lag (``qulab.core.replicas``), only when
        # QULAB_DATABASE_REPLICA_URLS names some: otherwise nothing of them is even imported.
        self.replicas: Replicas | None = None
        if settings.database.replica_urls and self.dialect == "postgresql":
            from qulab.core.replicas import Replicas

            self.replicas = Replicas(settings, self.reader)
        elif settings.database.replica_urls:
            log.warning("QULAB_DATABASE_REPLICA_URLS is ignored: the database is not PostgreSQL")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def description(self) -> str:
        """Where the data lives, without credentials (for the CLI and the app)."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite":
            return f"SQLite {url.database or ':memory:'}"
        return f"PostgreSQL {url.host}:{url.port or 5432}/{url.database}"

    def session(self) -> BoundarySession:
        """A session; used as ``async with``, failures in its block come out as QuLab's errors."""
        return self.sessionmaker()

    @asynccontextmanager
    async def reading(self, token: Token | str | None = None) -> AsyncIterator[AsyncSession]:
        """A session for reads only; driver and pool failures come out as QuLab's errors, as
        they do from ``session_scope`` and the unit of work.

        On PostgreSQL it runs in autocommit (see ``read_engine``): no BEGIN before the first
        SELECT, no ROLLBACK on close. Nothing may be written through it: flushing a change
        raises RuntimeError (see ``ReadOnlySession``).

        With read replicas it reads from a healthy standby that has replayed ``token`` (a
        commit's consistency token, or ``str`` of one) and this context's latest commit, else
        from the primary (see ``qulab.core.replicas``); a standby that cannot be reached when
        the session connects is marked down and the primary serves the session. Without
        replicas, ``token`` changes nothing.
        """
        if self.replicas is None:
            async with self.read_sessionmaker() as session:
                yield session
            return
        route = await self._route(token)
        async with self.replicas.session(route) as session:
            yield session

    @asynccontextmanager
    async def read_connection(
        self, token: Token | str | None = None
    ) -> AsyncIterator[AsyncConnection]:
        """A connection for Core reads (autocommit on PostgreSQL, like ``reading``; routed to a
        standby like ``reading`` when there are replicas)."""
        if self.replicas is None:
            with translated():
                async with self.reader.connect() as conn:
                    yield conn
            return
        from qulab.core import consistency

        if consistency.in_unit_of_work():
            with translated():
                async with self.reader.connect() as conn:
                    yield conn
            return
        async with self.replicas.connect(consistency.required(token)) as conn:
            yield conn

    async def _route(self, token: Token | str | None) -> Any:
        from qulab.core import consistency
        from qulab.core.replicas import Route

        assert self.replicas is not None
        if consistency.in_unit_of_work():  # a unit's reads see its own database: the primary
            return Route(self.replicas, None, None)
        return await self.replicas.route(consistency.required(token))

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection without a session (the relay, migrations); failures come out as
        QuLab's errors."""
        with translated():
            async with self.engine.connect() as conn:
                yield conn

    def kept_connection(self, setup: Sequence[str] = ()) -> KeptConnection:
        """A connection to hold across transactions (closed by its holder); ``setup`` are
        session settings (``SET ...``) for it."""
        return KeptConnection(self.engine, setup)

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[Any]:
        """A bare driver connection of its own (asyncpg, or aiosqlite on SQLite), outside the
        pool and SQLAlchemy: the floor a read is measured against. Failures in the block come
        out as QuLab's errors."""
        url = self.engine.url
        with translated():
            if url.get_backend_name() == "postgresql":
                import asyncpg  # the drivers load with the engine's dialect, not with this module

                dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
                conn = await asyncpg.connect(dsn, timeout=self.settings.database.connect_timeout)
                try:
                    yield conn
                finally:
                    await conn.close()
            else:
                import aiosqlite

                async with aiosqlite.connect(url.database or ":memory:") as sqlite:
                    yield sqlite

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that commits when the block succeeds."""
        with translated():
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def session_scope(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block succeeds and rolls back on any exception.

        It records no domain events and runs no handlers: changes to users, scores or
        assessments go through the UnitOfWork, so that caches and consumers hear of them."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    def pool_status(self) -> PoolStatus:
        return pool_status(self.engine)

    @property
    def pre_ping(self) -> PingStats | None:
        """What pre-pinging idle connections has cost so far; None when the pool does not."""
        return ping_stats(self.engine)

    def count_statements(self) -> AbstractContextManager[StatementCounter]:
        return count_statements(self.engine)

    async def ping(self) -> None:
        """Open a connection once; raises ServiceUnavailable if the database cannot be reached."""
        async with self.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        if self.replicas is not None:
            await self.replicas.dispose()
        await self.engine.dispose()
