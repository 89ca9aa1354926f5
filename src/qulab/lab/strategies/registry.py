"""Build a strategy by name on a fresh backend of the configured kind (Redis or in process)."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisClusterException, RedisError

from qulab.core import (
    CacheBackend,
    CacheUnavailable,
    InvalidInput,
    MemoryBackend,
    is_redis_cluster,
    redis_backend,
)
from qulab.lab.redis_keys import scan_keys
from qulab.lab.strategies.base import Strategy
from qulab.lab.strategies.channel import (
    InvalidationChannel,
    LocalChannel,
    LocalHub,
    RedisChannel,
)
from qulab.lab.strategies.invalidate import Invalidate
from qulab.lab.strategies.refresh_ahead import RefreshAhead
from qulab.lab.strategies.rows import RowRead, ScratchRows
from qulab.lab.strategies.tiered import TwoTier
from qulab.lab.strategies.ttl_only import TtlOnly
from qulab.lab.strategies.two_tier import TwoTierCache
from qulab.lab.strategies.write_behind import WriteBehind
from qulab.lab.strategies.write_through import WriteThrough

log = logging.getLogger(__name__)

CLUSTER_CONNECTIONS = 2**31  # redis-py's own default: no bound

STRATEGY_NAMES = (
    "ttl-only",
    "invalidate",
    "write-through",
    "write-behind",
    "refresh-ahead",
    "two-tier",
)


class StrategyFactory:
    """Strategies over ``rows``, each on its own backend and its own key prefix. The Redis
    timeouts are generous: an experiment measures a slow answer rather than abort on it.

    On a Redis Cluster (``redis+cluster://``) each strategy's keys of one row share a hash tag
    (``keys.row_part``), so its scripts run on one node, as on one server."""

    def __init__(
        self,
        rows: ScratchRows,
        *,
        redis_url: str | None,
        prefix: str,
        ttl: float,
        max_entries: int = 100_000,
        socket_timeout: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self.rows = rows
        self.redis_url = redis_url
        self.prefix = prefix
        self.ttl = ttl
        self.max_entries = max_entries
        self.socket_timeout = socket_timeout
        self.rng = rng or random.Random()
        self._hubs: dict[str, LocalHub] = {}
        self._shared_memory: dict[str, MemoryBackend] = {}

    def backend(self) -> CacheBackend:
        if self.redis_url:
            return redis_backend(self.redis_url, **self._redis_options())
        return MemoryBackend(self.max_entries)

    def _redis_options(self) -> dict[str, Any]:
        """On a cluster the connections per node are not bounded: redis-py's cluster client
        has no pool that waits, so past its bound a command fails at once, and a stampede
        (hundreds of readers of one key, so of one node) would measure that, not the cache."""
        options: dict[str, Any] = {"socket_timeout": self.socket_timeout}
        if is_redis_cluster(self.redis_url or ""):
            options["max_connections"] = CLUSTER_CONNECTIONS
        return options

    async def probe(self) -> None:
        """Fail now, with CacheUnavailable, if the configured Redis does not answer."""
        backend = self.backend()
        try:
            await backend.server_info()
        finally:
            await backend.close()

    async def clear(self) -> None:
        """Remove every key under this factory's prefix (and only those)."""
        if not self.redis_url:
            return
        backend = redis_backend(self.redis_url, **self._redis_options())
        try:
            client = backend.client()
            found = [key async for key in scan_keys(client, f"{self.prefix}*", 500)]
            keys = [key.decode() if isinstance(key, bytes) else key for key in found]
            if keys:
                await backend.delete(keys)
        except (RedisError, RedisClusterException, OSError, CacheUnavailable) as error:
            log.warning("keys under %s not removed: %s", self.prefix, error)
        finally:
            await backend.close()

    def channel(self, name: str) -> InvalidationChannel:
        if self.redis_url:
            return RedisChannel(self.redis_url, f"{self.prefix}{name}:invalidations")
        return LocalChannel(self._hubs.setdefault(name, LocalHub()))

    def two_tier_cache(self, name: str = "two-tier") -> TwoTierCache[RowRead]:
        """One more client of the two-tier cache ``name``: its own L1, the shared L2 (in
        process, one store shared by every client of ``name``) and the shared channel."""
        l2: CacheBackend
        if self.redis_url:
            l2 = self.backend()
        else:
            l2 = self._shared_memory.setdefault(name, MemoryBackend(self.max_entries))
        return TwoTierCache(l2, self.channel(name), RowRead, prefix=self.space(name), ttl=self.ttl)

    def space(self, name: str) -> str:
        return f"{self.prefix}{name}:"

    async def build(self, name: str) -> Strategy:
        builders: dict[str, Callable[[], Strategy]] = {
            "ttl-only": lambda: TtlOnly(self.backend(), self.rows, self.space(name), self.ttl),
            "invalidate": lambda: Invalidate(self.backend(), self.rows, self.space(name), self.ttl),
            "write-through": lambda: WriteThrough(
                self.backend(), self.rows, self.space(name), self.ttl
            ),
            "write-behind": lambda: WriteBehind(
                self.backend(), self.rows, self.space(name), self.ttl
            ),
            "refresh-ahead": lambda: RefreshAhead(
                self.backend(),
                self.rows,
                self.space(name),
                self.ttl,
                rng=random.Random(self.rng.random()),
            ),
        }
        if name == "two-tier":
            cache = self.two_tier_cache(name)
            await cache.start()
            return TwoTier(cache, self.rows)
        if name not in builders:
            raise InvalidInput("strategy", f"unknown strategy {name!r}; known: {known()}")
        return builders[name]()


def known() -> str:
    return ", ".join(STRATEGY_NAMES)


def parse_strategies(text: str) -> list[str]:
    """``a,b,c`` into known names, in the order given, without repeats."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InvalidInput("strategies", f"name at least one of: {known()}")
    unknown = [name for name in names if name not in STRATEGY_NAMES]
    if unknown:
        raise InvalidInput("strategies", f"unknown {', '.join(unknown)}; known: {known()}")
    return list(dict.fromkeys(names))
