"""Caching strategies behind one read/write interface, for comparing them on real workloads.

``ttl-only``, ``invalidate``, ``write-through``, ``write-behind``, ``refresh-ahead`` and
``two-tier`` each read and write the same scratch rows (``ScratchRows``) under their own key
prefix. ``TwoTierCache`` is usable on its own: an in-process L1 in front of a shared L2, kept
coherent by broadcasting invalidations.
"""

from qulab.lab.strategies.base import Read, Strategy
from qulab.lab.strategies.channel import (
    Invalidation,
    InvalidationChannel,
    LocalChannel,
    LocalHub,
    RedisChannel,
)
from qulab.lab.strategies.entries import VersionedEntries
from qulab.lab.strategies.invalidate import Invalidate
from qulab.lab.strategies.refresh_ahead import RefreshAhead
from qulab.lab.strategies.registry import (
    STRATEGY_NAMES,
    StrategyFactory,
    parse_strategies,
)
from qulab.lab.strategies.rows import RowRead, ScratchRows
from qulab.lab.strategies.tiered import TwoTier
from qulab.lab.strategies.ttl_only import TtlOnly
from qulab.lab.strategies.two_tier import Tier, TierRead, TwoTierCache
from qulab.lab.strategies.write_behind import WriteBehind
from qulab.lab.strategies.write_through import WriteThrough

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
