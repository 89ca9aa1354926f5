"""The event base: a class declared once gets its wire form, its reading and its registration.

The events here are a small domain of their own (items on shelves), declared inside the tests and
forgotten after each one, so the registry other tests read holds only real domains' events.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

import pytest

from qulab.core import events
from qulab.core.events import EVENT_TYPES, Event, OpaqueEvent, from_wire


@pytest.fixture(autouse=True)
def forget_declared_events() -> Iterator[None]:
    """Events declared by a test leave the registry (and the codec cache) as it found them."""
    registered, codecs = dict(events._REGISTRY), dict(events._CODECS)
    yield
    events._REGISTRY.clear()
    events._REGISTRY.update(registered)
    events._CODECS.clear()
    events._CODECS.update(codecs)


def _shelved() -> Any:
    @dataclass(frozen=True)
    class ItemShelved(Event, type="test.item.shelved", aggregate="Item", key="item_id"):
        item_id: str
        shelf: int
        weight: float
        fragile: bool
        tags: tuple[str, ...]
        labels: Mapping[str, Any]
        note: str | None
        position: Optional[int]  # noqa: UP045 (the older spelling is read too)

    return ItemShelved


def test_a_declared_class_writes_its_fields_in_order_as_json_ready_values() -> None:
    kind = _shelved()
    event = kind("i-1", 3, 1.5, True, ("a", "b"), {"size": (1, 2)}, None, 4)

    payload = event.payload()

    assert list(payload) == [f.name for f in dataclasses.fields(kind)]
    assert payload == {
        "item_id": "i-1",
        "shelf": 3,
        "weight": 1.5,
        "fragile": True,
        "tags": ["a", "b"],
        "labels": {"size": [1, 2]},
        "note": None,
        "position": 4,
    }
    assert (event.event_type, event.aggregate, event.aggregate_id) == (
        "test.item.shelved",
        "Item",
        "i-1",
    )
    assert (kind.wire_type, kind.aggregate_type) == ("test.item.shelved", "Item")


def test_every_supported_type_survives_a_json_round_trip() -> None:
    kind = _shelved()
    event = kind("i-1", 3, 1.5, False, ("a",), {"k": {"n": 1}}, "mind the gap", None)

    wire = json.loads(json.dumps(event.payload()))

    assert from_wire("test.item.shelved", "Item", "i-1", wire) == event
    assert EVENT_TYPES["test.item.shelved"] is kind


def test_a_missing_field_takes_the_aggregate_id_its_default_or_its_neutral_value() -> None:
    @dataclass(frozen=True)
    class ItemCounted(Event, type="test.item.counted", aggregate="Item", key="item_id"):
        item_id: str
        name: str
        count: int
        ratio: float
        seen: bool
        tags: tuple[str, ...]
        labels: Mapping[str, Any]
        note: str | None
        shelf: str = "front"
        history: tuple[str, ...] = field(default_factory=lambda: ("new",))

    assert ItemCounted.from_wire("i-9", {}) == ItemCounted(
        "i-9", "", 0, 0.0, False, (), {}, None, "front", ("new",)
    )
    assert from_wire("test.item.counted", "Item", "i-9", {"item_id": "i-1"}).aggregate_id == "i-1"


def test_values_are_read_as_their_annotation_says_and_unusable_ones_raise() -> None:
    kind = _shelved()

    read = kind.from_wire("i-1", {"shelf": "7", "weight": 2, "tags": [1, "b"], "labels": "x"})

    assert read.payload() == {
        "item_id": "i-1",
        "shelf": 7,
        "weight": 2.0,
        "fragile": False,
        "tags": ["1", "b"],
        "labels": {},
        "note": None,
        "position": None,
    }
    with pytest.raises(ValueError, match="could not convert"):
        kind.from_wire("i-1", {"weight": "heavy"})
    with pytest.raises(TypeError, match="expected true or false, got 'yes'"):
        kind.from_wire("i-1", {"fragile": "yes"})


def test_a_key_kept_out_of_the_payload_and_a_derived_field_keep_a_hand_made_wire_form() -> None:
    @dataclass(frozen=True)
    class ItemsCleared(
        Event, type="test.items.cleared", aggregate="Item", key="clearing_id", key_in_payload=False
    ):
        clearing_id: str
        item_ids: tuple[str, ...]
        count: int = field(init=False)
        reason: str

        def __post_init__(self) -> None:
            object.__setattr__(self, "count", len(self.item_ids))

    event = ItemsCleared("c-1", ("i-1", "i-2"), "sold")

    assert (
        json.dumps(event.payload()) == '{"item_ids": ["i-1", "i-2"], "count": 2, "reason": "sold"}'
    )
    assert event.aggregate_id == "c-1"
    forged = {"clearing_id": "c-other", "item_ids": ["i-1"], "count": 40, "reason": "sold"}
    assert ItemsCleared.from_wire("c-1", forged) == ItemsCleared("c-1", ("i-1",), "sold")


def test_an_unknown_type_reads_back_as_an_opaque_event_carrying_what_it_was_given() -> None:
    event = from_wire("test.nobody.declares", "Thing", "t-1", {"n": [1, 2]})

    assert event == OpaqueEvent("test.nobody.declares", "Thing", "t-1", {"n": [1, 2]})
    assert (event.event_type, event.aggregate, event.aggregate_id) == (
        "test.nobody.declares",
        "Thing",
        "t-1",
    )
    assert event.payload() == {"n": [1, 2]}
    assert "test.nobody.declares" not in EVENT_TYPES


def test_a_second_class_with_a_taken_wire_type_is_refused_and_the_first_stays() -> None:
    first = _shelved()

    with pytest.raises(TypeError, match=r"wire type 'test.item.shelved', already declared by"):

        class Impostor(Event, type="test.item.shelved", aggregate="Other", key="other_id"):
            other_id: str

    assert EVENT_TYPES["test.item.shelved"] is first


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ({"type": "test.half", "aggregate": "Item"}, "all three non-empty"),
        ({"type": "", "aggregate": "Item", "key": "item_id"}, "all three non-empty"),
        ({"type": "test.bad.key", "aggregate": "Item", "key": "itm_id"}, "not one of its fields"),
    ],
)
def test_an_incomplete_declaration_is_refused_when_the_class_is_created(
    declaration: dict[str, str], message: str
) -> None:
    with pytest.raises(TypeError, match=message):

        class Broken(Event, **declaration):
            item_id: str

    assert set(EVENT_TYPES).isdisjoint({"test.half", "test.bad.key"})


def test_a_class_declaring_nothing_is_a_base_and_has_no_wire_form() -> None:
    @dataclass(frozen=True)
    class ShelfEvent(Event):
        shelf: str

    before = dict(EVENT_TYPES)

    @dataclass(frozen=True)
    class ShelfEmptied(ShelfEvent, type="test.shelf.emptied", aggregate="Shelf", key="shelf"):
        pass

    assert dict(EVENT_TYPES) == {**before, "test.shelf.emptied": ShelfEmptied}
    assert ShelfEmptied.from_wire("s-1", {}) == ShelfEmptied("s-1")
    with pytest.raises(TypeError, match="ShelfEvent declares no wire form"):
        ShelfEvent.from_wire("s-1", {})


def test_a_field_without_a_wire_form_is_named_when_the_class_is_first_used() -> None:
    @dataclass(frozen=True)
    class ItemDated(Event, type="test.item.dated", aggregate="Item", key="item_id"):
        item_id: str
        at: datetime

    with pytest.raises(TypeError, match=r"ItemDated\.at: .*datetime.* has no wire form"):
        ItemDated.from_wire("i-1", {})


def test_an_event_class_without_the_dataclass_decorator_is_reported() -> None:
    class ItemForgotten(Event, type="test.item.forgotten", aggregate="Item", key="item_id"):
        item_id: str

    with pytest.raises(TypeError, match=r"declare it with @dataclass\(frozen=True\)"):
        ItemForgotten().payload()


def test_the_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        EVENT_TYPES["test.sneaked.in"] = OpaqueEvent  # type: ignore[index]  # read-only: the point
