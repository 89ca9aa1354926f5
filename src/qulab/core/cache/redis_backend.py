"""The Redis cache backend: what ``qulab.core.cache.backends`` describes, on a Redis server
shared by every process using the same prefix (imported only when Redis is configured)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from qulab.core.cache.backends import DEFAULT_MAX_VALUE_BYTES, Lookup
from qulab.core.cache.lane import Lane, Script
from qulab.core.errors import CacheUnavailable, UnusableEntry
from qulab.core.urls import is_redis_cluster, redact_text, redact_url

log = logging.getLogger(__name__)


# KEYS: the entry, its generation. ARGV[1]: the size limit. The reply is {entry, generation};
# an entry of another type reads as 1, one above the limit as 2 (and is never sent), a
# generation of another type as 1; a missing (or empty) one as nil.
_LOOKUP = Script("""
local size = redis.pcall('STRLEN', KEYS[1])
local value = false
if type(size) == 'table' then
  value = 1
elseif size > tonumber(ARGV[1]) then
  value = 2
elseif size > 0 then
  value = redis.call('GET', KEYS[1])
end
local generation = redis.pcall('GET', KEYS[2])
if type(generation) == 'table' then generation = 1 end
return {value, generation}
""")
_FLAWS = {1: "wrong_type", 2: "oversize"}

# A generation key of another type cannot vouch for a store: refuse it (the next bump repairs it).
_SET_IF_GENERATION = Script("""
local current = redis.pcall('GET', KEYS[2])
if type(current) == 'table' and current.err then return 0 end
if (current or '') ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
""")

# KEYS: the generation keys (ARGV[2] of them), then the entries to drop. A generation that
# cannot be incremented (another type, not a number) is replaced by a fresh random one, which no
# reader can have seen, so one broken key never blocks an invalidation. ARGV[4], when given, is
# a commit's WAL position: the generation becomes ``random@position`` (the highest position it
# has recorded), and a bump without one keeps the position a generation already records.
_BUMP_GENERATIONS = """
local count = tonumber(ARGV[2])
local floor = tonumber(ARGV[4] or '0')
for i = 1, count do
  local bumped = nil
  if floor == 0 then bumped = redis.pcall('INCR', KEYS[i]) end
  if floor > 0 or (type(bumped) == 'table' and bumped.err) then
    local was = redis.pcall('GET', KEYS[i])
    local kept = 0
    if type(was) == 'string' then kept = tonumber(string.match(was, '@(%d+)$') or '0') end
    local top = math.max(kept, floor)
    if top > 0 then
      redis.call('SET', KEYS[i], ARGV[3] .. '@' .. string.format('%.0f', top))
    else
      redis.call('SET', KEYS[i], ARGV[3])
    end
  end
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
for i = count + 1, #KEYS do
  redis.call('DEL', KEYS[i])
