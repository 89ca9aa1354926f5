"""The read replicas' lines: one per standby in ``QULAB_DATABASE_REPLICA_URLS``, up, lagging or
down, with its lag and its address (redacted). Each is asked where it stands with the same
statement the routing uses (``Replicas.check``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qulab.core.db import Database
from qulab.core.health.check import Check, Status, bounded

if TYPE_CHECKING:  # only a database with replicas has them, and imports their module
    from qulab.core.replicas import Replica, Replicas


async def check_replicas(db: Database, within: float) -> list[Check]:
    """A line per configured standby (none without replicas)."""
    replicas = db.replicas
    if replicas is None:
        return []
    return [
        await bounded(f"replica{n}", _check(replicas, replica), within)
        for n, replica in enumerate(replicas.replicas, start=1)
    ]


async def _check(replicas: Replicas, replica: Replica) -> Check:
    await replicas.check(replica)
    component = f"replica{replicas.replicas.index(replica) + 1}"
    where = f"{replica.address}: "
    if replica.healthy:
        lag = f"lag {replica.lag or 0:.1f} s" if replica.lag is not None else "lag unknown"
        return Check(component, Status.OK, f"{where}up, {lag}, replayed {replica.position}")
    problem = replica.problem or "not checked"
    if problem.startswith("lagging"):
        return Check(component, Status.WARN, f"{where}{problem}, replayed {replica.position}")
    if problem.startswith("not a standby"):
        return Check(component, Status.MISCONFIGURED, f"{where}{problem}")
    return Check(component, Status.DOWN, f"{where}down, {problem}")
