"""The consumer's hook: one call serves /metrics and hands back the objects a consumer updates
(processed, duplicates skipped, lag); scraped over HTTP."""

from __future__ import annotations

import socket

from qulab.core.metrics import serve_consumer_metrics
from tests import services
from tests.metrics_support import scrape


def test_the_consumer_hook_serves_what_the_consumer_reports() -> None:
    port = services.free_port()
    served = serve_consumer_metrics("projections", port)
    try:
        consumer = served.recorder
        consumer.processed("user.created")
        consumer.processed("user.created")
        consumer.processed("score.calculated")
        consumer.duplicate("user.created")
        consumer.lag(2.5, source="outbox.event.User")
        consumer.waiting(7, source="outbox.event.User")

        seen = scrape(served.url)
    finally:
        served.close()

    assert served.url == f"http://127.0.0.1:{port}/metrics"
    labels = {"consumer": "projections"}
    assert seen.value("qulab_consumer_processed_total", event_type="user.created", **labels) == 2
    assert (
        seen.value("qulab_consumer_processed_total", event_type="score.calculated", **labels) == 1
    )
    assert (
        seen.value("qulab_consumer_duplicates_skipped_total", event_type="user.created", **labels)
        == 1
    )
    assert seen.value("qulab_consumer_lag_seconds", source="outbox.event.User", **labels) == 2.5
    assert seen.value("qulab_consumer_lag_messages", source="outbox.event.User", **labels) == 7
    with socket.socket() as again:  # nothing listens there any more
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        again.bind(("127.0.0.1", port))
        again.listen()
