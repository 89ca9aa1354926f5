"""What the ordered relay (PostgreSQL) keeps between batches, and how it orders a batch.

``OrderedLane`` is one relay's side of the partitioned outbox: a connection kept across
batches (no pool checkout, pre-ping or reconnect per batch), its partition leases with their
heartbeat, and the claim. ``rounds`` splits a claimed batch so that no event is published
before an earlier event of its aggregate has been accepted by the broker.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core.db import Database
from qulab.core.outbox.leases import Leases
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.repository import OutboxRepository

log = logging.getLogger(__name__)


def rounds(messages: Iterable[OutboxMessage]) -> list[list[OutboxMessage]]:
    """Round k holds the k-th claimed event of every aggregate, in claim order. Publishing
    round after round, and leaving out of later rounds the aggregates whose event failed,
    keeps every aggregate in order however the broker answers each message."""
    depth: dict[str, int] = {}
    split: list[list[OutboxMessage]] = []
    for message in messages:
        k = depth.get(message.aggregate_id, 0)
        depth[message.aggregate_id] = k + 1
        if k == len(split):
            split.append([])
        split[k].append(message)
    return split


def relay_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# The kept connection's session settings (see OrderedLane), in one round trip.
KEPT_SETTINGS = (
    "SELECT set_config('enable_sort', 'off', false), "
    "set_config('enable_seqscan', 'off', false), "
    "set_config('jit', 'off', false), "
    "set_config('plan_cache_mode', 'force_generic_plan', false), "
    "set_config('synchronous_commit', 'off', false)"
)


class OrderedLane:
    """One relay's kept connection, leases and ordered claim."""

    def __init__(self, db: Database, *, lease_seconds: float, partitions: int) -> None:
        self.db = db
        self.id = relay_id()
        self.partitions = partitions
        self.lease_seconds = lease_seconds
        self.leases = Leases(self.id, self.id, partitions, lease_seconds)
        # The connection runs nothing but the relay's statements, with settings of its own:
        # * no sort: the claim must walk ix_events_pending_txid in order and stop at its LIMIT;
        #   with the fence and the leased partitions known only at run time the planner
        #   underestimates the rows and prefers scanning them all and sorting;
        # * one generic plan per statement: planning the claim costs three times running it
        #   (whether the server would re-plan it for every batch turns on the statistics);
        # * no sequential scan: a plan made while the outbox held a few rows would otherwise
        #   keep reading the whole table as it grows; and no JIT, which the disabled scan's
        #   cost would otherwise set off (a second of compiling for a claim of 100 rows);
        # * commits that do not wait for the WAL flush: a mark lost in a server crash only sends
        #   the event again (at least once), and a lease change lost is re-read by every claim.
        self.kept = db.kept_connection(setup=[KEPT_SETTINGS])
        self._beat_at = 0.0
        self._shared = False
        self.repaired = False

    @property
    def held(self) -> frozenset[int]:
        return self.leases.held

    @property
    def beat_every(self) -> float:
        return self.lease_seconds / 3

    async def heartbeat(self, *, share: bool, force: bool = False) -> frozenset[int]:
        """Renew and rebalance the leases if a beat is due (a third of the lease time)."""
        now = time.monotonic()
        if not (force or self.beat_due(share=share)):
            return self.held
        before = self.held
        async with self.kept.transaction() as conn:
            if not self.repaired:
                fixed = await OutboxRepository(conn).repair_future_txids()
                if fixed:
                    log.warning(
                        "%d pending events carried transaction ids this database never "
                        "handed out (a restore?); they now count as old",
                        fixed,
                    )
                self.repaired = True
            held = await self.leases.heartbeat(conn, share=share)
        self._beat_at, self._shared = now, share
        if held != before:
            shown = ranges(held)
            log.info(
                "relay %s holds partitions %s",
                self.id,
                shown,
                extra={"relay": self.id, "partitions": shown},
            )
        return held

    def beat_due(self, *, share: bool) -> bool:
        """Whether the next ``heartbeat`` renews (and may move) the leases."""
        return time.monotonic() - self._beat_at >= self.beat_every or share != self._shared

    async def claim(
        self,
        conn: AsyncConnection,
        limit: int,
        now: datetime,
        marking: Sequence[str] = (),
        published_at: datetime | None = None,
    ) -> list[OutboxMessage]:
        return await OutboxRepository(conn).claim_ordered(
            self.id, self.partitions, limit, now, marking, published_at
        )

    async def fenced(self, conn: AsyncConnection) -> bool:
        """Whether committed pending events wait behind the fence for an older transaction."""
        return await OutboxRepository(conn).fenced()

    async def leave(self) -> None:
        """Give back the leases (others may take them at once) and close the connection."""
        if self.kept.open:
            try:
                async with self.kept.transaction() as conn:
                    await self.leases.leave(conn)
            except Exception as error:  # the leases expire on their own
                log.warning("relay %s could not give back its leases: %s", self.id, error)
        await self.drop()

    async def drop(self) -> None:
        """Close the kept connection; the next heartbeat opens a new one and renews."""
        self._beat_at = 0.0
        await self.kept.close()


def ranges(numbers: Iterable[int]) -> str:
    """``0-3,7,9-10`` for the partitions 0, 1, 2, 3, 7, 9, 10; ``none`` for none."""
    ordered = sorted(numbers)
    if not ordered:
        return "none"
    parts: list[str] = []
    start = prev = ordered[0]
    for n in [*ordered[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(parts)
