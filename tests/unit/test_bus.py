"""The message bus on its own: handler order, type matching, failures, durable replay."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from qulab.core.bus import MessageBus
from qulab.platform.events import Event, OpaqueEvent, ScoreCalculated, UserDeleted, UserUpdated


def _score(user_id: str) -> ScoreCalculated:
    return ScoreCalculated(user_id, "s-1", "SW_ENG", 70.0, 66.0, 74.0, "v1")


class Recorder:
    """A fake handler that remembers what it was given, under its name, in one shared log."""

    def __init__(self, name: str, log: list[tuple[str, list[Event]]]) -> None:
        self.name = name
        self.log = log

    async def __call__(self, events: Sequence[Event]) -> None:
        self.log.append((self.name, list(events)))


async def test_handlers_run_in_registration_order_with_the_events_of_their_type() -> None:
    bus = MessageBus()
    log: list[tuple[str, list[Event]]] = []
    bus.subscribe(UserUpdated, Recorder("updates", log))
    bus.subscribe(Event, Recorder("everything", log))
    bus.subscribe(UserDeleted, Recorder("deletes", log))
    updated, score = UserUpdated("u-1", {"name": "N"}), _score("u-2")

    await bus.dispatch([updated, score])

    assert log == [("updates", [updated]), ("everything", [updated, score])]


async def test_a_failing_handler_is_logged_and_the_next_one_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = MessageBus()
    log: list[tuple[str, list[Event]]] = []

    async def broken(events: Sequence[Event]) -> None:
        raise RuntimeError("handler exploded")

    bus.subscribe(Event, broken)
    bus.subscribe(Event, Recorder("after", log))
    event = UserUpdated("u-1", {"name": "N"})
    with caplog.at_level(logging.ERROR, logger="qulab.core.bus"):
        await bus.dispatch([event])

    assert log == [("after", [event])]
    [record] = [r for r in caplog.records if r.name == "qulab.core.bus"]
    assert "the commit stands" in record.getMessage()
    assert record.exc_info is not None and "handler exploded" in str(record.exc_info[1])


async def test_replay_runs_only_durable_handlers() -> None:
    bus = MessageBus()
    log: list[tuple[str, list[Event]]] = []
    bus.subscribe(Event, Recorder("in-process only", log))
    bus.subscribe(Event, Recorder("durable", log), durable=True)
    event = UserDeleted("u-1", "a@example.com", "A")

    await bus.replay([event])

    assert log == [("durable", [event])]
    assert len(bus.handlers()) == 2 and len(bus.handlers(durable_only=True)) == 1


async def test_subscribing_twice_runs_once_and_unsubscribe_stops_it() -> None:
    bus = MessageBus()
    log: list[tuple[str, list[Event]]] = []
    handler = Recorder("once", log)
    bus.subscribe(Event, handler)
    bus.subscribe(Event, handler)
    event = OpaqueEvent("test.happened", "Test", "t-1", {"n": 1})

    await bus.dispatch([event])
    bus.unsubscribe(handler)
    await bus.dispatch([event])

    assert log == [("once", [event])]


async def test_nothing_to_dispatch_calls_no_handler() -> None:
    bus = MessageBus()
    log: list[tuple[str, list[Event]]] = []
    bus.subscribe(Event, Recorder("never", log))
    await bus.dispatch([])
    assert log == []
