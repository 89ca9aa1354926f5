"""``ttl-only``: cache-aside with a TTL and nothing else, the naive baseline.

Writes go to the database only, so a cached value stays until it expires however often the
row changes; misses are not coalesced, so an expired hot key sends every reader to the
database at once.
"""

from __future__ import annotations

from qulab.core import CacheBackend
from qulab.core.cache import codec
from qulab.lab.strategies.base import Read
from qulab.lab.strategies.rows import RowRead, ScratchRows


class TtlOnly:
    name = "ttl-only"

    def __init__(self, backend: CacheBackend, rows: ScratchRows, prefix: str, ttl: float) -> None:
        self.backend = backend
        self.rows = rows
        self.prefix = prefix
        self.ttl = ttl

    def key(self, ident: str) -> str:
        return f"{self.prefix}row:{ident}"

    async def read(self, ident: str) -> Read:
        raw = await self.backend.get(self.key(ident))
        if raw is not None:
            state, cached = codec.decode(RowRead, raw)
            if state is codec.Decoded.VALUE:
                return Read(cached, True)
        row = await self.rows.load(ident)
        if row is not None:
            await self.backend.set(self.key(ident), codec.encode(RowRead, row), self.ttl)
        return Read(row, False)

    async def write(self, ident: str, version: int) -> None:
        await self.rows.write(ident, version)

    async def expire(self, ident: str) -> None:
        await self.backend.delete([self.key(ident)])

    async def close(self) -> None:
        await self.backend.close()
