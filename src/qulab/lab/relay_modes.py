"""Polling vs log-tailing: both relays on the same events, what each costs, and the slot's WAL.

The scenario runs on a scratch database beside the lab's (PostgreSQL with ``wal_level=logical``),
so the learner's events, relay and slot are untouched. A slot of the scratch database's own is
created first; then ``events`` events are committed once, and both relays publish those same
events, each to an in-memory broker of its own: the polling relay claims them from
``domain_events`` and marks each row published, the WAL relay receives the same inserts on its
replication stream, deletes the rows and confirms the slot's position past them. The statement
counter records every SQL round trip of each drain (the stream itself sends none).

Then the WAL relay stands still: more events are written, the slot keeps their WAL (its retained
bytes grow), and when the relay runs again the slot moves past them and PostgreSQL may recycle
that WAL. A logical slot's restart position moves only to a record of the running transactions,
which a checkpoint logs (so does the background writer, every 15 s while the server is busy):
the scenario runs CHECKPOINT when its user may, and the next event takes the slot past it.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from qulab.core import (
    ConfigurationError,
    Database,
    OpaqueEvent,
    OutboxRepository,
    Settings,
    new_id,
    open_database,
)
from qulab.core.outbox import MemoryBroker, Relay, SlotInfo, WalRelay, slot_info
from qulab.lab.scratch import scratch_database
from qulab.platform import PlatformUnitOfWork

EVENTS = 50
STOPPED_EVENTS = 500
EVENT_TYPE = "relaylab.happened"
AGGREGATE = "RelayLab"
START_COMMAND = "qulab lab replica up"

NEEDS = (
    "This step needs PostgreSQL with wal_level=logical (the WAL relay reads the write-ahead log "
    f"through a logical replication slot). Run `{START_COMMAND}`: its primary runs with "
    "wal_level=logical and streams to a standby, so the same pair serves the Scaling page. Set "
    "the QULAB_DATABASE_URL (and QULAB_DATABASE_REPLICA_URLS) lines it prints and start the lab "
    "again."
)

WAL_LEVEL = text("SELECT current_setting('wal_level')")
CHECKPOINT = text("CHECKPOINT")
CAN_CHECKPOINT = text(
    "SELECT rolsuper OR pg_has_role(current_user, 'pg_checkpoint', 'MEMBER') "
    "FROM pg_roles WHERE rolname = current_user"
)


@dataclass(frozen=True)
class RelayCost:
    """One relay's drain of the same events: its round trips and the rows it wrote."""

    mode: str  # "polling" or "wal"
    events: int
    published: int
    statements: int
    event_updates: int  # statements that update event rows (OutboxRepository.marks)
    rows_marked: int  # events left in domain_events with status 'published' (an UPDATE each)
    rows_deleted: int  # events whose row is gone
    position_before: str | None = None  # the slot's confirmed position (WAL relay only)
    position_after: str | None = None

    @property
    def statements_per_event(self) -> float:
        return self.statements / self.events if self.events else 0.0

    @property
    def rows_marked_per_event(self) -> float:
        return self.rows_marked / self.events if self.events else 0.0


@dataclass(frozen=True)
class RetainedWal:
    """The slot's retained WAL while the relay is stopped, and after it ran again."""

    events: int
    idle_bytes: int  # the relay caught up, then stopped
    stopped_bytes: int  # after ``events`` events were written with the relay stopped
    released_bytes: int  # after the relay ran again
    position_stopped: str | None
    position_released: str | None
    checkpointed: bool  # whether the scenario could run CHECKPOINT itself


@dataclass(frozen=True)
class RelayModes:
    """Both relays on the same events, and the WAL a stopped relay keeps."""

    events: int
    same_events: bool  # both brokers received the same event ids
    polling: RelayCost
    wal: RelayCost
    retained: RetainedWal

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def logical_wal_missing(db: Database) -> str | None:
    """Why ``db`` cannot run the comparison (None: it can): SQLite, or PostgreSQL without
    ``wal_level=logical``."""
    if db.dialect != "postgresql":
        return f"The lab's database is {db.dialect}. {NEEDS}"
    async with db.connect() as conn:
        level = await conn.scalar(WAL_LEVEL)
    if level != "logical":
        return f"The lab's PostgreSQL runs with wal_level={level}. {NEEDS}"
    return None


