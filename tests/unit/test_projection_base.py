"""``Projection``: methods registered per event class, dispatched from typed deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from qulab.core import Delivery, Event
from qulab.core.consumers import Projection, handles


@dataclass(frozen=True)
class Shelved(Event, type="test.projection.shelved", aggregate="Book", key="book_id"):
    book_id: str
    shelf: str


@dataclass(frozen=True)
class Lent(Event, type="test.projection.lent", aggregate="Book", key="book_id"):
    book_id: str
    reader: str


class Library(Projection):
    name = "library"
    aggregate_types = ("Book",)

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    @handles(Shelved)
    async def shelved(self, conn: Any, event: Shelved, delivery: Delivery) -> None:
        self.seen.append(("shelved", event))

    @handles(Lent)
    async def lent(self, conn: Any, event: Lent, delivery: Delivery) -> None:
        self.seen.append(("lent", (event.reader, delivery.event_id)))


def _delivery(event: Event, event_id: str = "e-1") -> Delivery:
    return Delivery(
        event_id, event.event_type, event.aggregate, event.aggregate_id, None, event.payload()
    )


async def test_each_event_reaches_the_method_registered_for_its_class() -> None:
    library = Library()
    await library.apply(None, _delivery(Shelved("b-1", "A3")))  # type: ignore[arg-type]
    await library.apply(None, _delivery(Lent("b-1", "ada"), "e-2"))  # type: ignore[arg-type]
    assert library.seen == [("shelved", Shelved("b-1", "A3")), ("lent", ("ada", "e-2"))]


async def test_an_event_no_method_handles_changes_nothing() -> None:
    library = Library()
    unknown = Delivery("e-3", "test.projection.burned", "Book", "b-1", None, {})
    await library.apply(None, unknown)  # type: ignore[arg-type]
    assert library.seen == []


def test_handles_needs_an_event_class() -> None:
    with pytest.raises(TypeError, match="at least one event class"):
        handles()
