"""Connection pool gauges, read from the pool's own counters when scraped (no query)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from qulab.core.db import Database

_GAUGES = (
    ("qulab_db_pool_size", "Connections the pool keeps open (QULAB_POOL_SIZE).", "size"),
    (
        "qulab_db_pool_max_overflow",
        "Connections allowed beyond the pool size under load (QULAB_MAX_OVERFLOW).",
        "max_overflow",
    ),
    ("qulab_db_pool_checked_out", "Connections in use right now.", "checked_out"),
    ("qulab_db_pool_checked_in", "Idle connections waiting in the pool.", "checked_in"),
    ("qulab_db_pool_overflow", "Overflow connections open right now.", "overflow"),
)


def pool_state(db: Database) -> Iterator[Metric]:
    """The pool's gauges; nothing for pools without a size (SQLite in memory, NullPool)."""
    status = db.pool_status()
    if status.size is None:
        return
    for name, documentation, field in _GAUGES:
        value = getattr(status, field)
        if value is not None:
            yield GaugeMetricFamily(name, documentation, value=float(value))
