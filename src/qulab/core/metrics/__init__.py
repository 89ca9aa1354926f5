"""Prometheus metrics of a long-running process: the relay, the lab app, a consumer.

``Metrics`` holds one process's registry and the recorders the adapters call; ``serve_metrics``
serves it on ``/metrics``; ``serve_consumer_metrics`` is the consumer's one-call start.
Nothing here runs unless an entry point asks for it: without it the adapters record nowhere.
"""

from qulab.core.metrics.consumer import ConsumerMetrics
from qulab.core.metrics.consumer_hook import ConsumerMetricsServer, serve_consumer_metrics
from qulab.core.metrics.registry import Metrics
from qulab.core.metrics.server import DEFAULT_METRICS_HOST, MetricsServer, serve_metrics

__all__ = [
    "DEFAULT_METRICS_HOST",
    "ConsumerMetrics",
    "ConsumerMetricsServer",
    "Metrics",
    "MetricsServer",
    "serve_consumer_metrics",
    "serve_metrics",
]
