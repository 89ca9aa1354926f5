"""Is a relay running? On PostgreSQL the ordered relays hold partition leases they renew while
they live, so the live leases say which relays run and what they hold. Everywhere, what relays
leave behind in the outbox tells the rest: when an event was last marked published and how long
the oldest pending one has waited.

``relay_activity`` is the one place that decides it. In ``wal`` mode the line is the
log-tailing relay's slot: how much WAL it keeps, a warning above ``QULAB_RELAY_WAL_WARN_BYTES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from qulab.core.db import Database
from qulab.core.health.check import Check, Status
from qulab.core.models import utcnow
from qulab.core.outbox.leases import lease_table
from qulab.core.outbox.repository import OutboxRepository
from qulab.core.outbox.wal_repository import slot_info

# A pending event older than this, with no relay publishing meanwhile, means none is running.
STALE_PENDING_SECONDS = 60.0


@dataclass(frozen=True)
class RelayActivity:
    last_published_at: datetime | None
    oldest_pending_age: float | None  # seconds; None when nothing is pending
    # PostgreSQL: relays holding a live partition lease, and the partitions no live relay holds
    # (None: no leases to read, as on SQLite).
    live_relays: int | None = None
    unheld_partitions: int | None = None

    def describe(self, now: datetime) -> str:
        if self.last_published_at is None:
            last = "nothing published yet"
        else:
            last = f"last published {_age(now - self.last_published_at)} ago"
        if self.live_relays is not None:
            held = f"{self.live_relays} relay(s) holding leases"
            if self.unheld_partitions:
                held += f", {self.unheld_partitions} partition(s) unheld"
            last = f"{held}; {last}"
        if self.oldest_pending_age is None:
            return f"{last}; nothing pending"
        return f"{last}; oldest pending event waiting {_age_s(self.oldest_pending_age)}"


async def relay_activity(db: Database) -> RelayActivity:
    async with db.reading() as session:
        repository = OutboxRepository(session)
        newest = await repository.newest_published_at()
        oldest = await repository.oldest_pending_at()
    age = None if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
    if db.dialect != "postgresql":
        return RelayActivity(newest, age)
    async with db.connect() as conn:
        leases = await lease_table(conn)
    if not leases:  # no ordered relay has run against this database yet
        return RelayActivity(newest, age)
    live = {lease.owner for lease in leases if lease.live}
    unheld = sum(1 for lease in leases if not lease.live)
    return RelayActivity(newest, age, len(live), unheld)


async def check_relay(db: Database, stale_after: float = STALE_PENDING_SECONDS) -> Check:
    activity = await relay_activity(db)
    detail = activity.describe(utcnow())
    if db.settings.relay.mode == "wal" and db.dialect == "postgresql":
        return await _check_wal_slot(db, detail)
    pending_age = activity.oldest_pending_age
    if activity.live_relays == 0 and pending_age is not None:
        return Check("relay", Status.WARN, f"no relay holds a lease: {detail}")
    if pending_age is not None and pending_age > stale_after:
        return Check("relay", Status.WARN, f"no relay seems to run: {detail}")
    return Check("relay", Status.OK, detail)


async def _check_wal_slot(db: Database, detail: str) -> Check:
    """The log-tailing relay's line: its slot and the WAL it keeps. A slot no relay reads makes
    PostgreSQL keep every WAL segment since its position, so above ``QULAB_RELAY_WAL_WARN_BYTES``
    it is a warning (docs/outbox.md says how to drop a dead slot)."""
    slot = db.settings.relay.slot
    info = await slot_info(db)
    if info is None:
        return Check("relay", Status.WARN, f"no replication slot {slot} yet: start the relay")
    reading = "a relay is decoding it" if info.active else "no relay is decoding it right now"
    kept = f"slot {slot} keeps {_size(info.retained_bytes)} of WAL, {reading}; {detail}"
    limit = db.settings.relay.wal_warn_bytes
    if limit and info.retained_bytes > limit:
        return Check("relay", Status.WARN, f"{kept} (over {_size(limit)})")
    return Check("relay", Status.OK, kept)


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def _age(delta: timedelta) -> str:
    return _age_s(max(0.0, delta.total_seconds()))


def _age_s(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
