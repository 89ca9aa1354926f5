"""Caching strategies behind one read/write interface, for comparing them on real workloads.

``ttl-only``, ``invalidate``, ``write-through``, ``write-behind``, ``refresh-ahead`` and
``two-tier`` each read and write the same scratch rows (``ScratchRows``) under their own key
prefix. ``TwoTierCache`` is usable on its own: an in-process L1 in front of a shared L2, kept
coherent by broadcasting invalidations.
"""

from qulab.adapters.cache.strategies.base import Read, Strategy
from qulab.adapters.cache.strategies.channel import (
    Invalidation,
    InvalidationChannel,
    LocalChannel,
    LocalHub,
    RedisChannel,
)
from qulab.adapters.cache.strategies.entries import VersionedEntries
from qulab.adapters.cache.strategies.invalidate import Invalidate
from qulab.adapters.cache.strategies.refresh_ahead import RefreshAhead
from qulab.adapters.cache.strategies.registry import (
    STRATEGY_NAMES,
    StrategyFactory,
    parse_strategies,
)
from qulab.adapters.cache.strategies.rows import RowRead, ScratchRows
from qulab.adapters.cache.strategies.tiered import TwoTier
from qulab.adapters.cache.strategies.ttl_only import TtlOnly
from qulab.adapters.cache.strategies.two_tier import Tier, TierRead, TwoTierCache
from qulab.adapters.cache.strategies.write_behind import WriteBehind
from qulab.adapters.cache.strategies.write_through import WriteThrough

__all__ = [
    "STRATEGY_NAMES",
    "Invalidate",
    "Invalidation",
    "InvalidationChannel",
    "LocalChannel",
    "LocalHub",
    "Read",
    "RedisChannel",
    "RefreshAhead",
    "RowRead",
    "ScratchRows",
    "Strategy",
    "StrategyFactory",
    "Tier",
    "TierRead",
    "TtlOnly",
    "TwoTier",
    "TwoTierCache",
    "VersionedEntries",
    "WriteBehind",
    "WriteThrough",
    "parse_strategies",
]
