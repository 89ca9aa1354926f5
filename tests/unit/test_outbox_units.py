"""Outbox building blocks that need no database: retry policy, messages, brokers, factory."""

from __future__ import annotations

import dataclasses
import io
import random
from datetime import UTC, datetime

import orjson
import pytest

from qulab.core.config import Settings
from qulab.core.errors import BrokerUnavailable, ConfigurationError, InvalidInput
from qulab.core.outbox import (
    MemoryBroker,
    NatsPublisher,
    OutageSwitch,
    OutboxMessage,
    RabbitMQPublisher,
    RedisStreamsPublisher,
    RetryPolicy,
    StdoutPublisher,
    build_publisher,
    memory_broker,
    parse_age,
    stream_name,
)


def message(n: int = 0) -> OutboxMessage:
    return OutboxMessage(
        id=f"00000000-0000-0000-0000-{n:012d}",
        type="score.calculated",
        aggregate_type="AIRScore",
        aggregate_id="11111111-1111-1111-1111-111111111111",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        payload_json='{"air_score": 71.5}',
        sequence=n,
    )


def test_backoff_doubles_until_the_cap_and_jitter_stays_within_its_share() -> None:
    policy = RetryPolicy(max_attempts=10, base=0.5, cap=8, jitter=0.5, rng=random.Random(7))
    assert [policy.ceiling(n) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 8]
    for attempt in range(1, 10):
        delays = [policy.delay(attempt) for _ in range(200)]
        ceiling = policy.ceiling(attempt)
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_policy_is_exhausted_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.is_exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


def test_message_json_embeds_the_payload_as_an_object() -> None:
    decoded = orjson.loads(message().to_json())
    assert decoded["payload"] == {"air_score": 71.5}
    assert decoded["occurred_at"] == "2026-01-02T03:04:05+00:00"
    assert message().fields()["payload"] == '{"air_score": 71.5}'


async def test_memory_broker_keeps_only_the_last_n_messages() -> None:
    broker = MemoryBroker("bounded", maxlen=3)
    await broker.publish([message(n) for n in range(5)])
    assert [d.message.sequence for d in broker.messages()] == [2, 3, 4]
    assert broker.total == 5


async def test_outage_switch_raises_while_down_and_delivers_when_up() -> None:
    broker = MemoryBroker("switch", 10)
    switch = OutageSwitch(broker, down=True)
    with pytest.raises(BrokerUnavailable, match="simulated broker outage"):
        await switch.publish([message()])
    assert broker.messages() == []
    switch.set_down(False)
    assert await switch.publish([message()]) == {}
    assert len(broker.messages()) == 1


async def test_stdout_publisher_writes_one_json_line_per_message() -> None:
    stream = io.BytesIO()
    await StdoutPublisher(stream).publish([message(1), message(2)])
    lines = stream.getvalue().splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == [
        message(1).id,
        message(2).id,
    ]


async def test_stdout_lines_carry_control_characters_only_as_escapes() -> None:
    payload = {"name": "abc\u202eevil\x85", "note": "\x1b[2J"}
    hostile = dataclasses.replace(message(), payload_json=orjson.dumps(payload).decode())
    stream = io.BytesIO()
    await StdoutPublisher(stream).publish([hostile])
    text = stream.getvalue().decode()
    assert "\u202e" not in text and "\x85" not in text and "\x1b" not in text
    assert '"name":"abc\\u202eevil\\u0085"' in text
    assert orjson.loads(text)["payload"] == payload


def test_factory_picks_the_broker_from_the_url() -> None:
    settings = Settings().replace(outbox_stream_prefix="p:", outbox_exchange="ex")
    assert build_publisher(None, settings) is memory_broker("default")
    assert build_publisher("memory://lab", settings) is memory_broker("lab")
    assert isinstance(build_publisher("stdout://", settings), StdoutPublisher)
    redis_publisher = build_publisher("redis://127.0.0.1:6379/0", settings)
    assert isinstance(redis_publisher, RedisStreamsPublisher)
    assert redis_publisher.stream("User") == "p:outbox.event.User" == stream_name("User", "p:")
    rabbit = build_publisher("amqp://guest:guest@127.0.0.1/", settings)
    assert isinstance(rabbit, RabbitMQPublisher) and rabbit.exchange_name == "ex"
    assert rabbit.description == "amqp://guest:***@127.0.0.1/ exchange ex"
    jetstream = build_publisher("nats://lab:pw@127.0.0.1:4222", settings)
    assert isinstance(jetstream, NatsPublisher) and jetstream.prefix == "p:"
    assert jetstream.description == (
        "nats://lab:***@127.0.0.1:4222 JetStream streams p_OUTBOX_<aggregate_type>"
    )
    with pytest.raises(ConfigurationError, match="QULAB_BROKER_URL"):
        build_publisher("kafka://x", settings)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("7d", 604800)])
def test_ages_parse(text: str, seconds: int) -> None:
    assert parse_age(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "7", "7x", "-1d", "d7"])
def test_bad_ages_are_rejected(text: str) -> None:
    with pytest.raises(InvalidInput, match="older_than"):
        parse_age(text)


@pytest.mark.parametrize("text", ["99999999999999d", "5300w", "36501d", "9" * 5000 + "s"])
def test_absurd_ages_are_bad_input_not_an_overflow(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"older_than: .* is more than 100 years"):
        parse_age(text)


def test_an_age_of_a_hundred_years_is_accepted() -> None:
    assert parse_age("36500d").days == 36500


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:S3cretPW@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("amqp://guest:S3cretPW@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/"),
    ],
)
def test_publisher_descriptions_hide_the_password(url: str, shown: str) -> None:
    publisher = build_publisher(url, Settings())
    assert shown in publisher.description and "S3cretPW" not in publisher.description


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("kafka://u:S3cretPW@h/x", "unknown broker 'kafka://u:***@h/x'"),
        ("amqp://u:S3cretPW@h:abc/", "the port must be a number (got 'amqp://u:***@h:abc/')"),
        ("redis://u:S3cretPW@h:6379/x", "the Redis database must be a whole number"),
    ],
)
def test_a_bad_broker_url_is_a_configuration_error_without_the_password(
    url: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_publisher(url, Settings())
    assert problem in str(caught.value) and "S3cretPW" not in str(caught.value)
