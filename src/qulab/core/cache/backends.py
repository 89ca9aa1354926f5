"""Cache backends behind one small async protocol: Redis and a bounded in-process TTL/LRU store.

Besides get/set/delete a backend keeps *generations*: a counter per key that invalidation bumps.
On a miss, a reader reads the generation before loading from the database and stores its value
only if the generation is still the same (``set_if_generation``), so a value loaded before a
commit can never be written back after that commit's invalidation. Both backends do the check
and the write atomically (a Lua script on Redis; no await in between in process), and bump the
generation and drop the entry in one step (another script on Redis), so a hit needs no
generation check. ``lookup`` reads an entry and its generation together (one command on Redis),
so a hit costs one round trip and a miss two (the lookup and the guarded store).

An entry that belongs to one key and cannot be used (a Redis value of another type, a value
above ``max_value_bytes``) raises UnusableEntry from ``get``: a miss for that key alone, never
an outage. Such a value is not read in full, and the next store overwrites it.

Counters (``add_counters``/``read_counters``) and latency samples hold the statistics; on Redis
they are shared by every process using the same prefix.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from qulab.core.cache.lane import Lane, Script
from qulab.core.errors import CacheUnavailable, UnusableEntry
from qulab.core.urls import redact_text, redact_url

log = logging.getLogger(__name__)


DEFAULT_MAX_VALUE_BYTES = 1_048_576


class Lookup(NamedTuple):
    """An entry and its generation, read together. ``flaw`` names why an entry that exists
    cannot be used (``wrong_type``, ``oversize``); ``broken_generation`` says the generation key
    is not a counter (it must be replaced before a store can be vouched for)."""

    value: bytes | None
    generation: bytes | None
    flaw: str | None = None
    broken_generation: bool = False


class StoredItem(NamedTuple):
    """One thing the in-process store holds: its key, what it is (``entry``, ``generation``,
    ``counters``, ``samples``), seconds left to live (None: no expiry) and its size in bytes."""

    key: str
    kind: str
    ttl: float | None
    size: int


class CacheBackend(Protocol):
    kind: str
    address: str
    shared: bool
    max_value_bytes: int

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def get(self, key: str) -> bytes | None: ...

    async def get_generation(self, gen_key: str) -> bytes | None: ...

    async def lookup(self, key: str, gen_key: str) -> Lookup: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def delete(self, keys: Sequence[str]) -> int: ...

    async def set_if_generation(
        self, key: str, value: bytes, ttl: float, gen_key: str, generation: bytes | None
    ) -> bool: ...

    async def bump_generations(
        self, gen_keys: Sequence[str], drop_keys: Sequence[str], gen_ttl: float
    ) -> None: ...

    async def add_counters(self, key: str, deltas: Mapping[str, int]) -> None: ...

    async def read_counters(self, key: str) -> dict[str, int]: ...

    async def push_samples(self, key: str, samples: Sequence[float], cap: int) -> None: ...

    async def read_samples(self, key: str) -> list[float]: ...

    async def clear_stats(self, keys: Sequence[str]) -> None: ...

    async def server_info(self) -> dict[str, str]: ...

    async def close(self) -> None: ...


class MemoryBackend:
    """In-process store: per-entry TTL with LRU eviction beyond ``max_entries``.

    Generations live in their own bounded LRU. When one is evicted, the ``floor`` rises to its
    value and every unknown key reports the floor, so an eviction can only make a pending store
    fail (a miss), never let a stale one through: generations come from one rising counter.
    """

    kind = "memory"
    shared = False

    def __init__(
        self,
        max_entries: int = 10_000,
        *,
        clock: Any = time.monotonic,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        self.address = f"in-process (max {max_entries} entries)"
        self.max_entries = max_entries
        self.max_value_bytes = max_value_bytes
        self._clock = clock
        # key -> (expires at, value); the order is the LRU order, most recent last.
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._gens: OrderedDict[str, int] = OrderedDict()
        self._gen_floor = 0
        self._gen_seq = 0
        self._counters: dict[str, dict[str, int]] = {}
        self._samples: dict[str, list[float]] = {}

    def _expire(self) -> None:
        now = self._clock()
        for key in [key for key, (expires, _) in self._data.items() if expires <= now]:
            del self._data[key]

    def __len__(self) -> int:
        self._expire()
        return len(self._data)

    def keys(self) -> list[str]:
        self._expire()
        return list(self._data.keys())

    def inventory(self) -> list[StoredItem]:
        """What the store holds, for display: entries (with their time to live), generations,
        counters and latency samples, each with its size in bytes."""
        self._expire()
        now = self._clock()
        items = [
            StoredItem(key, "entry", expires - now, len(value))
            for key, (expires, value) in self._data.items()
        ]
        items += [StoredItem(key, "generation", None, len(str(g))) for key, g in self._gens.items()]
        items += [
            StoredItem(key, "counters", None, sum(len(n) + 8 for n in counters))
            for key, counters in self._counters.items()
        ]
        items += [StoredItem(key, "samples", None, 8 * len(s)) for key, s in self._samples.items()]
        return items

    def _generation(self, key: str) -> bytes | None:
        value = self._gens.get(key, self._gen_floor)
        return str(value).encode() if value else None

    def _get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry[1]

    def _put(self, key: str, value: bytes, ttl: float) -> None:
        self._data[key] = (self._clock() + ttl, value)
        self._data.move_to_end(key)
        if len(self._data) > self.max_entries:
            self._expire()
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self._get(key) for key in keys]

    async def get(self, key: str) -> bytes | None:
        value = self._get(key)
        if value is not None and len(value) > self.max_value_bytes:
            raise UnusableEntry(key, "oversize")
        return value

    async def get_generation(self, gen_key: str) -> bytes | None:
        return self._generation(gen_key)

    async def lookup(self, key: str, gen_key: str) -> Lookup:
        value = self._get(key)
        if value is not None and len(value) > self.max_value_bytes:
            return Lookup(None, self._generation(gen_key), "oversize")
        return Lookup(value, self._generation(gen_key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._put(key, value, ttl)

    async def delete(self, keys: Sequence[str]) -> int:
        return sum(self._data.pop(key, None) is not None for key in keys)

    async def set_if_generation(
        self, key: str, value: bytes, ttl: float, gen_key: str, generation: bytes | None
    ) -> bool:
        if self._generation(gen_key) != generation:
            return False
        self._put(key, value, ttl)
        return True

    async def bump_generations(
        self, gen_keys: Sequence[str], drop_keys: Sequence[str], gen_ttl: float
    ) -> None:
        for gen_key in gen_keys:
            self._gen_seq = max(self._gen_seq, self._gen_floor) + 1
            self._gens[gen_key] = self._gen_seq
            self._gens.move_to_end(gen_key)
        while len(self._gens) > self.max_entries:
            _, evicted = self._gens.popitem(last=False)
            self._gen_floor = max(self._gen_floor, evicted)
        for key in drop_keys:
            self._data.pop(key, None)

    async def add_counters(self, key: str, deltas: Mapping[str, int]) -> None:
        counters = self._counters.setdefault(key, {})
        for name, delta in deltas.items():
            counters[name] = counters.get(name, 0) + delta

    async def read_counters(self, key: str) -> dict[str, int]:
        return dict(self._counters.get(key, {}))

    async def push_samples(self, key: str, samples: Sequence[float], cap: int) -> None:
        kept = self._samples.setdefault(key, [])
        kept.extend(samples)
        del kept[:-cap]

    async def read_samples(self, key: str) -> list[float]:
        return list(self._samples.get(key, []))

    async def clear_stats(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._counters.pop(key, None)
            self._samples.pop(key, None)

    async def server_info(self) -> dict[str, str]:
        return {"version": "in-process", "entries": str(len(self))}

    async def close(self) -> None:
        return None


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
# reader can have seen, so one broken key never blocks an invalidation.
_BUMP_GENERATIONS = """
local count = tonumber(ARGV[2])
for i = 1, count do
  local bumped = redis.pcall('INCR', KEYS[i])
  if type(bumped) == 'table' and bumped.err then
    redis.call('SET', KEYS[i], ARGV[3])
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
        self, gen_keys: Sequence[str], drop_keys: Sequence[str], gen_ttl: float
    ) -> None:
        self.client()
        args = [_ms(gen_ttl), len(gen_keys), secrets.randbits(62) + 1]
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


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
