"""Cache backends behind one small async protocol: Redis and a bounded in-process TTL/LRU store.

Besides get/set/delete a backend keeps *generations*: a counter per key that invalidation bumps.
On a miss, a reader reads the generation before loading from the database and stores its value
only if the generation is still the same (``set_if_generation``), so a value loaded before a
commit can never be written back after that commit's invalidation. Both backends do the check
and the write atomically (a Lua script on Redis; no await in between in process), and bump the
generation and drop the entry in one step (another script on Redis), so a hit needs no
generation check. ``lookup`` reads an entry and its generation together (one command on Redis),
so a hit costs one round trip and a miss two (the lookup and the guarded store).

After a commit on a database with read replicas, ``bump_generations`` is given that commit's
WAL position (``floor``): the new generation reads ``n@floor`` (the highest floor the key has
seen), so a reader learns from its lookup which position a fill must have replayed, and a store
under that generation is vouched for by the same compare as always.

An entry that belongs to one key and cannot be used (a Redis value of another type, a value
above ``max_value_bytes``) raises UnusableEntry from ``get``: a miss for that key alone, never
an outage. Such a value is not read in full, and the next store overwrites it.

Counters (``add_counters``/``read_counters``) and latency samples hold the statistics; on Redis
they are shared by every process using the same prefix.

``RedisBackend`` lives in ``qulab.core.cache.redis_backend`` (named here too, imported on first
use), so that a process with the in-process cache never loads the Redis client.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from qulab.core.errors import UnusableEntry

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
        self,
        gen_keys: Sequence[str],
        drop_keys: Sequence[str],
        gen_ttl: float,
        *,
        floor: int | None = None,
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
        # The WAL position each generation records, and the highest one evicted with its key.
        self._lsn: dict[str, int] = {}
        self._evicted_lsn = 0
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
        lsn = self._lsn.get(key, 0) if key in self._gens else self._evicted_lsn
        if lsn:
            return f"{value}@{lsn}".encode()
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
        self,
        gen_keys: Sequence[str],
        drop_keys: Sequence[str],
        gen_ttl: float,
        *,
        floor: int | None = None,
    ) -> None:
        for gen_key in gen_keys:
            self._gen_seq = max(self._gen_seq, self._gen_floor) + 1
            self._gens[gen_key] = self._gen_seq
            self._gens.move_to_end(gen_key)
            if floor:
                self._lsn[gen_key] = max(floor, self._lsn.get(gen_key, 0))
        while len(self._gens) > self.max_entries:
            evicted_key, evicted = self._gens.popitem(last=False)
            self._gen_floor = max(self._gen_floor, evicted)
            self._evicted_lsn = max(self._evicted_lsn, self._lsn.pop(evicted_key, 0))
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


def __getattr__(name: str) -> Any:
    if name == "RedisBackend":
        from qulab.core.cache.redis_backend import RedisBackend

        return RedisBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
