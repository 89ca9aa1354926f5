"""Demo rows: how many users, scores and assessments each seeding marker holds, and their removal.

The lab seeds its bulk data under markers (the users' emails end in
``@<marker>.seed.qulab.test``), so those rows can be counted apart from the rows a learner
created and removed without touching them. Removal goes through the unit of work
(``clear_seeded``), which records a ``users.removed`` event so every cache forgets them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from qulab.core import Database
from qulab.platform import AIRScore, Assessment, User, clear_seeded, seeded_users


@dataclass(frozen=True)
class MarkerRows:
    marker: str
    users: int
    scores: int
    assessments: int

    @property
    def rows(self) -> int:
        return self.users + self.scores + self.assessments


@dataclass(frozen=True)
class DemoInventory:
    markers: tuple[MarkerRows, ...]

    @property
    def users(self) -> int:
        return sum(item.users for item in self.markers)

    @property
    def scores(self) -> int:
        return sum(item.scores for item in self.markers)

    @property
    def assessments(self) -> int:
        return sum(item.assessments for item in self.markers)


async def marker_rows(db: Database, marker: str) -> MarkerRows:
    seeded = select(User.id).where(seeded_users(marker))
    async with db.reading() as session:
        users = await session.scalar(select(func.count()).select_from(seeded.subquery()))
        scores = await session.scalar(
            select(func.count(AIRScore.id)).where(AIRScore.user_id.in_(seeded))
        )
        assessments = await session.scalar(
            select(func.count(Assessment.id)).where(Assessment.user_id.in_(seeded))
        )
    return MarkerRows(marker, int(users or 0), int(scores or 0), int(assessments or 0))


async def demo_inventory(db: Database, markers: Sequence[str]) -> DemoInventory:
    return DemoInventory(tuple([await marker_rows(db, marker) for marker in markers]))


async def remove_demo_rows(db: Database, markers: Sequence[str]) -> DemoInventory:
    """Remove every user seeded under ``markers`` (scores and assessments go with them), one
    unit of work per marker; returns what was there before."""
    before = await demo_inventory(db, markers)
    for marker in markers:
        await clear_seeded(db, marker)
    return before
