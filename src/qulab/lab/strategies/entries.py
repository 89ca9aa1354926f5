"""Cache entries that carry their row's version, stored only if no newer version is there.

``put`` is a version compare-and-set: it writes an entry unless the key has already held a
newer version. The highest version stored is kept in a *floor* key that outlives the entry,
so even after the entry expires an older value cannot be written back over a newer one.
On Redis the compare and both writes are one Lua script; in process nothing awaits between
them, so they are atomic too.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from qulab.core import CacheBackend, CacheUnavailable, RedisBackend
from qulab.core.cache import codec
from qulab.lab.strategies.keys import row_part
from qulab.lab.strategies.rows import RowRead

log = logging.getLogger(__name__)

_PUT_IF_NEWER = """
local floor = redis.call('GET', KEYS[2])
if floor and tonumber(floor) and tonumber(floor) > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
return 1
"""


def encode(row: RowRead) -> bytes:
    return b"%d|" % row.version + codec.encode(RowRead, row)


def decode(raw: bytes) -> RowRead | None:
    """The row, or None for anything unusable (a miss)."""
    _, separator, body = raw.partition(b"|")
    if not separator:
        return None
    state, row = codec.decode(RowRead, body)
    return row if state is codec.Decoded.VALUE else None


class VersionedEntries:
    def __init__(self, backend: CacheBackend, prefix: str, ttl: float) -> None:
        self.backend = backend
        self.prefix = prefix
        self.ttl = ttl
        self.floor_ttl = max(86_400.0, 4 * ttl)
        self._floors: dict[str, int] = {}
        self._script: Any = None
        self._script_client: Any = None

    def key(self, ident: str) -> str:
        return f"{self.prefix}{row_part(self.backend, ident)}"

    def floor_key(self, ident: str) -> str:
        if getattr(self.backend, "hash_tags", False):
            return f"{self.prefix}floor:{row_part(self.backend, ident)}"
        return f"{self.prefix}floor:{ident}"

    async def get(self, ident: str) -> RowRead | None:
        raw = await self.backend.get(self.key(ident))
        return None if raw is None else decode(raw)

    async def put(self, row: RowRead) -> bool:
        """Store ``row`` unless a newer version of it has been stored; True if stored."""
        key, floor_key, raw = self.key(row.id), self.floor_key(row.id), encode(row)
        if isinstance(self.backend, RedisBackend):
            return await self._put_redis(self.backend, key, floor_key, raw, row.version)
        if self._floors.get(floor_key, -1) > row.version:
            return False
        self._floors[floor_key] = row.version
        await self.backend.set(key, raw, self.ttl)
        return True

    async def _put_redis(
        self, backend: RedisBackend, key: str, floor_key: str, raw: bytes, version: int
    ) -> bool:
        client = backend.client()
        if self._script_client is not client:
            self._script = client.register_script(_PUT_IF_NEWER)
            self._script_client = client
        args = [raw, version, _ms(self.ttl), _ms(self.floor_ttl)]
        try:
            stored = await self._script(keys=[key, floor_key], args=args)
        except (RedisError, OSError, TimeoutError) as error:
            raise CacheUnavailable(f"redis {backend.address} EVALSHA: {error}") from error
        return bool(stored)

    async def drop(self, ident: str) -> None:
        """Drop the entry (as if it expired); the floor stays."""
        await self.backend.delete([self.key(ident)])


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
