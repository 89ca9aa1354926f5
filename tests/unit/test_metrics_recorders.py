"""The Prometheus recorders the adapters call: bounded label sets, partitions that come and go,
and the no-op recorders used when metrics are off."""

from __future__ import annotations

from qulab.core.metrics import Metrics
from qulab.core.recorders import NO_CACHE_METRICS, NO_CONSUMER_METRICS, NO_RELAY_METRICS
from tests.metrics_support import read_registry


def test_event_types_beyond_the_bound_are_counted_as_other() -> None:
    metrics = Metrics(max_event_types=3)
    types = ["a", "b", "c", "d", "e"]

    metrics.relay.batch(0.01, published=types, failed=[], dead=[])

    seen = read_registry(metrics.registry)
    counted = {
        dict(labels)["event_type"]: value
        for labels, value in seen.series("qulab_outbox_published_total").items()
    }
    assert {name: value for name, value in counted.items() if value} == {
        "a": 1,
        "b": 1,
        "c": 1,
        "other": 2,
    }
    # The domain's own types are always themselves, and start at zero.
    assert counted["user.created"] == 0
    assert counted["score.calculated"] == 0


def test_a_batch_counts_each_event_by_type_and_times_the_publish() -> None:
    metrics = Metrics()

    metrics.relay.batch(0.2, published=["x", "x", "y"], failed=["z", "z"], dead=["z"])

    seen = read_registry(metrics.registry)
    assert seen.value("qulab_outbox_published_total", event_type="x") == 2
    assert seen.value("qulab_outbox_published_total", event_type="y") == 1
    assert seen.value("qulab_outbox_publish_failures_total", event_type="z") == 2
    assert seen.value("qulab_outbox_dead_lettered_total", event_type="z") == 1
    assert seen.value("qulab_outbox_publish_batch_seconds_count") == 1
    assert seen.value("qulab_outbox_publish_batch_seconds_sum") == 0.2


def test_lag_series_follow_the_partitions_reported() -> None:
    metrics = Metrics()
    metrics.relay.backlog(pending=4, failed=1, lag_seconds={"0": 3.0, "1": 0.0})
    metrics.relay.backlog(pending=2, failed=1, lag_seconds={"1": 1.5})

    seen = read_registry(metrics.registry)
    assert seen.series("qulab_outbox_lag_seconds") == {(("partition", "1"),): 1.5}
    assert seen.value("qulab_outbox_pending_events") == 2
    assert seen.value("qulab_outbox_failed_events") == 1


def test_no_backlog_gauge_is_shown_before_the_relay_has_read_the_backlog() -> None:
    metrics = Metrics()
    before = read_registry(metrics.registry)
    metrics.relay.backlog(pending=0, failed=0, lag_seconds={"all": 0.0})
    after = read_registry(metrics.registry)

    for name in ("qulab_outbox_pending_events", "qulab_outbox_failed_events"):
        assert not before.has_family(name)
        assert after.value(name) == 0
    assert not before.has_family("qulab_outbox_lag_seconds")
    assert after.value("qulab_outbox_lag_seconds", partition="all") == 0


def test_cache_reads_land_in_their_latency_buckets() -> None:
    metrics = Metrics()
    metrics.cache.read("user", "HIT", 0.0002)
    metrics.cache.read("user", "HIT", 0.00025)  # a bound is inclusive (le)
    metrics.cache.read("user", "MISS", 3.0)  # beyond the last bound: +Inf only

    seen = read_registry(metrics.registry)

    def bucket(outcome: str, le: str) -> float | None:
        return seen.value("qulab_cache_read_seconds_bucket", family="user", outcome=outcome, le=le)

    assert bucket("hit", "0.0001") == 0
    assert bucket("hit", "0.00025") == 2
    assert bucket("hit", "+Inf") == 2
    assert bucket("miss", "2.5") == 0
    assert bucket("miss", "+Inf") == 1
    assert seen.value("qulab_cache_read_seconds_count", family="user", outcome="hit") == 2
    assert seen.value("qulab_cache_read_seconds_sum", family="user", outcome="hit") == 0.00045
    assert seen.value("qulab_cache_reads_total", family="user", outcome="hit") == 2
    assert seen.value("qulab_cache_reads_total", family="latest_airscore", outcome="bypass") == 0


def test_counters_carry_no_created_series() -> None:
    metrics = Metrics()
    metrics.relay.batch(0.1, published=["x"], failed=[], dead=[])
    assert "_created" not in read_registry(metrics.registry).text


def test_the_no_op_recorders_take_every_call() -> None:
    NO_CACHE_METRICS.read("user", "HIT", 0.001)
    NO_CACHE_METRICS.error("user")
    NO_CACHE_METRICS.invalidation(2, 0.001)
    NO_RELAY_METRICS.batch(0.1, published=["x"], failed=[], dead=[])
    NO_RELAY_METRICS.backlog(pending=0, failed=0, lag_seconds={})
    NO_CONSUMER_METRICS.processed("x")
    NO_CONSUMER_METRICS.duplicate("x")
    NO_CONSUMER_METRICS.lag(1.0)
    NO_CONSUMER_METRICS.waiting(1)
    assert not NO_RELAY_METRICS.wants_backlog
