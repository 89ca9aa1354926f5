"""Operating the outbox: status (counts, lag, recent failures), replay, purge."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from qulab.db import Database
from qulab.errors import InvalidInput, NotFound
from qulab.models import DomainEvent, EventStatus, utcnow
from qulab.schemas import validate_id

AGE = re.compile(r"^\s*([0-9]+)\s*([smhdw])\s*$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
PURGE_PAGE = 1000
# Far beyond any retention anyone means, and far enough from datetime's limits that
# ``now - age`` is always a date.
MAX_AGE = timedelta(days=100 * 365)


@dataclass(frozen=True)
class FailureInfo:
    id: str
    event_type: str
    aggregate_id: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class OutboxStatus:
    counts: dict[str, int]
    oldest_pending_at: datetime | None
    lag_seconds: float | None
    retrying: int
    recent_failures: list[FailureInfo]

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "oldest_pending_at": self.oldest_pending_at,
            "lag_seconds": self.lag_seconds,
            "retrying": self.retrying,
            "recent_failures": [vars(failure) for failure in self.recent_failures],
        }


async def outbox_status(db: Database, failures: int = 10) -> OutboxStatus:
    """Counts by status, the age of the oldest pending event (the lag), and recent failures
    (dead-lettered events and pending ones with a recorded error)."""
    pending = DomainEvent.status == EventStatus.PENDING.value
    async with db.session() as session:
        counts = {status.value: 0 for status in EventStatus}
        grouped = await session.execute(
            select(DomainEvent.status, func.count()).group_by(DomainEvent.status)
        )
        counts.update({status: int(n) for status, n in grouped.all()})
        oldest = (
            await session.execute(select(func.min(DomainEvent.created_at)).where(pending))
        ).scalar_one_or_none()
        retrying = (
            await session.execute(select(func.count()).where(pending, DomainEvent.attempts > 0))
        ).scalar_one()
        rows = (
            await session.execute(
                select(DomainEvent)
                .where(
                    (DomainEvent.status == EventStatus.FAILED.value)
                    | (pending & DomainEvent.last_error.is_not(None))
                )
                .order_by(DomainEvent.updated_at.desc(), DomainEvent.id)
                .limit(failures)
            )
        ).scalars()
        recent = [
            FailureInfo(
                e.id,
                e.event_type,
                e.aggregate_id,
                e.status,
                e.attempts,
                e.last_error,
                e.next_attempt_at,
                e.updated_at,
            )
            for e in rows
        ]
    if isinstance(oldest, str):  # SQLite's min() hands back text, not the column type
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=utcnow().tzinfo)
    lag = (utcnow() - oldest).total_seconds() if oldest is not None else None
    return OutboxStatus(counts, oldest, lag, int(retrying), recent)


async def replay(db: Database, event_ids: Sequence[str] = (), *, failed: bool = False) -> int:
    """Put events back to ``pending`` with a fresh attempt count: every dead-lettered event
    (``failed=True``) or the given ids (any status; an unknown id changes nothing)."""
    if failed == bool(event_ids):
        raise InvalidInput("events", "give either --failed or one or more event ids")
    now = utcnow()
    statement = update(DomainEvent).values(
        status=EventStatus.PENDING.value,
        attempts=0,
        next_attempt_at=None,
        published_at=None,
        updated_at=now,
    )
    async with db.session_scope() as session:
        if failed:
            statement = statement.where(DomainEvent.status == EventStatus.FAILED.value)
        else:
            ids = sorted({validate_id(event_id, "event_id") for event_id in event_ids})
            found = set(
                (
                    await session.execute(select(DomainEvent.id).where(DomainEvent.id.in_(ids)))
                ).scalars()
            )
            missing = [event_id for event_id in ids if event_id not in found]
            if missing:
                raise NotFound("event", ", ".join(missing))
            statement = statement.where(DomainEvent.id.in_(ids))
        result = await session.execute(statement.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)


def parse_age(text: str, field: str = "older_than") -> timedelta:
    """``30s``, ``15m``, ``12h``, ``7d``, ``2w`` -> timedelta, at most 100 years."""
    match = AGE.match(text or "")
    if match is None:
        raise InvalidInput(field, f"{text!r} is not an age like 30s, 15m, 12h, 7d or 2w")
    digits = match.group(1).lstrip("0") or "0"
    # Twelve digits of weeks is already far past the bound; longer ones are not even parsed.
    seconds = int(digits) * UNITS[match.group(2)] if len(digits) <= 12 else None
    if seconds is None or seconds > MAX_AGE.total_seconds():
        raise InvalidInput(field, f"{text.strip()!r} is more than 100 years")
    return timedelta(seconds=seconds)


async def purge_published(
    db: Database, older_than: timedelta, *, page_size: int = PURGE_PAGE
) -> int:
    """Delete events published before ``now - older_than``, one page per transaction so the
    table is never locked for long. Failed and pending events are never purged."""
    if older_than < timedelta(0):
        raise InvalidInput("older_than", "must not be negative")
    if older_than > MAX_AGE:
        raise InvalidInput("older_than", "must be at most 100 years")
    if page_size < 1:
        raise InvalidInput("page_size", "must be at least 1")
    cutoff = utcnow() - older_than
    deleted = 0
    while True:
        async with db.session_scope() as session:
            page = (
                select(DomainEvent.id)
                .where(
                    DomainEvent.status == EventStatus.PUBLISHED.value,
                    DomainEvent.published_at < cutoff,
                )
                .limit(page_size)
                .scalar_subquery()
            )
            result = await session.execute(
                delete(DomainEvent)
                .where(DomainEvent.id.in_(page))
                .execution_options(synchronize_session=False)
            )
            count = int(getattr(result, "rowcount", 0) or 0)
        deleted += count
        if count < page_size:
            return deleted
