"""Typed events: the wire form each one writes, and the registry that reads it back."""

from __future__ import annotations

import dataclasses
import json

import pytest

from qulab.platform.events import (
    EVENT_TYPES,
    AssessmentCompleted,
    Event,
    OpaqueEvent,
    PlatformEvent,
    ScoreCalculated,
    UserCreated,
    UserDeleted,
    UsersRemoved,
    UserUpdated,
    affected_users,
    from_wire,
)

EXAMPLES: list[tuple[PlatformEvent, str, str, str, dict[str, object], tuple[str, ...]]] = [
    (
        UserCreated("u-1", "a@example.com", "A"),
        "user.created",
        "User",
        "u-1",
        {"user_id": "u-1", "email": "a@example.com", "name": "A"},
        (),
    ),
    (
        UserUpdated("u-1", {"name": "B"}),
        "user.updated",
        "User",
        "u-1",
        {"user_id": "u-1", "changes": {"name": "B"}},
        ("u-1",),
    ),
    (
        UserDeleted("u-1", "a@example.com", "A"),
        "user.deleted",
        "User",
        "u-1",
        {"user_id": "u-1", "email": "a@example.com", "name": "A"},
        ("u-1",),
    ),
    (
        ScoreCalculated("u-1", "s-1", "SW_ENG", 71.5, 67.0, 76.0, "v1"),
        "score.calculated",
        "AIRScore",
        "s-1",
        {
            "user_id": "u-1",
            "score_id": "s-1",
            "occupation_code": "SW_ENG",
            "air_score": 71.5,
            "ci_lower": 67.0,
            "ci_upper": 76.0,
            "parameter_version": "v1",
        },
        ("u-1",),
    ),
    (
        AssessmentCompleted("a-1", "u-1", "verbal", 0.5, 12),
        "assessment.completed",
        "Assessment",
        "a-1",
        {
            "assessment_id": "a-1",
            "user_id": "u-1",
            "component": "verbal",
            "ability": 0.5,
            "items_administered": 12,
        },
        ("u-1",),
    ),
    (
        UsersRemoved("r-1", ("u-1", "u-2"), "cleared seed demo"),
        "users.removed",
        "User",
        "r-1",
        {"user_ids": ["u-1", "u-2"], "count": 2, "reason": "cleared seed demo"},
        ("u-1", "u-2"),
    ),
]


@pytest.mark.parametrize(("event", "kind", "aggregate", "key", "payload", "users"), EXAMPLES)
def test_each_event_has_its_wire_form_and_reads_back_from_it(
    event: PlatformEvent,
    kind: str,
    aggregate: str,
    key: str,
    payload: dict[str, object],
    users: tuple[str, ...],
) -> None:
    assert (event.event_type, event.aggregate, event.aggregate_id) == (kind, aggregate, key)
    assert event.payload() == payload
    assert event.affected_users == users
    assert from_wire(kind, aggregate, key, payload) == event


def test_every_typed_event_is_registered_under_its_wire_type() -> None:
    # The registry holds every event class the process has imported (another application's
    # too, such as the example shop's): the platform's are exactly these.
    platform = {
        name for name, kind in EVENT_TYPES.items() if kind.__module__ == "qulab.platform.events"
    }
    assert platform == {example[1] for example in EXAMPLES}


def test_an_unknown_type_reads_back_as_an_opaque_event_affecting_nobody() -> None:
    event = from_wire("bench.event", "Bench", "b-1", {"i": 3})
    assert event == OpaqueEvent("bench.event", "Bench", "b-1", {"i": 3})
    assert (event.event_type, event.aggregate, event.aggregate_id) == (
        "bench.event",
        "Bench",
        "b-1",
    )
    assert event.payload() == {"i": 3} and affected_users(event) == ()


@pytest.mark.parametrize(("event", "payload"), [(example[0], example[4]) for example in EXAMPLES])
def test_each_event_reads_back_from_its_payload_as_json_stores_it(
    event: PlatformEvent, payload: dict[str, object]
) -> None:
    stored = json.loads(json.dumps(event.payload()))
    assert list(stored) == list(payload)  # the order of the stored JSON text, too
    assert from_wire(event.event_type, event.aggregate, event.aggregate_id, stored) == event
    assert affected_users(event) == event.affected_users


PLATFORM_KINDS = sorted(
    (kind for kind in EVENT_TYPES.values() if kind.__module__ == "qulab.platform.events"), key=str
)  # the registry also holds any other application's events the process imported


@pytest.mark.parametrize("kind", PLATFORM_KINDS, ids=lambda k: k.wire_type)
def test_a_payload_holds_the_fields_of_its_class_and_the_key_unless_declared_out(
    kind: type[Event],
) -> None:
    [event] = [example[0] for example in EXAMPLES if type(example[0]) is kind]
    fields = [f.name for f in dataclasses.fields(kind)]
    expected = fields if kind.key_in_payload else [n for n in fields if n != kind.key_field]
    assert list(event.payload()) == expected


def test_missing_fields_read_as_the_aggregate_id_for_the_key_and_neutral_values_otherwise() -> None:
    assert from_wire("user.updated", "User", "u-7", {}) == UserUpdated("u-7", {})
    assert from_wire("score.calculated", "AIRScore", "s-7", {}) == ScoreCalculated(
        "", "s-7", "", 0.0, 0.0, 0.0, ""
    )
    assert from_wire("users.removed", "User", "r-7", {"user_ids": "u-1"}) == UsersRemoved(
        "r-7", (), ""
    )
