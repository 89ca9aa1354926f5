"""The unit of work: owns one session and its transaction.

It rolls back unless ``commit()`` was called. An application subclasses it to attach its
repositories to the session (``open_repositories``). Services ``record`` typed events on it; commit
writes their ``domain_events`` rows in the same transaction as the change (with one NOTIFY on
PostgreSQL, delivered by the commit itself), and only once the commit has succeeded hands the
events to the database's message bus (cache invalidation and any other handler).

With read replicas, a commit also yields a consistency token (``token``, see
``qulab.core.consistency``) before the bus runs: the cache's invalidation records it, and later
reads in the same context wait for a standby to replay it or go to the primary. Reads through a
unit's own session, and any ``reading()`` while a unit is open in the context, use the primary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core import tracing
from qulab.core.db import Database
from qulab.core.events import Event
from qulab.core.ids import new_id
from qulab.core.models import DomainEvent
from qulab.core.outbox.notify import notify_outbox
from qulab.core.outbox.repository import OutboxRepository

if TYPE_CHECKING:
    from qulab.core.consistency import Token
    from qulab.core.replicas import Replicas

log = logging.getLogger(__name__)


class UnitOfWork:
    session: AsyncSession
    events: OutboxRepository

    def __init__(self, db: Database) -> None:
        self.db = db
        self.recorded: list[Event] = []
        self.rows: list[DomainEvent] = []
        self.committed = False
        # The consistency token of the last commit (None without read replicas).
        self.token: Token | None = None
        self._span: AbstractContextManager[tracing.Carrier | None] | None = None
        self._in_unit: Any = None
        self._replicas: Replicas | None = None

    async def __aenter__(self) -> Self:
        if tracing.enabled():  # the unit's statements and its outbox write are children
            self._span = tracing.span(
                "unit of work", attributes={"qulab.unit_of_work": type(self).__name__}
            )
            self._span.__enter__()
        self._replicas = getattr(self.db, "replicas", None)  # a test's fake database has none
        if self._replicas is not None:
            from qulab.core import consistency

            self._in_unit = consistency.enter_unit()
        self.session = self.db.session()
        self.events = OutboxRepository(self.session)
        self.open_repositories(self.session)
        return self

    def open_repositories(self, session: AsyncSession) -> None:
        """Attach an application's repositories to this unit's session (none in the core)."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self.committed:
                await self.session.rollback()
        finally:
            # Leaving the session closes it and is the database boundary: a driver or pool
            # failure raised in the unit comes out as QuLab's error.
            await self.session.__aexit__(exc_type, exc, tb)
            span, self._span = self._span, None
            if span is not None:
                span.__exit__(exc_type, exc, tb)
            in_unit, self._in_unit = self._in_unit, None
            if in_unit is not None:
                from qulab.core import consistency

                consistency.leave_unit(in_unit)

    def record(self, event: Event) -> DomainEvent:
        """Record a domain event: its row is written in this unit's transaction, or not at all,
        and the bus hears of it only after the commit."""
        row = DomainEvent(
            id=new_id(),
            event_type=event.event_type,
            aggregate_type=event.aggregate,
            aggregate_id=event.aggregate_id,
            payload=event.payload(),
        )
        carrier = tracing.current()
        if carrier is not None:  # the relay's publish span continues the recording span
            row.trace_context = orjson.dumps(carrier).decode()
        self.session.add(row)
        self.recorded.append(event)
        self.rows.append(row)
        return row

    async def commit(self) -> None:
        if self.rows:
            attributes = {"qulab.outbox.events": len(self.rows)}
            with tracing.span("outbox write", attributes=attributes):
                await self._write()
        else:
            await self._write()
        self.committed = True
        if self._replicas is not None:
            await self._note_position(self._replicas)
        events, self.recorded, self.rows = self.recorded, [], []
        await self.db.bus.dispatch(events)

    async def _note_position(self, replicas: Replicas) -> None:
        """Read the commit's token and remember it in this context. The commit has happened:
        a failure to read the token is logged, not raised."""
        from qulab.core import consistency
        from qulab.core.errors import QulabError

        try:
            self.token = await replicas.commit_token()
        except QulabError as error:
            log.warning("committed, but its consistency token could not be read: %s", error)
            return
        consistency.wrote(self.token)

    async def _write(self) -> None:
        await self.session.flush()
        if self.rows and self.db.dialect == "postgresql" and self.db.settings.relay.notify:
            # Wakes listening relays; PostgreSQL delivers it when (and only if) this commits.
            # NOTIFY serialises committing transactions on one lock: QULAB_OUTBOX_NOTIFY=false
            # leaves the relays to poll instead.
            await notify_outbox(self.session, self.db.settings.relay.channel)
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
        self.recorded.clear()
        self.rows.clear()


U_co = TypeVar("U_co", bound=UnitOfWork, covariant=True)

UnitOfWorkFactory = Callable[[], U_co]
"""What a service takes: a zero-argument callable returning a fresh, unentered unit of work.

Services open one unit per call, so they depend on this factory rather than on a Database;
tests pass a factory of fakes."""
