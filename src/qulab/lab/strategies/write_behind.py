"""``write-behind``: a write lands in the cache and a queue; a flusher writes the database.

The caller is answered as soon as the cache holds the new version, and the flusher commits
the queued rows in batches (only the newest version of a row is written). The price is
durability: whatever is still queued when the flusher dies never reaches the database.
``kill()`` shows it by stopping the flusher without a final flush.

A kill waits for a batch already being written to finish (commit or roll back) before it
stops the flusher. Cancelling a task in the middle of a transaction would leave the
connection's lock behind in this process, which a real crash never does: the database
drops a dead client's transaction, but a cancelled SQLite write in a living process keeps
the file locked for every other writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from qulab.core import CacheBackend, QulabError
from qulab.lab.strategies.rows import PAYLOAD, RowRead, ScratchRows
from qulab.lab.strategies.write_through import VersionedReads

log = logging.getLogger(__name__)


class WriteBehind(VersionedReads):
    name = "write-behind"

    def __init__(
        self,
        backend: CacheBackend,
        rows: ScratchRows,
        prefix: str,
        ttl: float,
        *,
        batch_size: int = 64,
        interval: float = 0.005,
    ) -> None:
        super().__init__(backend, rows, prefix, ttl)
        self.batch_size = batch_size
        self.interval = interval
        self.queued = 0
        self.flushed_batches = 0
        self.killed = False
        self._pending: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # held while a batch is in a transaction
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> dict[str, int]:
        """Rows queued and not yet committed: id -> newest version."""
        return dict(self._pending)

    async def write(self, ident: str, version: int) -> None:
        await self.entries.put(RowRead(id=ident, version=version, payload=PAYLOAD))
        self._pending[ident] = max(version, self._pending.get(ident, version))
        self.queued += 1
        if self.killed:
            return  # acknowledged, and lost: nothing will ever flush it
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flusher())
        self._wake.set()

    async def _flusher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.interval)  # let a batch gather
            while self._pending:
                await self._flush_batch()

    async def _flush_batch(self) -> None:
        async with self._writing:
            batch = dict(list(self._pending.items())[: self.batch_size])
            for ident in batch:
                del self._pending[ident]
            try:
                await self.rows.write_many(batch)
            except asyncio.CancelledError:
                self._requeue(batch)  # a stop in the middle of a batch: close() writes it again
                raise
            except QulabError as error:
                failed: QulabError | None = error
                self._requeue(batch)
            else:
                failed = None
        if failed is not None:
            log.warning("write-behind flush of %d row(s) failed, retrying: %s", len(batch), failed)
            await asyncio.sleep(max(self.interval, 0.05))
            return
        self.flushed_batches += 1

    def _requeue(self, batch: dict[str, int]) -> None:
        for ident, version in batch.items():
            self._pending[ident] = max(version, self._pending.get(ident, version))

    async def flush(self) -> None:
        """Commit everything queued now (a graceful shutdown does this)."""
        while self._pending:
            await self._flush_batch()

    async def kill(self) -> int:
        """Stop the flusher at once, as a crash would: returns how many rows were still queued
        (their newest versions will never reach the database)."""
        self.killed = True
        await self._stop()
        return len(self._pending)

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            async with self._writing:  # never inside a transaction
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        try:
            if not self.killed:
                await self._stop()
                await self.flush()
        finally:
            await super().close()
