"""Stand-ins for a PostgreSQL server that misbehaves: one that never answers, one that refuses
every login. Each listens on a free port of its own; nothing touches the shared server."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SSL_REQUEST_CODE = 80877103


@contextmanager
def silent_postgres() -> Iterator[int]:
    """A port whose TCP handshake succeeds (the kernel's backlog) but that never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def _error_response(sqlstate: str, message: str) -> bytes:
    fields = b"".join(
        code + value.encode() + b"\0"
        for code, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


def _read_packet(conn: socket.socket) -> bytes:
    header = conn.recv(4, socket.MSG_WAITALL)
    if len(header) < 4:
        return b""
    (length,) = struct.unpack("!i", header)
    return conn.recv(length - 4, socket.MSG_WAITALL)


def _refuse(conn: socket.socket, sqlstate: str, message: str) -> None:
    with conn:
        packet = _read_packet(conn)
        if packet[:4] == struct.pack("!i", SSL_REQUEST_CODE):
            conn.sendall(b"N")  # no TLS; the client sends its startup message next
            packet = _read_packet(conn)
        if packet:
            conn.sendall(_error_response(sqlstate, message))


@contextmanager
def refusing_postgres(sqlstate: str, message: str) -> Iterator[int]:
    """A server that answers every startup message with a FATAL error (e.g. 28P01)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            _refuse(conn, sqlstate, message)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()
