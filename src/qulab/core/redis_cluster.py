"""Redis Cluster clients, from a ``redis+cluster://host:port[,host:port...]`` URL.

Every node the URL names is a seed: the client asks the first that answers for the cluster's
layout, then sends each command to the master of its key's slot, follows MOVED and ASK
redirections, and learns the layout again after a connection error (a failover).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

from qulab.core.urls import cluster_seed_urls, is_redis_cluster

REDIS_SCHEMES = ("redis://", "rediss://", "redis+cluster://", "rediss+cluster://")
"""The URLs a Redis client of QuLab's takes: one server, or a cluster."""

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, RedisClusterException, OSError)
"""What a Redis client raises when the server (or no node of the cluster) answers."""


def cluster_client(url: str, **options: Any) -> RedisCluster:
    """A client of the cluster ``url`` names (``redis+cluster://`` or ``rediss+cluster://``);
    ``options`` are RedisCluster's (timeouts, retries, pool size)."""
    first, *others = cluster_seed_urls(url)
    seeds = [urlsplit(seed) for seed in others]
    nodes = [ClusterNode(seed.hostname or "127.0.0.1", seed.port or 6379) for seed in seeds]
    return RedisCluster.from_url(first, startup_nodes=nodes, **options)


def redis_client(url: str, **options: Any) -> Redis | RedisCluster:
    """A client of one server (``redis://``) or of a cluster (``redis+cluster://``)."""
    if is_redis_cluster(url):
        return cluster_client(url, **options)
    return Redis.from_url(url, **options)


def slot_of(key: str) -> int:
    """The hash slot of ``key`` (its hash tag's, when it has one), as CLUSTER KEYSLOT says."""
    return int(key_slot(key.encode()))


def by_slot(keys: list[str]) -> dict[int, list[str]]:
    """``keys`` grouped by hash slot, in their order: a multi-key command per group touches
    one slot, as a cluster requires."""
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(slot_of(key), []).append(key)
    return groups
