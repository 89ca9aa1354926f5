"""SQLite runs one relay: an exclusive lock on ``<database>.relay.lock`` proves it.

The lock is an OS file lock (``flock``), so it dies with its process: a relay killed with
SIGKILL never leaves a stale lock behind. PostgreSQL needs no guard (SKIP LOCKED).
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from qulab.core.db import Database, is_sqlite_memory
from qulab.core.errors import RelayAlreadyRunning

_memory_held: set[int] = set()
_memory_lock = threading.Lock()


class RelayGuard:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._fd: int | None = None
        self._memory_key: int | None = None

    @property
    def needed(self) -> bool:
        return self.db.dialect == "sqlite"

    @property
    def held(self) -> bool:
        return self._fd is not None or self._memory_key is not None

    def lock_path(self) -> Path:
        return Path(f"{self.db.engine.url.database}.relay.lock")

    def acquire(self) -> None:
        if not self.needed or self.held:
            return
        if is_sqlite_memory(self.db.settings.database.url):
            self._acquire_memory()
            return
        path = self.lock_path()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RelayAlreadyRunning(
                f"another outbox relay (pid {holder}) is already running on {self.db.description};"
                " SQLite supports a single relay: stop that one first, or use PostgreSQL to run"
                " several side by side"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def _acquire_memory(self) -> None:
        key = id(self.db.engine)
        with _memory_lock:
            if key in _memory_held:
                raise RelayAlreadyRunning(
                    f"another outbox relay is already running on {self.db.description};"
                    " SQLite supports a single relay"
                )
            _memory_held.add(key)
        self._memory_key = key

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        if self._memory_key is not None:
            with _memory_lock:
                _memory_held.discard(self._memory_key)
            self._memory_key = None
