"""``two-tier``: the rows read through a TwoTierCache, invalidated (and broadcast) after commit."""

from __future__ import annotations

from qulab.lab.strategies.base import Read
from qulab.lab.strategies.rows import RowRead, ScratchRows
from qulab.lab.strategies.two_tier import Tier, TwoTierCache


class TwoTier:
    name = "two-tier"

    def __init__(self, cache: TwoTierCache[RowRead], rows: ScratchRows) -> None:
        self.cache = cache
        self.rows = rows

    async def read(self, ident: str) -> Read:
        result = await self.cache.get(ident, lambda: self.rows.load(ident))
        return Read(result.value, result.tier is not Tier.DATABASE)

    async def write(self, ident: str, version: int) -> None:
        await self.rows.write(ident, version)
        await self.cache.invalidate(ident)

    async def expire(self, ident: str) -> None:
        await self.cache.drop_local(ident)
        await self.cache.backend.delete([self.cache.key(ident)])

    async def close(self) -> None:
        await self.cache.close()
