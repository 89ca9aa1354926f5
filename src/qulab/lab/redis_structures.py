"""What QuLab keeps in Redis, and which Redis structure each thing is.

On Redis: the keys under QuLab's own prefixes only (the cache namespace and the outbox streams),
found with SCAN … MATCH and a bound, never KEYS; for each its TYPE, time to live, MEMORY USAGE,
OBJECT ENCODING and why that structure; for streams their consumer groups (XINFO GROUPS); and
the two-tier invalidation channels with their subscriber counts (PUBSUB NUMSUB; a channel is not
a key). On the embedded default: the same view of the in-process cache and memory broker, saying
which Redis structure each thing would be.

On a Redis Cluster (``redis+cluster://``) the same view: every master is scanned, each key is
described by the master of its slot, and a channel's subscribers are counted on every node
(a subscriber listens on one node; PUBLISH reaches all of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from qulab.core import (
    CacheUnavailable,
    MemoryBackend,
    redact_text,
    redact_url,
    redis_client,
    stream_name,
)
from qulab.core.outbox import MemoryBroker, Publisher
from qulab.lab.redis_keys import scan_keys

DEFAULT_LIMIT = 200
SCAN_COUNT = 100
TWO_TIER_CHANNEL = "two-tier:invalidations"

WHY = {
    "entry": "string: one cached read model (JSON), read and replaced whole; SET … EX gives "
    "it its TTL",
    "generation": "string: a counter INCR'd on invalidation; a miss stores its value only if "
    "the counter has not moved",
    "counters": "hash: named counters (hits, misses, …) bumped in place with HINCRBY and read "
    "together with HGETALL",
    "samples": "list: a capped window of latencies, RPUSH then LTRIM keeps the newest",
    "stream": "stream: an append-only log of events with ids; consumer groups remember what "
    "each group has read and acknowledged",
    "channel": "pub/sub channel: not a key, nothing stored; whoever is subscribed now hears "
    "each invalidation",
    "other": "a key of one of the caching-strategy experiments",
}


@dataclass(frozen=True)
class StreamGroup:
    name: str
    consumers: int
    pending: int
    last_delivered: str


@dataclass(frozen=True)
class StoredThing:
    """One key (or channel) and what it is."""

    key: str
    role: str  # entry, generation, counters, samples, stream, channel, other
    redis_type: str  # TYPE (or what it would be on Redis)
    ttl_s: float | None  # None: no expiry
    memory_bytes: int | None
    encoding: str | None
    why: str
    length: int | None = None  # stream entries, list items, hash fields
    groups: tuple[StreamGroup, ...] = ()
    subscribers: int | None = None


@dataclass(frozen=True)
class StoreView:
    backend: str  # "redis" or "in-process"
    address: str
    patterns: tuple[str, ...]
    things: tuple[StoredThing, ...]
    truncated: bool

    def of_role(self, role: str) -> list[StoredThing]:
        return [thing for thing in self.things if thing.role == role]


def classify(key: str, cache_prefix: str) -> str:
    """The role of a key under the cache prefix, by its name (see qulab.core.cache.core; on a
    cluster an entry is ``{prefix}{{family:id}}``, its generation ``{prefix}gen:{{family:id}}``)."""
    rest = key.removeprefix(cache_prefix).removeprefix("{")
    if rest.startswith("gen:"):
        return "generation"
    if rest.startswith("stats:"):
        return "samples" if rest.endswith(("_s",)) else "counters"
    if rest.startswith(("user:", "latest_airscore:")):
        return "entry"
    return "other"


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


async def _scan(client: Any, pattern: str, limit: int) -> tuple[list[str], bool]:
    """Up to ``limit`` keys matching ``pattern`` (SCAN, never KEYS); True when more exist."""
    found: list[str] = []
    async for key in scan_keys(client, pattern, SCAN_COUNT):
        if len(found) >= limit:
            return found, True
        found.append(_text(key))
    return found, False


async def _describe(client: Any, key: str, role: str) -> StoredThing | None:
    async with client.pipeline(transaction=False) as pipe:
        pipe.type(key)
        pipe.pttl(key)
        pipe.memory_usage(key)
        pipe.object("encoding", key)
        kind, pttl, memory, encoding = await pipe.execute(raise_on_error=False)
    kind = _text(kind)
    if kind == "none":  # gone between SCAN and now
        return None
    length: int | None = None
    groups: tuple[StreamGroup, ...] = ()
    if kind == "stream":
        length = int(await client.xlen(key))
        groups = tuple(
            StreamGroup(
                _text(group["name"]),
                int(group["consumers"]),
                int(group["pending"]),
                _text(group["last-delivered-id"]),
            )
            for group in await client.xinfo_groups(key)
        )
    elif kind == "hash":
        length = int(await client.hlen(key))
    elif kind == "list":
        length = int(await client.llen(key))
    ttl = None if not isinstance(pttl, int) or pttl < 0 else pttl / 1000
    return StoredThing(
        key=key,
        role=role,
        redis_type=kind,
        ttl_s=ttl,
        memory_bytes=memory if isinstance(memory, int) else None,
        encoding=None if isinstance(encoding, Exception) or encoding is None else _text(encoding),
        why=WHY[role],
        length=length,
        groups=groups,
    )


async def redis_view(
    url: str, cache_prefix: str, stream_prefix: str = "", *, limit: int = DEFAULT_LIMIT
) -> StoreView:
    """What QuLab created in the Redis at ``url``: keys under ``cache_prefix`` and the outbox
    streams ``{stream_prefix}outbox.event.*``, at most ``limit`` of each; and the two-tier
    invalidation channels under ``cache_prefix`` with their subscriber counts.

    Raises CacheUnavailable when Redis cannot be reached.
    """
    cache_pattern = f"{cache_prefix}*"
    stream_pattern = stream_name("*", stream_prefix)
    client = redis_client(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        cache_keys, more_cache = await _scan(client, cache_pattern, limit)
        stream_keys, more_streams = await _scan(client, stream_pattern, limit)
        things: list[StoredThing] = []
        for key in sorted(cache_keys):
            if fnmatchcase(key, stream_pattern):
                continue  # a stream under the cache prefix: described with the streams
            role = classify(key, cache_prefix)
            thing = await _describe(client, key, role)
            if thing is not None:
                things.append(thing)
        for key in sorted(stream_keys):
            thing = await _describe(client, key, "stream")
            if thing is not None and thing.redis_type == "stream":
                things.append(thing)
        for channel, count in await _subscribers(client, cache_prefix):
            things.append(
                StoredThing(
                    key=_text(channel),
                    role="channel",
                    redis_type="pub/sub channel",
                    ttl_s=None,
                    memory_bytes=None,
                    encoding=None,
                    why=WHY["channel"],
                    subscribers=count,
                )
            )
    except (RedisError, RedisClusterException, OSError) as error:
        raise CacheUnavailable(f"redis {redact_url(url)}: {redact_text(str(error), url)}") from None
    finally:
        await client.aclose()
    return StoreView(
        backend="redis",
        address=redact_url(url),
        patterns=(cache_pattern, stream_pattern, f"PUBSUB CHANNELS {cache_prefix}*"),
        things=tuple(things),
        truncated=more_cache or more_streams,
    )


async def _subscribers(client: Any, cache_prefix: str) -> list[tuple[str, int]]:
    """The channels under ``cache_prefix`` (and the two-tier one) with their subscribers, summed
    over every node of a cluster."""
    nodes = client.get_nodes() if isinstance(client, RedisCluster) else [None]
    counts: dict[str, int] = {f"{cache_prefix}{TWO_TIER_CHANNEL}": 0}
    for node in nodes:
        target = {} if node is None else {"target_nodes": node}
        for channel in await client.pubsub_channels(f"{cache_prefix}*", **target):
            counts.setdefault(_text(channel), 0)
    for node in nodes:
        target = {} if node is None else {"target_nodes": node}
        for channel, count in await client.pubsub_numsub(*sorted(counts), **target):
            counts[_text(channel)] += int(count)
    return sorted(counts.items())


_AS_REDIS = {
    "entry": ("string", "embstr or raw"),
    "generation": ("string", "int"),
    "counters": ("hash", "listpack"),
    "samples": ("list", "quicklist"),
}


def memory_view(
    backend: MemoryBackend,
    publisher: Publisher | None,
    cache_prefix: str,
    stream_prefix: str = "",
    *,
    limit: int = DEFAULT_LIMIT,
) -> StoreView:
    """The in-process cache and memory broker, each thing with the Redis structure it would be
    (encodings are what Redis would pick for such small values)."""
    things: list[StoredThing] = []
    items = sorted(backend.inventory(), key=lambda item: item.key)
    truncated = len(items) > limit
    for item in items[:limit]:
        role = item.kind if item.kind in _AS_REDIS else "other"
        redis_type, encoding = _AS_REDIS.get(role, ("string", "raw"))
        things.append(
            StoredThing(
                key=item.key,
                role=role,
                redis_type=redis_type,
                ttl_s=item.ttl,
                memory_bytes=item.size,
                encoding=encoding,
                why=WHY[role],
            )
        )
    if isinstance(publisher, MemoryBroker):
        per_stream: dict[str, int] = {}
        for delivered in publisher.messages():
            name = stream_name(delivered.message.aggregate_type, stream_prefix)
            per_stream[name] = per_stream.get(name, 0) + 1
        for name, count in sorted(per_stream.items()):
            things.append(
                StoredThing(
                    key=name,
                    role="stream",
                    redis_type="stream",
                    ttl_s=None,
                    memory_bytes=None,
                    encoding="stream",
                    why=WHY["stream"],
                    length=count,
                )
            )
    things.append(
        StoredThing(
            key=f"{cache_prefix}{TWO_TIER_CHANNEL}",
            role="channel",
            redis_type="pub/sub channel",
            ttl_s=None,
            memory_bytes=None,
            encoding=None,
            why=WHY["channel"] + " (in process: a local hub instead)",
        )
    )
    return StoreView(
        backend="in-process",
        address=backend.address,
        patterns=(f"{cache_prefix}*", stream_name("*", stream_prefix)),
        things=tuple(things),
        truncated=truncated,
    )
