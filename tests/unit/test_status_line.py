"""A worker's status line: its text, its fields, and the loop that writes it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from qulab.core.status_line import StatusLine, every
from tests.waiting import eventually


def test_the_line_shows_each_number_then_the_lag_then_the_context() -> None:
    line = StatusLine(
        "consumer status",
        {"processed": 12, "duplicates": 1, "rejected": 0, "pending": None},
        0.25,
        {"consumer": "score-summary", "consumer_group": "g1"},
    )
    assert line.text() == (
        "consumer status: processed 12, duplicates 1, rejected 0, pending unknown, lag 0.2s; "
        "consumer=score-summary consumer_group=g1"
    )
    assert line.fields() == {
        "processed": 12,
        "duplicates": 1,
        "rejected": 0,
        "pending": None,
        "lag_seconds": 0.25,
        "consumer": "score-summary",
        "consumer_group": "g1",
    }


def test_the_line_is_logged_at_info_with_its_numbers_as_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="qulab.test")
    StatusLine("relay status", {"published": 3}, None).log(logging.getLogger("qulab.test"))
    [record] = caplog.records
    assert (record.levelno, record.getMessage()) == (
        logging.INFO,
        "relay status: published 3, lag unknown",
    )
    fields = vars(record)
    assert (fields["status"], fields["published"], fields["lag_seconds"]) == (
        "relay status",
        3,
        None,
    )


async def test_every_reports_until_stopped_and_survives_a_failing_report() -> None:
    calls: list[int] = []
    stopped = asyncio.Event()

    async def report() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise ConnectionError("database gone")

    task = asyncio.create_task(every(0.001, report, stopped))
    await eventually(lambda: len(calls) >= 4, "four reports, one of them failing")
    stopped.set()
    await asyncio.wait_for(task, 5)
    assert task.result() is None


async def test_an_interval_of_zero_reports_nothing() -> None:
    async def report() -> None:
        raise AssertionError("reported")

    await asyncio.wait_for(every(0, report, asyncio.Event()), 5)
