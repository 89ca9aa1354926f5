"""Keys under a prefix on one Redis server or on every master of a Redis Cluster.

A cluster's SCAN sees one node's keys only, so on a cluster every master is scanned in turn;
a DEL of several keys must name keys of one hash slot, so there each key goes on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster


async def scan_keys(client: Any, pattern: str, count: int) -> AsyncIterator[bytes | str]:
    """Every key matching ``pattern`` (SCAN … MATCH, never KEYS), on each master in turn when
    ``client`` is a cluster's."""
    if not isinstance(client, RedisCluster):
        async for key in client.scan_iter(match=pattern, count=count):
            yield key
        return
    await client.initialize()
    for node in client.get_primaries():
        async for key in client.scan_iter(match=pattern, count=count, target_nodes=node):
            yield key


async def delete_keys(client: Any, keys: Sequence[bytes | str]) -> int:
    """Delete ``keys``: one DEL on a server, one per key on a cluster. The number deleted."""
    if not keys:
        return 0
    if not isinstance(client, RedisCluster):
        return int(await client.delete(*keys))
    return sum([int(await client.delete(key)) for key in keys])
