"""A logical replication stream from PostgreSQL, spoken directly (asyncpg does not speak it).

The log-tailing relay keeps one open: ``START_REPLICATION`` on its slot with pgoutput, so the
server decodes each committed transaction once, as it commits, and sends it; nothing is polled
and nothing decoded twice. A task reads the stream into a buffer of whole transactions (and the
relay's marks); the relay takes them in commit order, publishes them, records them, and then
``confirm()``s the position past them: the slot's confirmed position moves only there.

The protocol is PostgreSQL's ("Streaming Replication Protocol" and "Message Flow"): a startup
packet with ``replication=database``, authentication (trust, password, MD5 or SCRAM-SHA-256),
TLS when the URL asks for it, then a simple query that switches the connection to CopyBoth.
Frames from the server: XLogData (``w``: one pgoutput message) and keepalives (``k``); to the
server: standby status updates (``r``) with the confirmed position.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy.engine import URL

from qulab.core.errors import ConfigurationError, ReplicationRefused, ServiceUnavailable
from qulab.core.outbox.pgoutput import Decoder, Mark, Transaction

PROTOCOL = 196608  # 3.0
SSL_REQUEST = 80877103
PG_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds
HIGH_WATER = 20_000  # rows buffered before the stream stops reading (the relay is behind)
HEARTBEAT = 10.0  # seconds between status updates while the stream waits for the relay
CHUNK = 1 << 16  # bytes read from the socket at a time
XLOG_DATA, KEEPALIVE = ord("w"), ord("k")

_HEADER = struct.Struct(">cI")
_INT32 = struct.Struct(">i")
_XLOG = struct.Struct(">QQq")
_KEEPALIVE = struct.Struct(">Qq?")
_STATUS = struct.Struct(">cQQQq?")


@dataclass(frozen=True)
class Address:
    """Where and as whom to connect, from a SQLAlchemy URL."""

    host: str
    port: int
    user: str
    password: str | None
    database: str
    sslmode: str

    @classmethod
    def from_url(cls, url: URL) -> Address:
        query = {k: str(v) for k, v in url.query.items()}
        sslmode = query.get("sslmode") or query.get("ssl") or os.environ.get("PGSSLMODE", "prefer")
        if sslmode in ("true", "True", "1"):
            sslmode = "require"
        if sslmode in ("false", "False", "0"):
            sslmode = "disable"
        user = url.username or os.environ.get("PGUSER") or "postgres"
        return cls(
            host=url.host or query.get("host") or os.environ.get("PGHOST") or "localhost",
            port=int(url.port or os.environ.get("PGPORT") or 5432),
            user=user,
            password=url.password if url.password is not None else os.environ.get("PGPASSWORD"),
            database=url.database or user,
            sslmode=sslmode,
        )


def start_command(slot: str, publication: str) -> str:
    """``START_REPLICATION`` from the slot's confirmed position, pgoutput version 1 on the
    publication, logical decoding messages included (the relay's marks)."""
    ident = '"' + slot.replace('"', '""') + '"'
    publication_list = '"' + publication.replace('"', '""') + '"'
    names = publication_list.replace("'", "''")
    return (
        f"START_REPLICATION SLOT {ident} LOGICAL 0/0 "
        f"(proto_version '1', publication_names '{names}', messages 'true')"
    )


def md5_password(user: str, password: str, salt: bytes) -> bytes:
    """PostgreSQL's MD5 answer: the protocol fixes the hash (a server that asks for it gets it)."""
    inner = hashlib.md5((password + user).encode(), usedforsecurity=False).hexdigest()
    outer = hashlib.md5(inner.encode() + salt, usedforsecurity=False).hexdigest()
    return b"md5" + outer.encode()


class Scram:
    """The client side of SCRAM-SHA-256 (RFC 5802 / 7677) as PostgreSQL uses it (no channel
    binding: ``n,,``)."""

    def __init__(self, user: str, password: str, nonce: str | None = None) -> None:
        self.password = password
        self.nonce = nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        name = user.replace("=", "=3D").replace(",", "=2C")
        self.first_bare = f"n={name},r={self.nonce}"
        self._server_signature = b""

    def first(self) -> bytes:
        return ("n,," + self.first_bare).encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        fields = dict(part.split("=", 1) for part in text.split(","))
        nonce, salt, rounds = fields["r"], base64.b64decode(fields["s"]), int(fields["i"])
        if not nonce.startswith(self.nonce):
            raise ServiceUnavailable("the server's SCRAM nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, rounds)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        message = f"{self.first_bare},{text},{without_proof}".encode()
        signature = hmac.digest(stored_key, message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._server_signature = hmac.digest(server_key, message, "sha256")
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        fields = dict(part.split("=", 1) for part in server_final.decode().split(","))
        if base64.b64decode(fields.get("v", "")) != self._server_signature:
            raise ServiceUnavailable("the server's SCRAM signature does not match")


class WalStream:
    """One replication connection streaming a slot. Open with :meth:`connect`."""

    def __init__(
        self,
        table: str,
        *,
        columns: Collection[str] | None = None,
        high_water: int = HIGH_WATER,
    ) -> None:
        self.decoder = Decoder(table, columns=columns)
        self.high_water = high_water
        self.backend_pid = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._items: deque[Transaction | Mark] = deque()
        self._rows = 0  # rows in the buffer
        self._room = asyncio.Event()
        self._room.set()
        self._arrived = asyncio.Event()
        self._armed: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._confirmed = 0  # what the relay confirmed: every status update reports this
        self._handed = 0  # end of the last transaction the relay took
        self.keepalives = 0  # keepalives received

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        url: URL,
        slot: str,
        publication: str,
        table: str,
        *,
        columns: Collection[str] | None = None,
        within: float = 10.0,
    ) -> WalStream:
        """Connect, authenticate and start streaming ``table``'s rows (``columns`` of them,
        or all). Raises :class:`ReplicationRefused` when the server answers with an error
        (``slot_busy``: another session streams the slot), :class:`ServiceUnavailable` when it
        cannot be reached."""
        stream = cls(table, columns=columns)
        address = Address.from_url(url)
        try:
            async with asyncio.timeout(within):
                await stream._open(address)
                await stream._start(start_command(slot, publication))
        except TimeoutError:
            await stream.close()
            raise ServiceUnavailable(
                f"PostgreSQL at {address.host}:{address.port} did not start the replication "
                f"stream within {within:g}s"
            ) from None
        except OSError as error:
            await stream.close()
            raise ServiceUnavailable(
                f"cannot open a replication connection to {address.host}:{address.port}: {error}"
            ) from None
        except BaseException:
            await stream.close()
            raise
        stream._task = asyncio.create_task(stream._receive(), name="qulab wal stream")
        return stream

    async def _open(self, address: Address) -> None:
        if address.host.startswith("/"):
            path = f"{address.host}/.s.PGSQL.{address.port}"
            self._reader, self._writer = await asyncio.open_unix_connection(path)
        else:
            self._reader, self._writer = await asyncio.open_connection(address.host, address.port)
            if address.sslmode != "disable":
                await self._tls(address)
        params = {
            "user": address.user,
            "database": address.database,
            "replication": "database",
            "application_name": "qulab-relay",
        }
        body = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items())
        body = struct.pack(">i", PROTOCOL) + body + b"\0"
        self._write_raw(struct.pack(">i", len(body) + 4) + body)
        await self._authenticate(address)
        while True:
            kind, payload = await self._message()
            if kind == b"K":
                self.backend_pid = _INT32.unpack_from(payload)[0]
            elif kind == b"Z":
                return

    async def _tls(self, address: Address) -> None:
        assert self._reader is not None and self._writer is not None
        self._write_raw(struct.pack(">ii", 8, SSL_REQUEST))
        answer = await self._reader.readexactly(1)
        if answer != b"S":
            if address.sslmode in ("require", "verify-ca", "verify-full"):
                raise ConfigurationError(
                    f"PostgreSQL at {address.host}:{address.port} does not offer TLS "
                    f"(sslmode={address.sslmode})"
                )
            return
        context = ssl.create_default_context()
        if address.sslmode not in ("verify-ca", "verify-full"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif address.sslmode == "verify-ca":
            context.check_hostname = False
        await self._writer.start_tls(context, server_hostname=address.host)

    async def _authenticate(self, address: Address) -> None:
        scram: Scram | None = None
        while True:
            kind, payload = await self._message()
            if kind != b"R":
                raise ServiceUnavailable(f"unexpected message {kind!r} during authentication")
            code = _INT32.unpack_from(payload)[0]
            if code == 0:
                return
            password = address.password
            if password is None:
                raise ServiceUnavailable(
                    f"PostgreSQL asks for a password for {address.user} and the URL has none"
                )
            if code == 3:
                self._send(b"p", password.encode() + b"\0")
            elif code == 5:
                self._send(b"p", md5_password(address.user, password, payload[4:8]) + b"\0")
            elif code == 10:
                mechanisms = payload[4:].split(b"\0")
                if b"SCRAM-SHA-256" not in mechanisms:
                    raise ServiceUnavailable(f"no SASL mechanism in common: {mechanisms!r}")
                scram = Scram(address.user, password)
                first = scram.first()
                self._send(b"p", b"SCRAM-SHA-256\0" + _INT32.pack(len(first)) + first)
            elif code == 11 and scram is not None:
                self._send(b"p", scram.final(payload[4:]))
            elif code == 12 and scram is not None:
                scram.verify(payload[4:])
            else:
                raise ServiceUnavailable(f"authentication method {code} is not supported")

    async def _start(self, command: str) -> None:
        self._send(b"Q", command.encode() + b"\0")
        while True:
            kind, _payload = await self._message()
            if kind == b"W":  # CopyBothResponse: streaming
                return

    # -- the wire ------------------------------------------------------------------------------

    def _write_raw(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    def _send(self, kind: bytes, payload: bytes) -> None:
        self._write_raw(kind + _INT32.pack(len(payload) + 4) + payload)

    async def _message(self) -> tuple[bytes, bytes]:
        """The next message that is not a notice or a parameter report; an ErrorResponse is
        raised."""
        assert self._reader is not None
        while True:
            kind, length = _HEADER.unpack(await self._reader.readexactly(5))
            payload = await self._reader.readexactly(length - 4)
            if kind == b"E":
                raise _server_error(payload)
            if kind not in (b"N", b"S"):
                return kind, payload

    # -- streaming -----------------------------------------------------------------------------

    async def _receive(self) -> None:
        """Read the stream in chunks and handle every whole frame in each (one await per chunk,
        not two per frame)."""
        assert self._reader is not None
        buffer = b""
        try:
            while True:
                if not self._room.is_set():
                    try:
                        async with asyncio.timeout(HEARTBEAT):
                            await self._room.wait()
                    except TimeoutError:
                        self._status(reply=False)  # still here: the server keeps the stream
                        continue
                chunk = await self._reader.read(CHUNK)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                buffer = buffer + chunk if buffer else chunk
                at, size, arrived = 0, len(buffer), False
                while size - at >= 5:
                    kind, length = _HEADER.unpack_from(buffer, at)
                    end = at + 1 + length
                    if end > size:
                        break
                    arrived |= self._frame(kind, buffer[at + 5 : end])
                    at = end
                buffer = buffer[at:]
                if arrived:
                    self._signal()
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError) as error:
            self._error = ServiceUnavailable(f"the replication stream was cut: {error}")
        except Exception as error:
            self._error = error
        self._signal()

    def _frame(self, kind: bytes, payload: bytes) -> bool:
        """Handle one frame; whether it added to the buffer."""
        if kind == b"d":
            tag = payload[0]
            if tag == XLOG_DATA:
                item = self.decoder.feed(payload[1 + _XLOG.size :])
                if item is None:
                    return False
                self._items.append(item)
                if isinstance(item, Transaction):
                    self._rows += len(item.rows)
                    if self._rows >= self.high_water:
                        self._room.clear()
                return True
            if tag == KEEPALIVE:
                wal_end, _clock, reply = _KEEPALIVE.unpack_from(payload, 1)
                self._keepalive(wal_end, reply)
        elif kind == b"E":
            raise _server_error(payload)
        elif kind == b"c":  # CopyDone: the server ends the stream
            raise ServiceUnavailable("PostgreSQL ended the replication stream")
        return False

    def _keepalive(self, wal_end: int, reply: bool) -> None:
        """Answer a keepalive. When the relay has confirmed everything it took and nothing is
        buffered or half-read, every transaction of the publication before ``wal_end`` was
        handled: the slot may move there too, so that writes to other tables do not make it keep
        WAL while the outbox is quiet."""
        self.keepalives += 1
        idle = not self._items and not self.decoder.inside and self._handed <= self._confirmed
        if idle and wal_end > self._confirmed:
            self._confirmed = self._handed = wal_end
            reply = True
        if reply:
            self._status(reply=False)

    def _status(self, *, reply: bool) -> None:
        if self._writer is None or self._writer.is_closing():
            return
        clock = int((time.time() - PG_EPOCH) * 1_000_000)
        at = self._confirmed
        self._send(b"d", _STATUS.pack(b"r", at, at, at, clock, reply))

    def _signal(self) -> None:
        self._arrived.set()
        if self._armed is not None:
            self._armed()

    # -- for the relay -----------------------------------------------------------------------

    def arm(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever something arrives (the relay's loop sets its wake-up)."""
        self._armed = callback

    def check(self) -> None:
        """Raise what ended the stream, if it ended."""
        if self._error is not None:
            raise self._error
        if self._task is not None and self._task.done() and not self._task.cancelled():
            raise ServiceUnavailable("the replication stream ended")

    @property
    def buffered(self) -> bool:
        return bool(self._items)

    async def wait(self, within: float) -> bool:
        """Wait up to ``within`` seconds for something to arrive; whether anything is buffered."""
        self.check()
        if not self._items:
            self._arrived.clear()
            try:
                async with asyncio.timeout(within):
                    await self._arrived.wait()
            except TimeoutError:
                pass
        self.check()
        return bool(self._items)

    def take(self, rows: int) -> tuple[list[Transaction], list[Mark]]:
        """Whole transactions from the buffer, in commit order, until they hold ``rows`` rows
        (at least one transaction when any is buffered), and the marks read among them."""
        transactions: list[Transaction] = []
        marks: list[Mark] = []
        taken = 0
        while self._items and taken < rows:
            item = self._items.popleft()
            if isinstance(item, Mark):
                marks.append(item)
                continue
            transactions.append(item)
            taken += len(item.rows)
            self._rows -= len(item.rows)
            self._handed = max(self._handed, item.end_lsn)
        if self._rows < self.high_water:
            self._room.set()
        return transactions, marks

    def confirm(self, lsn: int) -> None:
        """Tell the server everything before ``lsn`` is handled: the slot's confirmed position
        moves there (the relay calls this only once the broker took the events)."""
        if lsn > self._confirmed:
            self._confirmed = lsn
            self._status(reply=False)

    @property
    def confirmed(self) -> int:
        """The position last confirmed to the server."""
        return self._confirmed

    @property
    def handed(self) -> int:
        """The end of the last transaction taken from the buffer."""
        return self._handed

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):  # ended already: nothing to add
                await task
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                if not writer.is_closing():
                    writer.write(b"X" + _INT32.pack(4))
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 2.0)
            except (OSError, TimeoutError, ssl.SSLError):
                pass


def _server_error(payload: bytes) -> ReplicationRefused:
    fields: dict[str, str] = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return ReplicationRefused(fields.get("C", ""), fields.get("M", "error"))
