"""``consume status``: per consumer, what it applied, what it skipped, what still waits."""

from __future__ import annotations

from dataclasses import dataclass

from qulab.core.consumers.inbox import inbox_counts
from qulab.core.consumers.source import Lag, Source
from qulab.core.db import Database
from qulab.core.errors import BrokerUnavailable


@dataclass(frozen=True)
class ConsumerStatus:
    name: str
    processed: int
    duplicates: int
    lag: Lag | None
    lag_error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "processed": self.processed,
            "duplicates": self.duplicates,
            "lag": None if self.lag is None else self.lag.total,
            "undelivered": None if self.lag is None else self.lag.undelivered,
            "unacked": None if self.lag is None else self.lag.unacked,
            "lag_error": self.lag_error,
        }


async def consumer_status(db: Database, sources: dict[str, Source]) -> list[ConsumerStatus]:
    """Every consumer with inbox rows or a source given; the lag comes from the broker where
    a source is given (a broker that does not answer leaves it unknown, with the reason)."""
    counts = await inbox_counts(db)
    found: list[ConsumerStatus] = []
    for name in sorted(set(counts) | set(sources)):
        processed, duplicates = counts.get(name, (0, 0))
        lag: Lag | None = None
        problem: str | None = None
        source = sources.get(name)
        if source is not None:
            try:
                lag = await source.lag()
            except BrokerUnavailable as error:
                problem = str(error)
        found.append(ConsumerStatus(name, processed, duplicates, lag, problem))
    return found
