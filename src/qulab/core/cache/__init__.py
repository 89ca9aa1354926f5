"""The read-through cache: Redis or in-process, invalidated after commit, measured."""

from qulab.core.cache import codec
from qulab.core.cache.backends import CacheBackend, Lookup, MemoryBackend, RedisBackend
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
