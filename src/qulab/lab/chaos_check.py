"""What the chaos check verifies from the outside, once everything has settled.

The database says which events exist (``domain_events``, with their aggregate and commit
sequence); the broker's own record says in which order they were published; the consumer's
inbox says which were applied and how often each was delivered; ``air_scores`` says what the
projection must show. Nothing here trusts the processes that were being killed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from qulab.core import Database, OutboxRepository
from qulab.core.consumers import applied_ids
from qulab.lab.chaos_record import recorded_positions
from qulab.lab.chaos_replicas import ReplicaReads
from qulab.platform import excess_effects, projection_differences

Position = tuple[str, int]  # (aggregate key, commit sequence)


def count_inversions(published: Sequence[str], positions: Mapping[str, Position]) -> int:
    """How many events reached the broker before an earlier event of their own aggregate.

    ``published`` is the broker's order of event ids (duplicates allowed: a republished batch
    repeats events, and only an event's first appearance counts). An event is an inversion
    when an event of the same aggregate with a higher sequence appeared before it."""
    highest: dict[str, int] = {}
    seen: set[str] = set()
    inversions = 0
    for event_id in published:
        if event_id in seen or event_id not in positions:
            continue
        seen.add(event_id)
        aggregate, sequence = positions[event_id]
        top = highest.get(aggregate)
        if top is not None and sequence < top:
            inversions += 1
        else:
            highest[aggregate] = sequence
    return inversions


@dataclass
class ChaosReport:
    events: int
    lost: int
    inversions: int
    duplicate_deliveries: int
    duplicate_publishes: int
    duplicate_effects: int
    projection_matches: bool
    unpublished: int = 0
    kills: int = 0
    relays: int = 0
    consumers: int = 0
    seed: int = 0
    broker: str = ""
    relay_mode: str = "polling"
    settled: bool = True
    seconds: float = 0.0
    scratch_database: str = ""  # removed at the end, like the broker namespace
    scratch_namespace: str = ""
    problems: list[str] = field(default_factory=list)
    # With --replicas (zero and left out of ``as_dict`` without):
    replicas: int = 0
    reads_after_write: int = 0  # token holders' reads of their own write
    stale_reads_after_write: int = 0  # of those, reads that did not show the write: must be 0
    cache_reads: int = 0  # other readers' reads through the cache
    replica_served: int = 0
    replica_fallbacks: int = 0
    replay_pauses: int = 0

    @property
    def passed(self) -> bool:
        return (
            self.settled
            and self.lost == 0
            and self.inversions == 0
            and self.duplicate_effects == 0
            and self.projection_matches
            and self.stale_reads_after_write == 0
        )

    def add_replica_reads(self, found: ReplicaReads) -> None:
        self.replicas = found.replicas
        self.reads_after_write, self.stale_reads_after_write = found.reads_after_write, found.stale
        self.cache_reads, self.replay_pauses = found.cache_reads, found.pauses
        self.replica_served, self.replica_fallbacks = found.served, found.fallbacks
        self.problems = [*found.problems, *self.problems]

    def as_dict(self) -> dict[str, object]:
        shown = asdict(self) | {"passed": self.passed}
        if not self.replicas:
            for name in REPLICA_FIELDS:
                del shown[name]
        return shown


REPLICA_FIELDS = (
    "replicas",
    "reads_after_write",
    "stale_reads_after_write",
    "cache_reads",
    "replica_served",
    "replica_fallbacks",
    "replay_pauses",
)


async def event_positions(
    db: Database, *, recorded: bool = False
) -> dict[str, tuple[Position, str]]:
    """Every event: its (aggregate, sequence) and its status; with ``recorded``, from the
    check's own record (a run with the log-tailing relay, which deletes published rows)."""
    if recorded:
        rows = await recorded_positions(db)
    else:
        async with db.connect() as conn:
            rows = await OutboxRepository(conn).positions()
    return {i: ((f"{t}:{a}", n), status) for i, (t, a, n, status) in rows.items()}


async def verify(
    db: Database, published: Sequence[str], consumer: str, *, recorded: bool = False
) -> ChaosReport:
    events = await event_positions(db, recorded=recorded)
    applied = await applied_ids(db, consumer)
    missing = sorted(set(events) - set(applied))
    problems = [f"event {event_id} never applied" for event_id in missing[:5]]
    differences = await projection_differences(db)
    problems += differences[:5]
    return ChaosReport(
        events=len(events),
        lost=len(missing),
        inversions=count_inversions(published, {i: pos for i, (pos, _) in events.items()}),
        duplicate_deliveries=sum(count - 1 for count in applied.values()),
        duplicate_publishes=len(published) - len(set(published)),
        duplicate_effects=await excess_effects(db),
        projection_matches=not differences,
        unpublished=sum(1 for _, status in events.values() if status != "published"),
        problems=problems,
    )
