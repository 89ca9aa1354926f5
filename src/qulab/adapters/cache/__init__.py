"""The read-through cache: Redis or in-process, invalidated after commit, measured."""

from qulab.adapters.cache.backends import CacheBackend, Lookup, MemoryBackend, RedisBackend
from qulab.adapters.cache.breaker import BreakerState, CircuitBreaker
from qulab.adapters.cache.core import Cache, CacheResult, CacheStatus, Family, Outcome, build_cache
from qulab.adapters.cache.repository import (
    CachedUserRepository,
    read_latest_score_cached,
    read_user_cached,
)
from qulab.adapters.cache.stats import FamilyStats, StatsSnapshot, average_access_time
from qulab.domain.errors import CacheUnavailable

__all__ = [
    "BreakerState",
    "Cache",
    "CacheBackend",
    "CacheResult",
    "CacheStatus",
    "CacheUnavailable",
    "CachedUserRepository",
    "CircuitBreaker",
    "Family",
    "FamilyStats",
    "Lookup",
    "MemoryBackend",
    "Outcome",
    "RedisBackend",
    "StatsSnapshot",
    "average_access_time",
    "build_cache",
    "read_latest_score_cached",
    "read_user_cached",
]
