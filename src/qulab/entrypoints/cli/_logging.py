"""The CLI's log output, configured here and nowhere else: one record per line on stderr.

``configure_logging`` runs first, before any setting is read (``qulab --help`` reads none): a
text handler at WARNING. Once a command reads its settings, ``apply`` sets what
``QULAB_LOG_LEVEL`` and ``QULAB_LOG_FORMAT`` ask for; a long-running command (the relay, a
consumer) calls ``long_running`` first, so that with no level set QuLab's own loggers speak at
INFO (their status lines) while every other library stays at WARNING.

Each line carries the time (UTC), level, logger and message, and the record's structured
fields (``extra``: event id, consumer group, partitions, the numbers of a status line): after
the message as ``key=value`` in text, as keys of the object in JSON.

aio-pika and aiormq log a dropped or refused broker connection themselves, some of it with a
traceback. Every such failure also reaches the publisher as an exception, which the relay
reports in one line (``broker unavailable, events stay pending``), so their records below
CRITICAL are left out of the command's stderr.

A program that set up logging itself (an embedding application, a test harness) keeps it: when
the root logger already has a handler that is not ours, nothing here changes the levels or adds
a handler.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qulab.core import Settings

QUIETED = ("aio_pika", "aiormq")
OWN = "qulab"
# Every attribute a LogRecord has of its own: anything else on a record came from ``extra``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class QuietBrokerLibraries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        quieted = any(record.name == name or record.name.startswith(name + ".") for name in QUIETED)
        return not quieted or record.levelno >= logging.CRITICAL


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a record was given with ``extra``."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def timestamp(record: logging.LogRecord) -> str:
    """The record's time in UTC, ISO 8601 to the millisecond: ``2026-12-04T23:15:02.123Z``."""
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """``2026-12-04T23:15:02.123Z WARNING qulab.core.outbox.relay: message key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        fields = extras(record)
        if fields and "status" not in fields:  # a status line already shows its numbers
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, then the structured fields
    (and ``exception`` when the record has one)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class StderrHandler(logging.Handler):
    """Writes to the ``sys.stderr`` of the moment (a test may have replaced it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


class _State:
    default = logging.WARNING  # QuLab's loggers when no level is set
    settings: Settings | None = None


def _ours() -> StderrHandler | None:
    """Our handler, or None when another one is installed (then the logging is not ours)."""
    handlers = logging.getLogger().handlers
    ours = [handler for handler in handlers if isinstance(handler, StderrHandler)]
    if len(ours) != len(handlers):
        return None
    return ours[0] if ours else None


def configure_logging() -> None:
    """Text lines at WARNING, until the command's settings say otherwise."""
    _State.default, _State.settings = logging.WARNING, None
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, QuietBrokerLibraries) for f in handler.filters):
            handler.addFilter(QuietBrokerLibraries())
    if root.handlers and _ours() is None:
        return
    if not root.handlers:
        handler = StderrHandler()
        handler.addFilter(QuietBrokerLibraries())
        root.addHandler(handler)
    _set(None, "text")


def long_running() -> None:
    """A relay or a consumer: with no level set, QuLab's loggers speak at INFO."""
    _State.default = logging.INFO
    if _State.settings is not None:
        apply(_State.settings)


def apply(settings: Settings) -> None:
    """The level and format the settings ask for (``QULAB_LOG_LEVEL``, ``QULAB_LOG_FORMAT``)."""
    _State.settings = settings
    _set(settings.log.level, settings.log.format)


def _set(level: str | None, form: str) -> None:
    handler = _ours()
    if handler is None:
        return
    handler.setFormatter(JsonFormatter() if form == "json" else TextFormatter())
    if level is None:  # libraries at WARNING, QuLab at the command's default
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger(OWN).setLevel(_State.default)
    else:
        logging.getLogger().setLevel(level)
        logging.getLogger(OWN).setLevel(logging.NOTSET)
