"""PostgreSQL LISTEN/NOTIFY: the inserting transaction notifies, the relay listens.

NOTIFY is transactional: it is delivered when (and only if) the transaction that wrote the
events commits, so a relay never wakes for events it cannot see yet.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

NOTIFY = text("SELECT pg_notify(:channel, '')")


async def notify_outbox(session: AsyncSession, channel: str) -> None:
    await session.execute(NOTIFY, {"channel": channel})


def asyncpg_dsn(url: URL) -> str:
    """The plain ``postgresql://`` DSN asyncpg takes, from a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgListener:
    """A dedicated asyncpg connection LISTENing on ``channel``; sets ``wake`` on every NOTIFY.

    If it cannot connect, or its connection drops, ``ensure()`` reports False and the relay
    polls; the next ``ensure()`` tries again.
    """

    def __init__(
        self, dsn: str, channel: str, wake: asyncio.Event, *, timeout: float = 5.0
    ) -> None:
        self._dsn = dsn
        self._channel = channel
        self._wake = wake
        self._timeout = timeout
        self._conn: Any = None

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def ensure(self) -> bool:
        if self.listening:
            return True
        await self.close()
        import asyncpg  # only a relay on PostgreSQL listens

        try:
            async with asyncio.timeout(self._timeout):  # a stalled server must not hold the relay
                self._conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
                await self._conn.add_listener(self._channel, self._on_notify)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            reason = str(error) or type(error).__name__
            log.warning("LISTEN %s unavailable, polling instead: %s", self._channel, reason)
            await self.close()
            return False
        # Anything committed while not listening is found by the pass that follows.
        self._wake.set()
        return True

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            import asyncpg

            try:
                await conn.close(timeout=2)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                conn.terminate()
