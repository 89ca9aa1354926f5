"""Where the ``user_score_summary`` projection stands against ``air_scores``.

``projection_state`` reads the projection's live rows, how the score-summary consumer's inbox
counts applied events and skipped duplicates, and the differences from what ``air_scores``
says (the chaos check's own comparison), for the lab's "converging" view.

Bulk demo data (``seed``, under a marker) is written without score events, so no consumer can
ever learn of it: the users seeded under the markers given are left out of the comparison,
and the state says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, func, or_, select

from qulab.core import Database
from qulab.core.consumers import inbox_counts
from qulab.platform import (
    SUMMARY,
    ProjectionMismatch,
    ScoreSummaryProjection,
    User,
    projection_mismatches,
    seeded_users,
)

SUMMARY_ROWS = 20


@dataclass(frozen=True)
class SummaryLine:
    user_id: str
    score_count: int
    mean_score: float | None
    latest_score: float | None
    updated_at: datetime | None


@dataclass(frozen=True)
class ProjectionState:
    rows: list[SummaryLine]  # the most recently updated live users first
    users: int  # live users in the projection
    applied: int  # events the consumer applied (its inbox rows)
    duplicates: int  # deliveries the inbox recognised as seen before and skipped
    differences: list[ProjectionMismatch]
    left_out: int = 0  # users seeded without events, not compared

    @property
    def matches(self) -> bool:
        return not self.differences

    @property
    def verdict(self) -> str:
        """ "matches air_scores: yes" or "... no (n differences)"."""
        if self.matches:
            return "matches air_scores: yes"
        n = len(self.differences)
        return f"matches air_scores: no ({n} difference{'s' if n != 1 else ''})"


def _seeded(markers: Sequence[str]) -> ColumnElement[bool] | None:
    filters = [seeded_users(marker) for marker in markers]
    return or_(*filters) if filters else None


async def projection_state(
    db: Database,
    consumer: str = ScoreSummaryProjection.name,
    limit: int = SUMMARY_ROWS,
    *,
    seeded_without_events: Sequence[str] = (),
) -> ProjectionState:
    live = SUMMARY.c.deleted == false()
    query = (
        select(
            SUMMARY.c.user_id,
            SUMMARY.c.score_count,
            SUMMARY.c.mean_score,
            SUMMARY.c.latest_score,
            SUMMARY.c.updated_at,
        )
        .where(live)
        .order_by(SUMMARY.c.updated_at.desc(), SUMMARY.c.user_id)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    applied, duplicates = (await inbox_counts(db)).get(consumer, (0, 0))
    seeded = _seeded(seeded_without_events)
    left_out = 0
    if seeded is not None:
        async with db.connect() as conn:
            left_out = int(
                (await conn.execute(select(func.count(User.id)).where(seeded))).scalar_one()
            )
    return ProjectionState(
        rows=[
            SummaryLine(
                str(user_id),
                int(count),
                None if mean is None else float(mean),
                None if latest is None else float(latest),
                updated,
            )
            for user_id, count, mean, latest, updated in rows[:limit]
        ],
        users=len(rows),
        applied=applied,
        duplicates=duplicates,
        differences=await projection_mismatches(db, excluding=seeded),
        left_out=left_out,
    )
