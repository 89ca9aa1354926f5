"""``consume status``: per consumer group, what it applied, what it skipped, what still waits.

A group is the consumer's identity: its inbox rows are kept under the group's name and the
broker keeps its backlog under it (a Redis consumer group, the RabbitMQ queue
``{exchange}.{group}``, a JetStream durable), so one group's counts never mix with another's.
"""

from __future__ import annotations

from dataclasses import dataclass

from qulab.core.consumers.inbox import inbox_counts
from qulab.core.consumers.source import Lag, Source
from qulab.core.db import Database
from qulab.core.errors import BrokerUnavailable


@dataclass(frozen=True)
class ConsumerGroup:
    """A group to report on: the consumer it runs and where its backlog is read (if known)."""

    consumer: str
    group: str
    source: Source | None = None


@dataclass(frozen=True)
class ConsumerStatus:
    name: str
    processed: int
    duplicates: int
    lag: Lag | None
    lag_error: str | None = None
    group: str | None = None  # the group's name when it is not the consumer's own

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "group": self.group or self.name,
            "processed": self.processed,
            "duplicates": self.duplicates,
            "lag": None if self.lag is None else self.lag.total,
            "undelivered": None if self.lag is None else self.lag.undelivered,
            "unacked": None if self.lag is None else self.lag.unacked,
            "lag_error": self.lag_error,
        }


async def consumer_status(
    db: Database, groups: list[ConsumerGroup], *, group: str | None = None
) -> list[ConsumerStatus]:
    """Every group in ``groups`` and every group with inbox rows (only ``group`` when given);
    the lag comes from the broker where a source is given (a broker that does not answer
    leaves it unknown, with the reason)."""
    counts = await inbox_counts(db, group)
    by_group = {item.group: item for item in groups if group is None or item.group == group}
    for name in counts:
        by_group.setdefault(name, ConsumerGroup(name, name))
    found: list[ConsumerStatus] = []
    for name in sorted(by_group):
        item = by_group[name]
        processed, duplicates = counts.get(name, (0, 0))
        lag: Lag | None = None
        problem: str | None = None
        if item.source is not None:
            try:
                lag = await item.source.lag()
            except BrokerUnavailable as error:
                problem = str(error)
        shown_group = None if item.group == item.consumer else item.group
        found.append(
            ConsumerStatus(item.consumer, processed, duplicates, lag, problem, shown_group)
        )
    return found