end
return count
"""


class RedisBackend:
    """Redis through ``redis.asyncio``: one connection pool per event loop, short timeouts and no
    client-side retries (the circuit breaker decides when to try again). Every failure surfaces
    as CacheUnavailable. The read-through path (``lookup``, ``set_if_generation``) runs on a
    lean lane of its own connections (see ``lane``)."""

    kind = "redis"
    shared = True
    hash_tags = False  # keys as the cache names them (a cluster needs hash tags)

    def __init__(
        self,
        url: str,
        *,
        socket_timeout: float = 0.25,
        max_connections: int = 50,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ):
        self.url = url
        self.address = redact_url(url)
        self.socket_timeout = socket_timeout
        self.max_connections = max_connections
        self.max_value_bytes = max_value_bytes
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lane: Lane | None = None
        self._bump: Any = None

    def client(self) -> aioredis.Redis:
        """The client bound to the running loop (a new loop gets a new pool)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A blocking pool: a burst of concurrent calls waits for a free connection instead of
            # failing with "too many connections" (which would look like an outage).
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=self.max_connections,
                timeout=max(1.0, 4 * self.socket_timeout),
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                retry=Retry(NoBackoff(), 0),
            )
            self._client = aioredis.Redis.from_pool(pool)
            self._loop = loop
            self._bump = self._client.register_script(_BUMP_GENERATIONS)
        return self._client

    def lane(self) -> Lane:
        """The hot-path lane bound to the running loop (a new loop gets a new lane)."""
        lane = self._lane
        if lane is None or lane.loop is not asyncio.get_running_loop():
            lane = self._lane = Lane(
                self.url,
                self.address,
                timeout=self.socket_timeout,
                max_connections=self.max_connections,
            )
        return lane

    async def _run(self, what: str, operation: Any) -> Any:
        try:
            return await operation
        except (RedisError, OSError, TimeoutError) as error:
            detail = redact_text(str(error), self.url)
            raise CacheUnavailable(f"redis {self.address} {what}: {detail}") from error

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        values = await self._run("MGET", self.client().mget(list(keys)))
        return list(values)

    async def get(self, key: str) -> bytes | None:
        """One command, like GET, but never more than ``max_value_bytes`` + 1 bytes on the wire.
        A missing key reads as empty, which no cached value is."""
        try:
            reply: Any = await self.client().getrange(key, 0, self.max_value_bytes)
        except (RedisError, OSError, TimeoutError) as error:
            if isinstance(error, ResponseError) and str(error).startswith("WRONGTYPE"):
                raise UnusableEntry(key, "wrong_type") from error
            raise CacheUnavailable(f"redis {self.address} GETRANGE: {error}") from error
        value: bytes = reply
        if len(value) > self.max_value_bytes:
            raise UnusableEntry(key, "oversize")
        return value or None

    async def get_generation(self, gen_key: str) -> bytes | None:
        return await self.get(gen_key)

    async def lookup(self, key: str, gen_key: str) -> Lookup:
        lane = self._lane
        if lane is None or lane.loop is not asyncio.get_running_loop():
            lane = self.lane()
        try:
            value, generation = await lane.run_script(
                _LOOKUP, [key, gen_key], [self.max_value_bytes]
            )
        except ResponseError as error:
            raise CacheUnavailable(f"redis {self.address} EVALSHA: {error}") from error
        flaw = None
        if type(value) is int:
            flaw, value = _FLAWS.get(value, "wrong_type"), None
        if type(generation) is int:
            return Lookup(value, None, flaw, True)
        return Lookup(value, generation, flaw)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._run("SET", self.client().set(key, value, px=_ms(ttl)))

    async def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        return int(await self._run("DEL", self.client().delete(*keys)))

    async def set_if_generation(
        self, key: str, value: bytes, ttl: float, gen_key: str, generation: bytes | None
    ) -> bool:
        args = [value, generation or b"", _ms(ttl)]
        try:
            stored = await self.lane().run_script(_SET_IF_GENERATION, [key, gen_key], args)
        except ResponseError as error:
            raise CacheUnavailable(f"redis {self.address} EVALSHA: {error}") from error
        return bool(stored)

    async def bump_generations(
        self,
        gen_keys: Sequence[str],
        drop_keys: Sequence[str],
        gen_ttl: float,
        *,
        floor: int | None = None,
    ) -> None:
        self.client()
        args = _bump_args(gen_ttl, len(gen_keys), floor)
        await self._run("EVALSHA", self._bump(keys=[*gen_keys, *drop_keys], args=args))

    async def add_counters(self, key: str, deltas: Mapping[str, int]) -> None:
        async with self.client().pipeline(transaction=False) as pipe:
            for name, delta in deltas.items():
                pipe.hincrby(key, name, delta)
            await self._run("HINCRBY", pipe.execute())

    async def read_counters(self, key: str) -> dict[str, int]:
        raw = await self._run("HGETALL", self.client().hgetall(key))
        return {name.decode(): int(value) for name, value in raw.items()}

    async def push_samples(self, key: str, samples: Sequence[float], cap: int) -> None:
        if not samples:
            return
        async with self.client().pipeline(transaction=False) as pipe:
            pipe.rpush(key, *(f"{s:.9f}" for s in samples))
            pipe.ltrim(key, -cap, -1)
            await self._run("RPUSH", pipe.execute())

    async def read_samples(self, key: str) -> list[float]:
        raw = await self._run("LRANGE", self.client().lrange(key, 0, -1))
        return [float(value) for value in raw]

    async def clear_stats(self, keys: Sequence[str]) -> None:
        await self.delete(keys)

    async def server_info(self) -> dict[str, str]:
        info = await self._run("INFO", self.client().info("server"))
        return {"version": str(info.get("redis_version", "?"))}

    async def close(self) -> None:
        lane, self._lane = self._lane, None
        if lane is not None:
            await lane.close()
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except (RedisError, OSError, RuntimeError) as error:
                log.debug("closing the redis client failed: %s", error)


def redis_backend(url: str, **options: Any) -> RedisBackend:
    """The backend for ``url``: a ``RedisClusterBackend`` for ``redis+cluster://`` (loaded only
    then), a ``RedisBackend`` otherwise."""
    if is_redis_cluster(url):
        from qulab.core.cache.redis_cluster_backend import RedisClusterBackend

        return RedisClusterBackend(url, **options)
    return RedisBackend(url, **options)


def _bump_args(gen_ttl: float, count: int, floor: int | None) -> list[int]:
    """The bump script's arguments: the generations' TTL, how many of its keys are generations,
    a fresh random generation for keys that are not counters, and the commit's position."""
    args = [_ms(gen_ttl), count, secrets.randbits(62) + 1]
    return [*args, floor] if floor else args


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
