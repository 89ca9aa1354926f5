"""The read-through cache: Redis or in-process, invalidated after commit, measured.

``RedisBackend`` is imported on first use, so that the in-process cache never loads Redis."""

from typing import TYPE_CHECKING, Any

from qulab.core.cache import codec
from qulab.core.cache.backends import CacheBackend, Lookup, MemoryBackend
from qulab.core.cache.breaker import BreakerState, CircuitBreaker
from qulab.core.cache.core import (
    Cache,
    CacheResult,
    CacheStatus,
    Family,
    Outcome,
    Stale,
    build_cache,
)
from qulab.core.cache.stats import FamilyStats, StatsSnapshot, average_access_time
from qulab.core.errors import CacheUnavailable

if TYPE_CHECKING:
    from qulab.core.cache.redis_backend import RedisBackend

__all__ = [
    "BreakerState",
    "Cache",
    "CacheBackend",
    "CacheResult",
    "CacheStatus",
    "CacheUnavailable",
    "CircuitBreaker",
    "Family",
    "FamilyStats",
    "Lookup",
    "MemoryBackend",
    "Outcome",
    "RedisBackend",
    "Stale",
    "StatsSnapshot",
    "average_access_time",
    "build_cache",
    "codec",
]


def __getattr__(name: str) -> Any:
    if name == "RedisBackend":
        from qulab.core.cache.redis_backend import RedisBackend

        globals()[name] = RedisBackend
        return RedisBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
