"""Operating the outbox: status (counts, lag, recent failures), replay, purge.

The use cases and their rules (validation, paging, one transaction each); the statements are
``OutboxRepository``'s."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from qulab.core.db import Database
from qulab.core.errors import InvalidInput, NotFound
from qulab.core.ids import validate_id
from qulab.core.models import EventStatus, utcnow
from qulab.core.outbox.leases import LeaseInfo, lease_table
from qulab.core.outbox.repository import OutboxRepository
from qulab.core.outbox.wal_repository import WalRepository

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
class RelayHolding:
    """A live ordered relay and the partitions it holds (PostgreSQL)."""

    relay: str
    partitions: list[int]
    expires_at: datetime | None


@dataclass(frozen=True)
class OutboxStatus:
    counts: dict[str, int]
    oldest_pending_at: datetime | None
    lag_seconds: float | None
    retrying: int
    recent_failures: list[FailureInfo]
    partitions: int | None = None  # how many partitions the leases cover (None: SQLite)
    relays: list[RelayHolding] = field(default_factory=list)
    unheld: list[int] = field(default_factory=list)  # partitions no live relay holds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _holdings(leases: list[LeaseInfo]) -> tuple[list[RelayHolding], list[int]]:
    held: dict[str, list[LeaseInfo]] = {}
    unheld: list[int] = []
    for lease in leases:
        if lease.live and lease.owner is not None:
            held.setdefault(lease.owner, []).append(lease)
        else:
            unheld.append(lease.partition)
    relays = [
        RelayHolding(
            owner,
            [lease.partition for lease in own],
            min((lease.expires_at for lease in own if lease.expires_at), default=None),
        )
        for owner, own in sorted(held.items())
    ]
    return relays, unheld


async def outbox_status(db: Database, failures: int = 10) -> OutboxStatus:
    """Counts by status, the age of the oldest pending event (the lag), recent failures
    (dead-lettered events and pending ones with a recorded error) and, on PostgreSQL, which
    relay holds which partition. In ``wal`` mode ``published`` adds the slots' counts (their
    rows are gone) and ``retrying`` comes from the failures record."""
    async with db.session() as session:
        repo = OutboxRepository(session)
        counts = await repo.count_by_status()
        oldest = await repo.oldest_pending_at()
        retrying = await repo.retrying_count()
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
            for e in await repo.recent_failures(failures)
        ]
        leases = await lease_table(await session.connection()) if db.dialect == "postgresql" else []
        if db.settings.relay.mode == "wal" and db.dialect == "postgresql":
            # The log-tailing relay deletes what it published and keeps retries to itself.
            wal = WalRepository(await session.connection(), db.settings.relay.slot)
            counts["published"] += await wal.published_total()
            retrying = await wal.retrying_count()
            waiting = [
                FailureInfo(i, t, a, EventStatus.PENDING.value, n, error, due, changed)
                for i, t, a, n, error, due, changed in await repo.retrying_failures(failures)
            ]
            recent = sorted(waiting + recent, key=lambda f: f.updated_at, reverse=True)[:failures]
    lag = (utcnow() - oldest).total_seconds() if oldest is not None else None
    relays, unheld = _holdings(leases)
    partitions = len(leases) if db.dialect == "postgresql" else None
    return OutboxStatus(counts, oldest, lag, retrying, recent, partitions, relays, unheld)


async def replay(db: Database, event_ids: Sequence[str] = (), *, failed: bool = False) -> int:
    """Put events back to ``pending`` with a fresh attempt count: every dead-lettered event
    (``failed=True``) or the given ids (any status; an unknown id changes nothing)."""
    if failed == bool(event_ids):
        raise InvalidInput("events", "give either --failed or one or more event ids")
    now = utcnow()
    async with db.session_scope() as session:
        repo = OutboxRepository(session)
        if failed:
            return await repo.replay(None, now)
        ids = sorted({validate_id(event_id, "event_id") for event_id in event_ids})
        found = await repo.existing_ids(ids)
        missing = [event_id for event_id in ids if event_id not in found]
        if missing:
            raise NotFound("event", ", ".join(missing))
        return await repo.replay(ids, now)


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


def _purge_cutoff(older_than: timedelta) -> datetime:
    if older_than < timedelta(0):
        raise InvalidInput("older_than", "must not be negative")
    if older_than > MAX_AGE:
        raise InvalidInput("older_than", "must be at most 100 years")
    return utcnow() - older_than


async def count_purgeable(db: Database, older_than: timedelta) -> int:
    """How many events ``purge_published(db, older_than)`` would delete now; nothing changes."""
    cutoff = _purge_cutoff(older_than)
    async with db.session() as session:
        return await OutboxRepository(session).count_published_before(cutoff)


async def purge_published(
    db: Database, older_than: timedelta, *, page_size: int = PURGE_PAGE
) -> int:
    """Delete events published before ``now - older_than``, one page per transaction so the
    table is never locked for long. Failed and pending events are never purged."""
    if page_size < 1:
        raise InvalidInput("page_size", "must be at least 1")
    cutoff = _purge_cutoff(older_than)
    deleted = 0
    while True:
        async with db.session_scope() as session:
            count = await OutboxRepository(session).purge_published_page(cutoff, page_size)
        deleted += count
        if count < page_size:
            return deleted
