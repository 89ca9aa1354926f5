"""Read replica gauges and counters, read from what the last health checks found when scraped
(no query): whether each standby takes reads, its lag, and where reads went."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from qulab.core.replicas import Replicas


def replica_state(replicas: Replicas) -> Iterator[Metric]:
    healthy = GaugeMetricFamily(
        "qulab_db_replica_healthy",
        "1 when the standby takes reads, 0 when it is skipped (down, not a standby, lagging).",
        labels=["replica"],
    )
    lag = GaugeMetricFamily(
        "qulab_db_replica_lag_seconds",
        "The standby's replay lag at its last health check (QULAB_REPLICA_MAX_LAG).",
        labels=["replica"],
    )
    for status in replicas.status():
        healthy.add_metric([status.address], 1.0 if status.healthy else 0.0)
        if status.lag_seconds is not None:
            lag.add_metric([status.address], status.lag_seconds)
    yield healthy
    yield lag
    yield CounterMetricFamily(
        "qulab_db_replica_reads",
        "Reads routed to a standby.",
        value=float(replicas.served),
    )
    yield CounterMetricFamily(
        "qulab_db_replica_fallbacks",
        "Reads a standby would have served that went to the primary (down, lagging, or not yet "
        "at the read's consistency token).",
        value=float(replicas.fallbacks),
    )
