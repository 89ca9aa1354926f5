"""The Redis Streams publisher encodes a batch's XADDs itself: byte for byte what redis-py
sends for the same command, whatever the fields hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.asyncio.connection import Connection

from qulab.core.outbox import OutboxMessage, RedisStreamsPublisher

AT = datetime(2026, 12, 6, 2, 0, 0, 123456, tzinfo=UTC)


def message(**changes: object) -> OutboxMessage:
    fields: dict[str, object] = {
        "id": "8f1c0c52-5d1b-4b43-9a43-1d4c0d1b6c11",
        "type": "score.updated",
        "aggregate_type": "AIRScore",
        "aggregate_id": "u-1",
        "occurred_at": AT,
        "payload_json": '{"score": 71.5}',
        "sequence": 7,
    }
    fields.update(changes)
    return OutboxMessage(**fields)  # type: ignore[arg-type]


def redis_py(publisher: RedisStreamsPublisher, item: OutboxMessage) -> bytes:
    """The same XADD packed by redis-py's own connection."""
    args: list[str | bytes] = ["XADD", publisher.stream(item.aggregate_type)]
    if publisher.maxlen is not None:
        args += ["MAXLEN", "~", str(publisher.maxlen)]
    args.append("*")
    for name, value in publisher.entry(item).items():
        args += [name, value]
    return b"".join(Connection().pack_command(*args))


@pytest.mark.parametrize("maxlen", [None, 1000])
@pytest.mark.parametrize(
    "item",
    [
        message(),
        message(payload_json='{"note": "100% sûr, 東京", "n": "%s %d %%"}'),
        message(aggregate_type="Score%d", type="a%sb"),
        message(trace_context={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}),
        message(payload_json=""),
    ],
    ids=["plain", "non-ascii-and-percent", "percent-in-stream-name", "traced", "empty-value"],
)
def test_a_batch_is_encoded_as_redis_py_would_send_it(
    item: OutboxMessage, maxlen: int | None
) -> None:
    publisher = RedisStreamsPublisher("redis://127.0.0.1:6379/0", prefix="p%:", maxlen=maxlen)
    assert publisher._xadd(item) == redis_py(publisher, item)
    assert publisher._xadd(item) == redis_py(publisher, item)  # from the kept template


def test_cloudevents_entries_are_encoded_as_redis_py_would_send_them() -> None:
    publisher = RedisStreamsPublisher("redis://127.0.0.1:6379/0", event_format="cloudevents")
    traced = message(trace_context={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
    for item in (message(), traced):
        assert publisher._xadd(item) == redis_py(publisher, item)
