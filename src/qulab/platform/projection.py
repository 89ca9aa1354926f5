"""The ``user_score_summary`` projection, kept from ``score.calculated`` and ``user.deleted``.

Each update is one upsert, safe with any number of consumers applying events side by side:
the count, total and mean are incremented in SQL, and the latest score is replaced only by a
score that occurred later. A deleted user becomes a tombstone (``deleted``, zero scores) that
ignores score events arriving after the deletion, whatever order the brokers deliver them in.
Events of other types are recorded in the inbox and change nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, case, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core.consumers import Delivery, Projection, dialect_insert, handles
from qulab.core.db import Database
from qulab.core.models import utcnow
from qulab.platform.events import (
    SCORE_AGGREGATE,
    USER_AGGREGATE,
    ScoreCalculated,
    UserDeleted,
    UsersRemoved,
)
from qulab.platform.models import AIRScore, User, UserScoreSummary

SUMMARY: Table = UserScoreSummary.__table__  # type: ignore[assignment]
SCORES: Table = AIRScore.__table__  # type: ignore[assignment]


class ScoreSummaryProjection(Projection):
    """The consumer ``score-summary``: what it reads and how it applies each event."""

    name = "score-summary"
    aggregate_types: tuple[str, ...] = (USER_AGGREGATE, SCORE_AGGREGATE)

    @handles(ScoreCalculated)
    async def scored(
        self, conn: AsyncConnection, event: ScoreCalculated, delivery: Delivery
    ) -> None:
        await _add_score(conn, event, delivery)

    @handles(UserDeleted)
    async def deleted(self, conn: AsyncConnection, event: UserDeleted, delivery: Delivery) -> None:
        await _tombstone(conn, event.user_id, delivery)

    @handles(UsersRemoved)
    async def removed(self, conn: AsyncConnection, event: UsersRemoved, delivery: Delivery) -> None:
        for user_id in event.user_ids:
            await _tombstone(conn, user_id, delivery)


async def _add_score(conn: AsyncConnection, event: ScoreCalculated, delivery: Delivery) -> None:
    user_id = event.user_id
    score = event.air_score
    if not user_id or not math.isfinite(score):
        return
    now = utcnow()
    insert = dialect_insert(conn, SUMMARY).values(
        user_id=user_id,
        score_count=1,
        score_total=score,
        mean_score=score,
        latest_score=score,
        latest_score_id=event.score_id,
        latest_at=delivery.occurred_at or now,
        last_event_id=delivery.event_id,
        deleted=False,
        updated_at=now,
    )
    new = insert.excluded
    later = or_(SUMMARY.c.latest_at.is_(None), new.latest_at > SUMMARY.c.latest_at)
    upsert = insert.on_conflict_do_update(
        index_elements=[SUMMARY.c.user_id],
        set_={
            "score_count": SUMMARY.c.score_count + 1,
            "score_total": SUMMARY.c.score_total + new.score_total,
            "mean_score": (SUMMARY.c.score_total + new.score_total) / (SUMMARY.c.score_count + 1),
            "latest_score": case((later, new.latest_score), else_=SUMMARY.c.latest_score),
            "latest_score_id": case((later, new.latest_score_id), else_=SUMMARY.c.latest_score_id),
            "latest_at": case((later, new.latest_at), else_=SUMMARY.c.latest_at),
            "last_event_id": new.last_event_id,
            "updated_at": new.updated_at,
        },
        where=SUMMARY.c.deleted == false(),
    )
    await conn.execute(upsert)


async def _tombstone(conn: AsyncConnection, user_id: str, delivery: Delivery) -> None:
    values: dict[str, Any] = {
        "score_count": 0,
        "score_total": 0.0,
        "mean_score": None,
        "latest_score": None,
        "latest_score_id": None,
        "latest_at": None,
        "last_event_id": delivery.event_id,
        "deleted": True,
        "updated_at": utcnow(),
    }
    insert = dialect_insert(conn, SUMMARY).values(user_id=user_id, **values)
    await conn.execute(
        insert.on_conflict_do_update(index_elements=[SUMMARY.c.user_id], set_=values)
    )


@dataclass(frozen=True)
class SummaryRow:
    count: int
    mean: float | None
    latest: float | None


@dataclass(frozen=True)
class ProjectionMismatch:
    """One user on whom the projection and ``air_scores`` disagree (None: no row there)."""

    user_id: str
    expected: SummaryRow | None  # what air_scores says
    actual: SummaryRow | None  # what the projection says

    def __str__(self) -> str:
        return (
            f"user {self.user_id}: air_scores says {self.expected}, projection says {self.actual}"
        )


async def projection_mismatches(
    db: Database, tolerance: float = 1e-6, *, excluding: ColumnElement[bool] | None = None
) -> list[ProjectionMismatch]:
    """Where the projection differs from ``air_scores``, by user id (empty when they agree):
    per live user the count, the mean and the latest score (by creation time) must match; a
    deleted user must have no scores left in either. Users matching ``excluding`` (a filter on
    ``users``) are left out of the comparison."""
    expected = await _from_scores(db)
    actual = await _from_projection(db)
    if excluding is not None:
        async with db.connect() as conn:
            left_out = {str(u) for u in (await conn.scalars(select(User.id).where(excluding)))}
        expected = {u: row for u, row in expected.items() if u not in left_out}
        actual = {u: row for u, row in actual.items() if u not in left_out}
    problems: list[ProjectionMismatch] = []
    for user_id in sorted(set(expected) | set(actual)):
        want, got = expected.get(user_id), actual.get(user_id)
        if (
            want is None
            or got is None
            or (
                want.count != got.count
                or not _close(want.mean, got.mean, tolerance)
                or not _close(want.latest, got.latest, tolerance)
            )
        ):
            problems.append(ProjectionMismatch(user_id, want, got))
    return problems


async def projection_differences(db: Database, tolerance: float = 1e-6) -> list[str]:
    """How the projection differs from ``air_scores``, one line per user (empty when they
    agree); see ``projection_mismatches``."""
    return [str(mismatch) for mismatch in await projection_mismatches(db, tolerance)]


async def excess_effects(db: Database) -> int:
    """Scores the projection counts beyond what ``air_scores`` holds (an event applied twice
    shows here; a deleted user's leftover scores too)."""
    expected = await _from_scores(db)
    actual = await _from_projection(db)
    return sum(
        max(0, got.count - (expected[user].count if user in expected else 0))
        for user, got in actual.items()
    )


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tolerance * max(1.0, abs(a))


async def _from_scores(db: Database) -> dict[str, SummaryRow]:
    ranked = select(
        SCORES.c.user_id,
        SCORES.c.air_score,
        func.row_number()
        .over(partition_by=SCORES.c.user_id, order_by=(SCORES.c.created_at.desc(), SCORES.c.id))
        .label("rank"),
        func.count().over(partition_by=SCORES.c.user_id).label("n"),
        func.avg(SCORES.c.air_score).over(partition_by=SCORES.c.user_id).label("mean"),
    ).subquery()
    query = select(ranked.c.user_id, ranked.c.n, ranked.c.mean, ranked.c.air_score).where(
        ranked.c.rank == 1
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {str(u): SummaryRow(int(n), float(m), float(s)) for u, n, m, s in rows}


async def _from_projection(db: Database) -> dict[str, SummaryRow]:
    query = select(
        SUMMARY.c.user_id, SUMMARY.c.score_count, SUMMARY.c.mean_score, SUMMARY.c.latest_score
    ).where(SUMMARY.c.deleted == false(), SUMMARY.c.score_count > 0)
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {
        str(u): SummaryRow(int(n), None if m is None else float(m), None if s is None else float(s))
        for u, n, m, s in rows
    }
