"""Every broker's wire form decodes to the same delivery, and a message that cannot be decoded
is acknowledged, counted and left out while the rest of its batch goes on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from qulab.core.consumers import delivery, nats, rabbitmq, redis_streams
from qulab.core.consumers.delivery import Decoder, Delivery, from_fields
from qulab.core.errors import InvalidInput
from qulab.core.outbox import OutboxMessage, RabbitMQPublisher
from qulab.core.outbox.nats import headers as nats_headers

MESSAGE = OutboxMessage(
    id="00000000-0000-0000-0000-000000000007",
    type="score.calculated",
    aggregate_type="AIRScore",
    aggregate_id="11111111-1111-1111-1111-111111111111",
    occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    payload_json='{"air_score": 71.5}',
    sequence=7,
)
EXPECTED = Delivery(
    event_id=MESSAGE.id,
    type="score.calculated",
    aggregate_type="AIRScore",
    aggregate_id=MESSAGE.aggregate_id,
    occurred_at=MESSAGE.occurred_at,
    payload={"air_score": 71.5},
)


def test_a_redis_stream_entry_as_redis_returns_it_decodes_to_the_event() -> None:
    raw = {k.encode(): v.encode() for k, v in MESSAGE.fields().items()}
    entry = redis_streams.Entry("outbox.event.AIRScore", b"1-0", raw, True)
    decoded = entry.delivery()
    assert decoded == replace(EXPECTED, redelivered=True)
    assert decoded.token == ("outbox.event.AIRScore", b"1-0")


def test_an_amqp_message_as_published_decodes_to_the_event() -> None:
    sent = RabbitMQPublisher("amqp://guest:guest@127.0.0.1/")._message(MESSAGE)
    received = SimpleNamespace(
        headers=sent.headers,
        message_id=sent.message_id,
        type=sent.type,
        routing_key=MESSAGE.type,
        body=sent.body,
        redelivered=False,
    )
    decoded = rabbitmq._delivery(received)
    assert decoded == EXPECTED
    assert decoded.token is received


def test_a_jetstream_message_as_published_decodes_to_the_event() -> None:
    received = SimpleNamespace(
        headers=nats_headers(MESSAGE),
        data=MESSAGE.payload_json.encode(),
        metadata=SimpleNamespace(num_delivered=2),
    )
    decoded = nats._delivery(received)
    assert decoded == replace(EXPECTED, redelivered=True)
    assert decoded.token is received


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "score.calculated", "payload": "{}"}, "id"),
        ({"id": "e-1", "payload": b"[1, 2]"}, "payload"),
        ({"id": "e-1", "payload": "not json"}, "payload"),
        ({"id": "e-1", "occurred_at": "yesterday"}, "occurred_at"),
    ],
)
def test_a_malformed_message_is_invalid_input_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        from_fields(fields)
    assert caught.value.field == field


async def test_a_poison_message_is_acknowledged_counted_and_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dropped: list[dict[str, Any]] = []

    async def drop(fields: dict[str, Any]) -> None:
        dropped.append(fields)

    decoder = Decoder(from_fields, lambda fields: str(fields.get("id")), drop)
    good, poison = MESSAGE.fields(), {"id": "e-poison", "payload": "[]"}
    with caplog.at_level("WARNING", logger=delivery.__name__):
        decoded = await decoder([poison, good, good])
    assert decoded == [EXPECTED, EXPECTED]
    assert (dropped, decoder.skipped) == ([poison], 1)
    assert "dropping malformed message e-poison: " in caplog.text


async def test_a_source_with_nothing_to_acknowledge_still_leaves_a_poison_message_out() -> None:
    decoder = Decoder(from_fields, lambda fields: "m")
    assert await decoder([{"payload": "{}"}, MESSAGE.fields()]) == [EXPECTED]
    assert decoder.skipped == 1
