"""``write-through``: after each commit the new value is stored in the cache.

Entries carry their row's version and are stored by compare-and-set (``VersionedEntries``),
so when two writers commit one after the other but store in the opposite order, the older
value is refused. Misses are read through with single-flight and stored the same way.
"""

from __future__ import annotations

from qulab.core import CacheBackend
from qulab.lab.strategies.base import Read
from qulab.lab.strategies.entries import VersionedEntries
from qulab.lab.strategies.flight import SingleFlight
from qulab.lab.strategies.rows import RowRead, ScratchRows


class VersionedReads:
    """Read-through over versioned entries: a miss loads once and stores if not older."""

    def __init__(self, backend: CacheBackend, rows: ScratchRows, prefix: str, ttl: float) -> None:
        self.rows = rows
        self.entries = VersionedEntries(backend, prefix, ttl)
        self.flights: SingleFlight[RowRead | None] = SingleFlight()

    async def read(self, ident: str) -> Read:
        cached = await self.entries.get(ident)
        if cached is not None:
            return Read(cached, True)
        value, _ = await self.flights.run(ident, lambda: self._fill(ident))
        return Read(value, False)

    async def _fill(self, ident: str) -> RowRead | None:
        # A reader that missed just before another flight stored the row finds it here.
        cached = await self.entries.get(ident)
        if cached is not None:
            return cached
        row = await self.rows.load(ident)
        if row is not None:
            await self.entries.put(row)
        return row

    async def expire(self, ident: str) -> None:
        await self.entries.drop(ident)

    async def close(self) -> None:
        await self.entries.backend.close()


class WriteThrough(VersionedReads):
    name = "write-through"

    async def write(self, ident: str, version: int) -> None:
        await self.put(await self.commit(ident, version))

    async def commit(self, ident: str, version: int) -> RowRead:
        """The database half of a write."""
        return await self.rows.write(ident, version)

    async def put(self, row: RowRead) -> bool:
        """The cache half: store the committed row unless a newer one is there already."""
        return await self.entries.put(row)