async def compare_relay_modes(
    settings: Settings, events: int = EVENTS, stopped_events: int = STOPPED_EVENTS
) -> RelayModes:
    """Run the comparison on a scratch database beside the one ``settings`` name."""
    lab = open_database(settings.replace(database_replica_urls=""), null_pool=True)
    try:
        missing = await logical_wal_missing(lab)
    finally:
        await lab.dispose()
    if missing is not None:
        raise ConfigurationError(missing)
    async with scratch_database(settings, "relaylab") as url:
        slot = f"qulab_relaylab_{secrets.token_hex(4)}"
        db = open_database(
            settings.replace(
                database_url=url,
                database_replica_urls="",
                relay_mode="wal",
                relay_slot=slot,
                relay_wal_warn_bytes=0,
            )
        )
        try:
            return await _compare(db, events, stopped_events)
        finally:
            await db.dispose()


async def _compare(db: Database, events: int, stopped_events: int) -> RelayModes:
    polling_broker, wal_broker = MemoryBroker("relaylab-polling"), MemoryBroker("relaylab-wal")
    # Each relay takes the events in one batch, whatever QULAB_RELAY_BATCH_SIZE says, and one
    # short of full: its costs are one batch's (a full batch would leave its marks to a next
    # claim, which the statements counted here would not show as marks).
    one_batch = events + 1
    tailing = WalRelay(db, wal_broker, listen=False, batch_size=one_batch)
    await tailing.publish_pending()  # creates the slot: every event from now on is in its log
    ids = await write_events(db, events)
    polling = Relay(db, polling_broker, listen=False, batch_size=one_batch)
    with db.count_statements() as counter:
        polled = await polling.publish_pending()
    marked, left = await _rows(db, ids)
    polling_cost = RelayCost(
        "polling",
        events,
        polled.published,
        counter.count,
        OutboxRepository.marks(counter.statements),
        marked,
        events - left,
    )
    before = await _position(db)
    with db.count_statements() as counter:
        tailed = await tailing.publish_pending()
    marked, left = await _rows(db, ids)
    wal_cost = RelayCost(
        "wal",
        events,
        tailed.published,
        counter.count,
        OutboxRepository.marks(counter.statements),
        marked,
        events - left,
        before.confirmed_lsn,
        (await _position(db)).confirmed_lsn,
    )
    same = [m.message.id for m in polling_broker.messages()] == [
        m.message.id for m in wal_broker.messages()
    ]
    retained = await retained_while_stopped(db, tailing, stopped_events)
    return RelayModes(events, same and len(ids) == events, polling_cost, wal_cost, retained)


async def retained_while_stopped(db: Database, relay: WalRelay, events: int) -> RetainedWal:
    """With ``relay`` stopped, write ``events`` events and read the slot's retained WAL; run
    the relay again and read it once more."""
    checkpointed = await _checkpoint(db)
    await write_events(db, 1)
    await relay.publish_pending()  # caught up past the checkpoint: the baseline
    idle = await _position(db)
    await write_events(db, events)
    stopped = await _position(db)
    await relay.publish_pending()
    await _checkpoint(db)
    await write_events(db, 1)  # the next event takes the slot past the checkpoint's record
    await relay.publish_pending()
    released = await _position(db)
    return RetainedWal(
        events,
        idle.retained_bytes,
        stopped.retained_bytes,
        released.retained_bytes,
        stopped.confirmed_lsn,
        released.confirmed_lsn,
        checkpointed,
    )


async def write_events(db: Database, count: int) -> list[str]:
    """Commit ``count`` lab events in one unit of work; returns their ids."""
    async with PlatformUnitOfWork(db) as uow:
        ids = [
            uow.record(OpaqueEvent(EVENT_TYPE, AGGREGATE, new_id(), {"n": n})).id
            for n in range(count)
        ]
        await uow.commit()
    return ids


async def _rows(db: Database, ids: list[str]) -> tuple[int, int]:
    """(rows marked published, rows still there) among ``ids``."""
    async with db.connect() as conn:
        found = await OutboxRepository(conn).positions()
    statuses = [found[i][3] for i in ids if i in found]
    return statuses.count("published"), len(statuses)


async def _position(db: Database) -> SlotInfo:
    info = await slot_info(db)
    if info is None:
        raise ConfigurationError("the WAL relay's slot is missing from the scratch database")
    return info


async def _checkpoint(db: Database) -> bool:
    """Run CHECKPOINT when the user may (it logs the running transactions a logical slot's
    restart position moves to); False when it may not."""
    try:
        async with db.connect() as conn:
            if not await conn.scalar(CAN_CHECKPOINT):
                return False
            await conn.execute(CHECKPOINT)
            await conn.commit()
    except SQLAlchemyError:
        return False
    return True
