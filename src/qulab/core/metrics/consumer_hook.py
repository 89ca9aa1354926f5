"""The one-call hook a consumer process starts its metrics with.

A consumer (``qulab consume run …``) calls ``serve_consumer_metrics(name, port)`` once at start-up,
then reports through ``.recorder`` as it works::

    served = serve_consumer_metrics("projections", port)   # ConfigurationError if taken
    served.metrics.watch(db=runtime.db, cache=runtime.cache)  # its pool and cache too
    served.recorder.processed(event.type)                  # effects and inbox row committed
    served.recorder.duplicate(event.type)                  # id already in the inbox: skipped
    served.recorder.lag(now - event.occurred_at, source=stream)
    served.recorder.waiting(group_lag, source=stream)      # entries not yet delivered
    ...
    served.close()
"""

from __future__ import annotations

from dataclasses import dataclass

from qulab.core.metrics.consumer import ConsumerMetrics
from qulab.core.metrics.registry import Metrics
from qulab.core.metrics.server import DEFAULT_METRICS_HOST, MetricsServer, serve_metrics


@dataclass(frozen=True)
class ConsumerMetricsServer:
    """What ``serve_consumer_metrics`` started: the endpoint and the consumer's recorder."""

    server: MetricsServer
    recorder: ConsumerMetrics

    @property
    def metrics(self) -> Metrics:
        return self.server.metrics

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.close()


def serve_consumer_metrics(
    consumer: str,
    port: int,
    host: str = DEFAULT_METRICS_HOST,
    *,
    port_option: str = "--metrics-port",
    host_option: str = "--metrics-host",
) -> ConsumerMetricsServer:
    """Start this process's metrics (a registry of its own) on ``host:port`` and return the
    recorder of consumer ``consumer``. A port in use raises ConfigurationError (exit 2)."""
    metrics = Metrics()
    server = serve_metrics(metrics, port, host, port_option=port_option, host_option=host_option)
    return ConsumerMetricsServer(server, metrics.consumer(consumer))
