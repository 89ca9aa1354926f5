"""A running consumer reports what it applied, what it skipped and how far behind it is: its
recorder is the one ``qulab consume run --metrics-port`` serves, scraped over HTTP."""

from __future__ import annotations

from qulab.core.consumers import Consumer, MemorySource
from qulab.core.db import Database
from qulab.core.metrics import Metrics, serve_metrics
from qulab.core.outbox import MemoryBroker, publish_pending
from qulab.platform.projection import ScoreSummaryProjection
from tests import services
from tests.consumer_support import scored_users
from tests.metrics_support import scrape


async def test_a_consumer_counts_applied_events_and_skipped_redeliveries(db: Database) -> None:
    await scored_users(db, [2, 1])  # 2 users created, 3 scores calculated
    broker = MemoryBroker("consumer-metrics", maxlen=1_000)
    await publish_pending(db, broker)
    metrics = Metrics()
    server = serve_metrics(metrics, services.free_port())
    try:
        projection = ScoreSummaryProjection()
        first = MemorySource(broker, aggregate_types=projection.aggregate_types)
        consumer = Consumer(
            db, first, projection, wait=0.2, metrics=metrics.consumer("score-summary")
        )
        applied = await consumer.run_once()
        # The same events again (a redelivery after a crash): every one is a duplicate.
        again = MemorySource(broker, aggregate_types=projection.aggregate_types)
        repeat = Consumer(
            db, again, projection, wait=0.2, metrics=metrics.consumer("score-summary")
        )
        skipped = await repeat.run_once()
        seen = scrape(server.url)
    finally:
        server.close()

    labels = {"consumer": "score-summary", "event_type": "score.calculated"}
    assert (applied.processed, skipped.duplicates) == (5, 5)  # 2 users, 3 scores
    assert seen.value("qulab_consumer_processed_total", **labels) == 3
    assert seen.value("qulab_consumer_duplicates_skipped_total", **labels) == 3
    lag = seen.value("qulab_consumer_lag_seconds", consumer="score-summary", source="AIRScore")
    assert lag is not None and lag >= 0
