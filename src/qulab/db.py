"""Engine factory (dialect-aware pooling), sessions, pool readout and the statement counter."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool, QueuePool, StaticPool

from qulab.config import Settings
from qulab.errors import PoolExhausted, ServiceUnavailable

log = logging.getLogger(__name__)


def is_sqlite_memory(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def make_engine(settings: Settings, *, null_pool: bool = False) -> AsyncEngine:
    """Build an async engine suited to the configured database.

    PostgreSQL gets a queue pool sized by the settings; a SQLite file gets the same pool plus WAL,
    a busy timeout and foreign keys on every connection; SQLite ``:memory:`` shares one connection
    so every session sees the same database. ``null_pool`` opens a fresh connection per checkout
    (used to measure what pooling saves).
    """
    url = settings.database_url
    kwargs: dict[str, Any] = {"echo": settings.echo_sql}
    if null_pool:
        kwargs["poolclass"] = NullPool
    elif is_sqlite_memory(url):
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs.update(
            poolclass=AsyncAdaptedQueuePool,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout,
            pool_recycle=settings.pool_recycle,
            pool_pre_ping=settings.pool_pre_ping,
        )
    engine = create_async_engine(url, **kwargs)
    if settings.is_sqlite:
        _install_sqlite_pragmas(engine, settings.sqlite_busy_timeout_ms, is_sqlite_memory(url))
    return engine


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


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


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
        return {
            "kind": self.kind,
            "size": self.size,
            "checked_in": self.checked_in,
            "checked_out": self.checked_out,
            "overflow": self.overflow,
            "max_overflow": self.max_overflow,
            "timeout": self.timeout,
        }


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
    counter = StatementCounter()

    def _before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        counter._record(statement)

    target = engine.sync_engine
    event.listen(target, "before_cursor_execute", _before)
    try:
        yield counter
    finally:
        event.remove(target, "before_cursor_execute", _before)


def translate_operational_error(error: BaseException) -> BaseException:
    """Map driver and pool failures to QuLab's errors (anything else is returned as is)."""
    if isinstance(error, exc.TimeoutError):
        detail = error.args[0] if error.args else ""
        return PoolExhausted(
            f"pool exhausted: no database connection became free within the timeout ({detail})"
        )
    if isinstance(error, exc.OperationalError | exc.InterfaceError | OSError | ConnectionError):
        return ServiceUnavailable(f"database unreachable: {_first_line(error)}")
    return error


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


class Database:
    """An engine with its session factory: the one handle the rest of QuLab passes around."""

    def __init__(self, settings: Settings, *, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings)
        self.sessionmaker = make_sessionmaker(self.engine)
        # Called with each UnitOfWork after it commits (e.g. cache invalidation).
        self.commit_listeners: list[Callable[[Any], Awaitable[None] | None]] = []

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

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    @asynccontextmanager
    async def session_scope(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block succeeds and rolls back on any exception."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException as error:
                await session.rollback()
                translated = translate_operational_error(error)
                if translated is not error:
                    raise translated from error
                raise

    async def get_session(self) -> AsyncIterator[AsyncSession]:
        """Dependency-injection style: yields a session inside ``session_scope``."""
        async with self.session_scope() as session:
            yield session

    def pool_status(self) -> PoolStatus:
        return pool_status(self.engine)

    def count_statements(self) -> AbstractContextManager[StatementCounter]:
        return count_statements(self.engine)

    async def ping(self) -> None:
        """Open a connection once; raises ServiceUnavailable if the database cannot be reached."""
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except Exception as error:
            translated = translate_operational_error(error)
            raise translated from error

    async def dispose(self) -> None:
        await self.engine.dispose()
