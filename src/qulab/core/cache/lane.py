"""A lean request/response lane to Redis for the cache's hot path (lookups and guarded stores).

redis-py's pool pays, on every command, for a pool lock, a readiness probe of the socket and
observability hooks, and with a socket timeout for one task (``wait_for``) around the write and
one timer around the read. The lane keeps its own few connections (built by redis-py from the
same URL, so authentication, database and TLS are the same), sends one command at a time on
each, and bounds every call with one watchdog per lane instead of one timer per call: a call
still unanswered after ``timeout`` is cut off within another half ``timeout`` by aborting its
connection, and fails as CacheUnavailable like any other outage.

A connection is reused only after a complete reply; anything else (an error on the wire,
a cancellation, a timeout) discards it. An idle connection the server closed is noticed before
it is reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import deque
from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError, ResponseError

from qulab.core.errors import CacheUnavailable
from qulab.core.urls import redact_text


class Lane:
    """Up to ``max_connections`` connections bound to the event loop that created the lane."""

    def __init__(self, url: str, address: str, *, timeout: float, max_connections: int) -> None:
        # The pool is only a factory here: its URL parsing and connection kwargs, never its
        # checkout path. No socket timeout: the watchdog bounds each call.
        self._factory = ConnectionPool.from_url(
            url,
            socket_timeout=None,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.url = url
        self.address = address
        self.timeout = timeout
        self.max_connections = max_connections
        self._loop = asyncio.get_running_loop()
        self._idle: list[AbstractConnection] = []
        self._busy: dict[AbstractConnection, float] = {}  # connection -> deadline
        self._expired: set[AbstractConnection] = set()
        self._waiters: deque[asyncio.Future[AbstractConnection]] = deque()
        self._opened = 0
        self._watchdog: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def execute(self, *args: Any, retry: bool = True) -> Any:
        """Send one command and return its reply. A ResponseError (the command's own error,
        such as WRONGTYPE) is raised as is; anything else becomes CacheUnavailable.

        Only idempotent commands go through the lane: one that failed on a reused connection
        (the server may have dropped it since) is sent once more on a new one."""
        connection = self._take() or await self._wait_for_connection()
        reused = connection.is_connected
        try:
            if not reused:
                # The handshake's replies are read without a socket timeout: bound it here.
                async with asyncio.timeout(2 * self.timeout):
                    await _connect(connection)
            self._busy[connection] = self._loop.time() + self.timeout
            if self._watchdog is None:
                self._arm()
            await connection.send_packed_command(connection.pack_command(*args), False)
            reply = await connection.read_response()
        except ResponseError:
            if connection not in self._busy:  # refused during the handshake
                self._discard(connection)
                raise CacheUnavailable(f"redis {self.address}: the handshake failed") from None
            self._release(connection)
            raise
        except BaseException as error:
            timed_out = connection in self._expired or isinstance(error, TimeoutError)
            self._discard(connection)
            if timed_out:
                raise CacheUnavailable(
                    f"redis {self.address} {args[0]}: no reply within {self.timeout:g}s"
                ) from error
            if isinstance(error, RedisError | OSError) and reused and retry:
                self._drop_idle()  # dropped with this one, most likely
                return await self.execute(*args, retry=False)
            if isinstance(error, RedisError | OSError):
                detail = redact_text(str(error), self.url)
                raise CacheUnavailable(f"redis {self.address} {args[0]}: {detail}") from error
            raise
        self._release(connection)
        return reply

    async def run_script(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA, loading the script once if the server does not know it yet."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.execute("SCRIPT", "LOAD", script.source)
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    # -- connections ---------------------------------------------------------------------------

    def _new_connection(self) -> AbstractConnection:
        made: AbstractConnection = self._factory.make_connection()  # type: ignore[no-untyped-call]
        return made

    def _take(self) -> AbstractConnection | None:
        while self._idle:
            connection = self._idle.pop()
            if _still_open(connection):
                return connection
            self._discard(connection)
        if self._opened < self.max_connections:
            self._opened += 1
            return self._new_connection()
        return None

    async def _wait_for_connection(self) -> AbstractConnection:
        if self._closed:
            raise CacheUnavailable(f"redis {self.address}: the cache is closed")
        waiter: asyncio.Future[AbstractConnection] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            # As long as redis-py's blocking pool would wait: a burst queues, it is no outage.
            async with asyncio.timeout(max(1.0, 4 * self.timeout)):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())  # handed over just as this caller gave up
            waiter.cancel()
            if isinstance(error, TimeoutError):
                raise CacheUnavailable(f"redis {self.address}: no connection came free") from None
            raise

    def _release(self, connection: AbstractConnection) -> None:
        self._busy.pop(connection, None)
        if self._closed:
            self._discard(connection)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            self._opened -= 1
            _abort(connection)

    def _discard(self, connection: AbstractConnection) -> None:
        self._busy.pop(connection, None)
        self._expired.discard(connection)
        self._opened -= 1
        _abort(connection)
        # A waiter may now open a connection of its own.
        while self._waiters and not self._closed:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._opened += 1
                waiter.set_result(self._new_connection())
                return

    # -- the watchdog ----------------------------------------------------------------------------

    def _arm(self) -> None:
        self._watchdog = self._loop.call_later(self.timeout / 2, self._patrol)

    def _patrol(self) -> None:
        """Abort the connections of calls past their deadline; stay armed while calls run."""
        self._watchdog = None
        now = self._loop.time()
        for connection, deadline in list(self._busy.items()):
            if deadline <= now and connection not in self._expired:
                self._expired.add(connection)
                _abort(connection)
        if self._busy:
            self._arm()

    async def close(self) -> None:
        """Close the idle connections; a call still running closes its own when it ends."""
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._drop_idle()
        for waiter in self._waiters:
            waiter.cancel()
        self._waiters.clear()


class Script:
    """A Lua script known by its SHA1, as EVALSHA wants it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


async def _connect(connection: AbstractConnection) -> None:
    await connection.connect()  # type: ignore[no-untyped-call]


def _abort(connection: AbstractConnection) -> None:
    writer = getattr(connection, "_writer", None)
    if writer is not None:
        with contextlib.suppress(RuntimeError):  # its event loop is closed: nothing left to do
            writer.transport.abort()
    connection._reader = None
    connection._writer = None


def _still_open(connection: AbstractConnection) -> bool:
    """False for a connection whose server hung up while it sat idle."""
    reader = getattr(connection, "_reader", None)
    if reader is None:
        return True  # never connected: connects on first use
    writer = getattr(connection, "_writer", None)
    return not (reader.at_eof() or writer is None or writer.transport.is_closing())
