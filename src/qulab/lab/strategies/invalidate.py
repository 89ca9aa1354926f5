"""``invalidate``: QuLab's read-through cache as it is, invalidated after each commit.

Reads go through ``Cache.read_through`` (single-flight, generation-guarded stores); a write
commits, then bumps the row's generation and drops its entry, so a load that started before
the commit can never store the old value afterwards.
"""

from __future__ import annotations

import asyncio

from qulab.core import Cache, CacheBackend, Family, Outcome
from qulab.lab.strategies.base import Read
from qulab.lab.strategies.rows import RowRead, ScratchRows


class Invalidate:
    name = "invalidate"

    def __init__(self, backend: CacheBackend, rows: ScratchRows, prefix: str, ttl: float) -> None:
        self.rows = rows
        self.family: Family[RowRead] = Family("row", RowRead, ttl)
        self.cache = Cache(backend, families=(self.family,), prefix=prefix, jitter=0)
        # One invalidation at a time: while one is in flight, Cache.invalidate_users counts the
        # other's keys as not delivered and warns that the cache is unreachable.
        self._invalidating = asyncio.Lock()

    async def read(self, ident: str) -> Read:
        result = await self.cache.read_through(self.family, ident, lambda: self.rows.load(ident))
        return Read(result.value, result.outcome is Outcome.HIT)

    async def write(self, ident: str, version: int) -> None:
        await self.rows.write(ident, version)
        async with self._invalidating:
            await self.cache.invalidate(self.family, [ident])

    async def expire(self, ident: str) -> None:
        """Drop the entry through the cache's own invalidation: a bare delete would leave the
        just-finished load's flight lingering, and readers would share it without a load."""
        async with self._invalidating:
            await self.cache.invalidate(self.family, [ident])

    async def close(self) -> None:
        await self.cache.close()
