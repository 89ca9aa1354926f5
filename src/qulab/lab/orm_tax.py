"""The ORM tax, measured: one user read by id on each rung from the bare driver up to the ORM.

Every rung reads the same row the way a request would (its own connection or session each
time). The rungs run interleaved, round after round, after an untimed warm-up, so the machine's
load falls on all of them alike; each rung reports the median time of a read over the rounds,
the spread of the rounds and its ratio to the floor (the bare driver).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from qulab.core import Database, InvalidInput, is_sqlite_memory, validate_id
from qulab.lab.driver_floor import floor_reader
from qulab.platform import UserRepository, read_user

FLOOR = "driver"
CORE = "core"
ORM = "orm"
MAX_ROUNDS = 100
MAX_READS = 10_000

Read = Callable[[str], Awaitable[object]]


@dataclass(frozen=True)
class Contender:
    """One way of reading a user by id, named for the table."""

    key: str
    label: str
    read: Read


@dataclass(frozen=True)
class Rung:
    """A contender's timings: seconds per read, one figure per round."""

    key: str
    label: str
    per_read_s: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.per_read_s)

    @property
    def spread(self) -> float:
        """(slowest round - fastest round) / median."""
        if len(self.per_read_s) < 2 or self.median_s == 0:
            return 0.0
        return (max(self.per_read_s) - min(self.per_read_s)) / self.median_s


@dataclass(frozen=True)
class Ladder:
    """The rungs measured side by side; ratios are to ``floor`` (the first rung)."""

    database: str
    rounds: int
    reads: int
    rungs: tuple[Rung, ...]

    @property
    def floor(self) -> Rung:
        return self.rungs[0]

    def ratio(self, rung: Rung, to: Rung | None = None) -> float:
        base = (to or self.floor).median_s
        return rung.median_s / base if base else 0.0

    def rung(self, key: str) -> Rung:
        return next(rung for rung in self.rungs if rung.key == key)


async def interleave(
    contenders: Sequence[Contender],
    ids: Sequence[str],
    *,
    rounds: int,
    reads: int,
    warmup: int = 1,
) -> list[Rung]:
    """Time ``reads`` reads of each contender per round, the contenders' order rotating from
    round to round; ``warmup`` rounds first, untimed. The ids are read in turn."""
    if not ids:
        raise InvalidInput("user_id", "no user to read: create one first")
    timings: dict[str, list[float]] = {c.key: [] for c in contenders}
    for round_ in range(warmup + rounds):
        shift = round_ % len(contenders)
        for contender in [*contenders[shift:], *contenders[:shift]]:
            started = time.perf_counter()
            for index in range(reads):
                await contender.read(ids[index % len(ids)])
            if round_ >= warmup:
                timings[contender.key].append((time.perf_counter() - started) / reads)
    return [Rung(c.key, c.label, tuple(timings[c.key])) for c in contenders]


def qulab_contenders(db: Database, floor: Read | None) -> list[Contender]:
    """The rungs QuLab itself offers: the floor (when given), the Core read model, the ORM."""

    async def orm(user_id: str) -> object:
        async with db.reading() as session:
            return await UserRepository(session).get_by_id(user_id)

    found = [] if floor is None else [Contender(FLOOR, "bare driver (fetch one row)", floor)]
    return [
        *found,
        Contender(CORE, "Core select into UserRead", lambda i: read_user(db, i)),
        Contender(ORM, "ORM entity via UserRepository.get_by_id", orm),
    ]


async def measure_orm_tax(
    db: Database, user_id: str, *, rounds: int = 7, reads: int = 50, warmup: int = 1
) -> Ladder:
    """The ladder for one user on ``db``: bare driver, Core read model, ORM repository."""
    user_id = validate_id(user_id, "user_id")
    if not 1 <= rounds <= MAX_ROUNDS:
        raise InvalidInput("rounds", f"must be between 1 and {MAX_ROUNDS}")
    if not 1 <= reads <= MAX_READS:
        raise InvalidInput("reads", f"must be between 1 and {MAX_READS}")
    if is_sqlite_memory(str(db.engine.url)):
        raise InvalidInput("database", "an in-memory SQLite database has no bare-driver floor")
    async with floor_reader(db) as floor:
        contenders = qulab_contenders(db, floor)
        rungs = await interleave(contenders, [user_id], rounds=rounds, reads=reads, warmup=warmup)
    return Ladder(db.description, rounds, reads, tuple(rungs))
