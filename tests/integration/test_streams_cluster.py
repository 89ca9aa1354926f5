"""Redis Streams on a Redis Cluster (``redis+cluster://``): the relay's publisher writes each
aggregate type's stream on the master of its slot; a consumer group reads them all and acks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from qulab.core.consumers import RedisStreamsSource
from qulab.core.errors import BrokerUnavailable
from qulab.core.ids import new_id
from qulab.core.outbox import OutboxMessage, RedisStreamsPublisher, stream_name
from qulab.core.redis_cluster import cluster_client, slot_of
from tests import services
from tests.redis_cluster import RedisCluster, delete_cluster_prefix

KINDS = ("User", "AIRScore", "Assessment")


@pytest.fixture
async def prefix(redis_cluster: RedisCluster) -> AsyncIterator[str]:
    """A stream prefix of this test; its streams are deleted afterwards."""
    name = services.unique_name("qulab_test") + ":"
    yield name
    await delete_cluster_prefix(redis_cluster.url, name)


def message(aggregate_type: str, sequence: int) -> OutboxMessage:
    now = datetime.now(UTC)
    return OutboxMessage(new_id(), "thing.happened", aggregate_type, new_id(), now, "{}", sequence)


async def test_published_events_land_on_their_streams_and_a_group_consumes_them_all(
    redis_cluster: RedisCluster, prefix: str
) -> None:
    streams = [stream_name(kind, prefix) for kind in KINDS]
    assert len({slot_of(stream) for stream in streams}) == len(KINDS)  # three slots
    sent = [message(kind, n) for n, kind in enumerate(KINDS * 2)]
    publisher = RedisStreamsPublisher(redis_cluster.url, prefix=prefix, timeout=2.0)
    source = RedisStreamsSource(
        redis_cluster.url, group="g", member="m", aggregate_types=KINDS, prefix=prefix
    )
    try:
        assert await publisher.publish(sent) == {}
        newest = await publisher.recent("User", 1)
        assert [fields["id"] for _, fields in newest] == [sent[3].id]

        await source.start()
        received = []
        while batch := await source.fetch(10, 0.05):
            received += batch
            await source.ack(batch)

        assert sorted(d.event_id for d in received) == sorted(m.id for m in sent)
        lag = await source.lag()
        assert (lag.undelivered, lag.unacked) == (0, 0)
    finally:
        await publisher.close()
        await source.close()
    client = cluster_client(redis_cluster.url)
    try:
        assert [await client.xlen(stream) for stream in streams] == [2, 2, 2]
    finally:
        await client.aclose()


async def test_a_cluster_that_does_not_answer_is_an_outage_not_a_failed_event() -> None:
    url = f"redis+cluster://127.0.0.1:{services.free_port()}"
    publisher = RedisStreamsPublisher(url, prefix="none:", timeout=0.5)
    try:
        with pytest.raises(BrokerUnavailable, match=r"Redis at redis\+cluster://127\.0\.0\.1:"):
            await publisher.publish([message("User", 1)])
    finally:
        await publisher.close()
