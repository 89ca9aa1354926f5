"""The CLI's log output: one line per record, and no library tracebacks for broker outages.

aio-pika and aiormq log a dropped or refused broker connection themselves, some of it with a
traceback. Every such failure also reaches the publisher as an exception, which the relay
reports in one line (``broker unavailable, events stay pending``), so their records below
CRITICAL are left out of the command's stderr.
"""

from __future__ import annotations

import logging

QUIETED = ("aio_pika", "aiormq")


class QuietBrokerLibraries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        quieted = any(record.name == name or record.name.startswith(name + ".") for name in QUIETED)
        return not quieted or record.levelno >= logging.CRITICAL


def configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, QuietBrokerLibraries) for f in handler.filters):
            handler.addFilter(QuietBrokerLibraries())
