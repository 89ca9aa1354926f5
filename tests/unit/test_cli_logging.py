"""The command line's log lines: QULAB_LOG_LEVEL, QULAB_LOG_FORMAT, and the structured fields."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from qulab.core.config import Settings
from qulab.entrypoints.cli import _logging
from qulab.entrypoints.cli._logging import apply, configure_logging, long_running

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture(autouse=True)
def no_log_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("QULAB_LOG_LEVEL", "QULAB_LOG_FORMAT"):
        monkeypatch.delenv(variable, raising=False)


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger as a fresh process has it (no handler; pytest's own come back with each
    test phase, so this is entered in the test's body), restored afterwards."""
    root = logging.getLogger()
    own = logging.getLogger(_logging.OWN)
    handlers, level, own_level = root.handlers[:], root.level, own.level
    root.handlers.clear()
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        own.setLevel(own_level)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_text_lines_carry_time_level_logger_message_and_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with bare_root():
        configure_logging()
        logging.getLogger("qulab.core.outbox.relay").error(
            "event %s dead-lettered", "e1", extra={"event_id": "e1", "aggregate_id": "a1"}
        )
        [line] = _lines(capsys)
        assert re.fullmatch(
            STAMP + r" ERROR qulab\.core\.outbox\.relay: event e1 dead-lettered "
            r"event_id=e1 aggregate_id=a1",
            line,
        ), line


def test_json_lines_are_one_object_with_the_fields_as_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with bare_root():
        configure_logging()
        apply(Settings().replace(log_format="json"))
        logging.getLogger("qulab.core.consumers.runner").warning(
            "outage: %s", "refused", extra={"consumer": "c", "consumer_group": "g"}
        )
        [line] = _lines(capsys)
        entry = json.loads(line)
        assert re.fullmatch(STAMP, entry.pop("timestamp"))
        assert entry == {
            "level": "WARNING",
            "logger": "qulab.core.consumers.runner",
            "message": "outage: refused",
            "consumer": "c",
            "consumer_group": "g",
        }


def test_one_shot_commands_log_from_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with bare_root():
        configure_logging()
        apply(Settings())
        logging.getLogger("qulab.core.outbox.relay").info("status")
        logging.getLogger("qulab.core.outbox.relay").warning("outage")
        assert [line.split(" ", 1)[1] for line in _lines(capsys)] == [
            "WARNING qulab.core.outbox.relay: outage"
        ]


def test_long_running_commands_log_qulab_info_but_libraries_from_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with bare_root():
        configure_logging()
        long_running()
        apply(Settings())
        logging.getLogger("qulab.core.outbox.relay").info("relay status: published 1")
        logging.getLogger("aiosqlite").info("a library's chatter")
        assert [line.split(" ", 1)[1] for line in _lines(capsys)] == [
            "INFO qulab.core.outbox.relay: relay status: published 1"
        ]


def test_a_level_set_applies_to_every_logger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with bare_root():
        configure_logging()
        long_running()
        apply(Settings().replace(log_level="ERROR"))
        logging.getLogger("qulab.core.outbox.relay").warning("not shown")
        apply(Settings().replace(log_level="DEBUG"))
        logging.getLogger("aiosqlite").debug("shown")
        assert [line.split(" ", 1)[1] for line in _lines(capsys)] == ["DEBUG aiosqlite: shown"]


def test_broker_libraries_stay_quiet_below_critical(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with bare_root():
        configure_logging()
        apply(Settings().replace(log_level="DEBUG"))
        logging.getLogger("aiormq.connection").error("Traceback ...")
        logging.getLogger("aio_pika").critical("gone")
        assert [line.split(" ", 1)[1] for line in _lines(capsys)] == ["CRITICAL aio_pika: gone"]


def test_a_program_that_set_up_logging_keeps_it() -> None:
    with bare_root() as root:
        theirs = logging.NullHandler()
        root.addHandler(theirs)
        root.setLevel(logging.ERROR)

        configure_logging()
        apply(Settings().replace(log_level="DEBUG", log_format="json"))

        assert root.handlers == [theirs]
        assert root.level == logging.ERROR
