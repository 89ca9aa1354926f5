"""Partition leases of the ordered relays (PostgreSQL): who runs, who holds which partition.

A lease table rather than advisory locks: the holder and its expiry are rows anyone can read
(``qulab outbox status`` shows them), a relay that dies loses its partitions after the lease
time even if its connection lingers, and rebalancing is an update, not a lock handover.

Every time is the database's ``now()``, so relays on machines with different clocks agree.
One heartbeat is one transaction on the relay's own connection:

1. the relay renews its row in ``outbox_relays`` and forgets relays whose row expired;
2. it works out its fair share: the live relays sorted by id, ``partitions // n`` each and one
   more for the first ``partitions % n``;
3. it renews the leases it still holds (a lease another relay took over is not renewed: it is
   gone), gives back the ones above its share, and takes free or expired ones up to its share.

Taking a partition locks its lease row ``FOR UPDATE SKIP LOCKED``. The claim of a batch holds
the lease rows of its relay ``FOR KEY SHARE`` until the batch is marked, so a partition is
never taken over while its holder has a batch of it in flight, even if that lease has expired
meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core.errors import ConfigurationError

REGISTER = text(
    """
INSERT INTO outbox_relays (relay_id, description, partitions, started_at, expires_at)
VALUES (:relay, :description, :partitions, now(), now() + make_interval(secs => :lease))
ON CONFLICT (relay_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
"""
)
FORGET_EXPIRED = text("DELETE FROM outbox_relays WHERE expires_at < now()")
LIVE = text(
    "SELECT relay_id, partitions FROM outbox_relays WHERE expires_at >= now() ORDER BY relay_id"
)
ENSURE_PARTITIONS = text(
    "INSERT INTO outbox_leases (partition) SELECT generate_series(0, :partitions - 1) "
    "ON CONFLICT (partition) DO NOTHING"
)
RENEW = text(
    "UPDATE outbox_leases SET expires_at = now() + make_interval(secs => :lease) "
    "WHERE owner = :relay AND partition < :partitions RETURNING partition"
)
RELEASE = text(
    "UPDATE outbox_leases SET owner = NULL, acquired_at = NULL, expires_at = NULL "
    "WHERE owner = :relay AND partition = ANY(:given)"
)
RELEASE_ALL = text(
    "UPDATE outbox_leases SET owner = NULL, acquired_at = NULL, expires_at = NULL "
    "WHERE owner = :relay"
)
UNREGISTER = text("DELETE FROM outbox_relays WHERE relay_id = :relay")
ACQUIRE = text(
    """
UPDATE outbox_leases
SET owner = :relay, acquired_at = now(), expires_at = now() + make_interval(secs => :lease)
WHERE partition IN (
    SELECT partition FROM outbox_leases
    WHERE partition < :partitions AND (owner IS NULL OR expires_at < now())
    ORDER BY partition
    LIMIT :wanted
    FOR UPDATE SKIP LOCKED
)
RETURNING partition
"""
)
LEASES = text(
    """
SELECT l.partition, l.owner, l.expires_at, r.description
FROM outbox_leases AS l LEFT JOIN outbox_relays AS r ON r.relay_id = l.owner
ORDER BY l.partition
"""
)


def fair_share(partitions: int, live: list[str], relay: str) -> int:
    """How many partitions ``relay`` should hold among the ``live`` relays (sorted ids)."""
    if relay not in live:
        return partitions
    base, extra = divmod(partitions, len(live))
    return base + (1 if live.index(relay) < extra else 0)


@dataclass(frozen=True)
class LeaseInfo:
    """One partition as ``qulab outbox status`` shows it."""

    partition: int
    owner: str | None
    description: str | None
    expires_at: datetime | None
    live: bool


class Leases:
    """The lease statements, run by one relay (``relay``) on its own connection."""

    def __init__(self, relay: str, description: str, partitions: int, lease_seconds: float) -> None:
        self.relay = relay
        self.description = description[:200]
        self.partitions = partitions
        self.lease_seconds = lease_seconds
        self.held: frozenset[int] = frozenset()

    def _params(self, **more: object) -> dict[str, object]:
        return {
            "relay": self.relay,
            "partitions": self.partitions,
            "lease": self.lease_seconds,
            **more,
        }

    async def heartbeat(self, conn: AsyncConnection, *, share: bool = True) -> frozenset[int]:
        """Renew, rebalance, and return the partitions held now (call inside a transaction).
        With ``share=False`` (a single pass) the relay does not register and takes every free
        or expired partition."""
        await conn.execute(ENSURE_PARTITIONS, self._params())
        wanted = self.partitions
        if share:
            await conn.execute(REGISTER, self._params(description=self.description))
            await conn.execute(FORGET_EXPIRED)
            live = (await conn.execute(LIVE)).all()
            others = {count for relay, count in live if relay != self.relay}
            if others - {self.partitions}:
                raise ConfigurationError(
                    f"another relay runs with QULAB_OUTBOX_PARTITIONS={min(others)}, "
                    f"this one with {self.partitions}; every relay must use the same number"
                )
            wanted = fair_share(self.partitions, [relay for relay, _ in live], self.relay)
        held = sorted((await conn.execute(RENEW, self._params())).scalars())
        if len(held) > wanted:
            given = held[wanted:]
            await conn.execute(RELEASE, self._params(given=given))
            held = held[:wanted]
        elif len(held) < wanted:
            taken = await conn.execute(ACQUIRE, self._params(wanted=wanted - len(held)))
            held = sorted([*held, *taken.scalars()])
        self.held = frozenset(held)
        return self.held

    async def leave(self, conn: AsyncConnection) -> None:
        """Give back every lease and unregister (call inside a transaction)."""
        await conn.execute(RELEASE_ALL, self._params())
        await conn.execute(UNREGISTER, self._params())
        self.held = frozenset()


async def lease_table(conn: AsyncConnection) -> list[LeaseInfo]:
    """Every partition with its holder (PostgreSQL)."""
    rows = (await conn.execute(LEASES)).all()
    now = (await conn.execute(text("SELECT now()"))).scalar_one()
    return [
        LeaseInfo(
            partition,
            owner,
            description,
            expires_at,
            owner is not None and expires_at is not None and expires_at > now,
        )
        for partition, owner, expires_at, description in rows
    ]
