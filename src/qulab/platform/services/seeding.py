"""Bulk demo data: many users with scores, inserted in batches, removable by its marker.

Seeded users have emails ending in ``@<marker>.seed.qulab.test``, so they never collide with
real users and can be removed without touching anything else.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, insert, select

from qulab.core.db import Database
from qulab.core.errors import InvalidInput
from qulab.core.ids import new_id
from qulab.core.models import utcnow
from qulab.platform.events import UsersRemoved
from qulab.platform.models import AIRScore, Assessment, User
from qulab.platform.uow import PlatformUnitOfWork

BATCH = 1000
OCCUPATIONS = ("SW_ENG", "DATA_SCI", "PM", "DESIGN", "OPS", "ANALYST")
MAX_USERS = 1_000_000
MAX_SCORES = 100
# Keeps one users.removed payload well under a megabyte.
REMOVAL_IDS_PER_EVENT = 10_000

Progress = Callable[[int], None]


def sample_score(user_id: str, occupation_code: str, rng: random.Random | None = None) -> AIRScore:
    """A plausible score for demonstrations (not the AI-R calculation itself)."""
    rng = rng or random.Random()
    vr, hr, synergy = (round(rng.uniform(0.55, 0.95), 3) for _ in range(3))
    value = round(100 * (0.45 * vr + 0.35 * hr + 0.20 * synergy), 1)
    return AIRScore(
        user_id=user_id,
        occupation_code=occupation_code,
        air_score=value,
        vr_score=vr,
        hr_score=hr,
        synergy_score=synergy,
        ci_lower=round(value - 4.0, 1),
        ci_upper=round(value + 4.0, 1),
        parameter_version="sample-1",
        calculation_metadata={"source": "sample", "factors": ["fluency", "domain"]},
    )


def marker_domain(marker: str) -> str:
    if not marker.isalnum() or len(marker) > 30:
        raise InvalidInput("marker", "must be 1-30 letters or digits")
    return f"@{marker.lower()}.seed.qulab.test"


@dataclass(frozen=True)
class SeedResult:
    users: int
    scores: int
    marker: str
    database: str


async def seed(
    db: Database,
    users: int,
    scores: int = 5,
    *,
    marker: str = "demo",
    progress: Progress | None = None,
    rng_seed: int | None = None,
) -> SeedResult:
    """Insert ``users`` users with ``scores`` scores each, ``BATCH`` users per transaction."""
    if not 0 <= users <= MAX_USERS:
        raise InvalidInput("users", f"must be between 0 and {MAX_USERS}")
    if not 0 <= scores <= MAX_SCORES:
        raise InvalidInput("scores", f"must be between 0 and {MAX_SCORES}")
    domain = marker_domain(marker)
    rng = random.Random(rng_seed)
    done = 0
    while done < users:
        size = min(BATCH, users - done)
        now = utcnow()
        user_rows: list[dict[str, Any]] = []
        score_rows: list[dict[str, Any]] = []
        for _ in range(size):
            user_id = new_id()
            occupation = rng.choice(OCCUPATIONS)
            user_rows.append(
                {
                    "id": user_id,
                    "email": f"{uuid.uuid4().hex[:16]}{domain}",
                    "name": f"Seeded User {done + len(user_rows) + 1}",
                    "occupation_code": occupation,
                    "education_level": rng.choice(("Bachelors", "Masters", "PhD")),
                    "years_experience": float(rng.randint(0, 40)),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            for _ in range(scores):
                score = sample_score(user_id, occupation, rng)
                score_rows.append(
                    {
                        column.key: getattr(score, column.key)
                        for column in AIRScore.__table__.columns
                        if column.key not in {"id", "created_at", "updated_at"}
                    }
                    | {"id": new_id(), "created_at": now, "updated_at": now}
                )
        async with PlatformUnitOfWork(db) as uow:
            # New ids: nothing can be cached under them, so these inserts record no event.
            await uow.session.execute(insert(User), user_rows)
            if score_rows:
                await uow.session.execute(insert(AIRScore), score_rows)
            await uow.commit()
        done += size
        if progress is not None:
            progress(size)
    return SeedResult(users=users, scores=users * scores, marker=marker, database=db.description)


def seeded_users(marker: str = "demo") -> ColumnElement[bool]:
    """A filter matching the users seeded under ``marker`` (and nobody else)."""
    return User.email.like(f"%{marker_domain(marker)}")


def _seeded_ids(domain: str) -> Select[tuple[str]]:
    return select(User.id).where(User.email.like(f"%{domain}"))


async def count_seeded(db: Database, marker: str = "demo") -> int:
    domain = marker_domain(marker)
    async with db.session() as session:
        statement = select(func.count(User.id)).where(User.email.like(f"%{domain}"))
        return int((await session.execute(statement)).scalar_one())


async def clear_seeded(db: Database, marker: str = "demo") -> int:
    """Remove the users seeded under ``marker`` with their scores and assessments, recording
    one ``users.removed`` event (so every cache forgets them)."""
    domain = marker_domain(marker)
    async with PlatformUnitOfWork(db) as uow:
        removed = await remove_users(uow, User.email.like(f"%{domain}"), f"cleared seed {marker}")
        await uow.commit()
    return removed


async def remove_users(uow: PlatformUnitOfWork, where: ColumnElement[bool], reason: str) -> int:
    """Delete the users matching ``where`` with their scores and assessments inside ``uow``,
    and record UsersRemoved naming exactly the deleted users: one event per
    ``REMOVAL_IDS_PER_EVENT`` of them, none when nobody matched."""
    ids = select(User.id).where(where)
    await uow.session.execute(delete(AIRScore).where(AIRScore.user_id.in_(ids)))
    await uow.session.execute(delete(Assessment).where(Assessment.user_id.in_(ids)))
    result = await uow.session.execute(delete(User).where(where).returning(User.id))
    user_ids = sorted(result.scalars())
    for start in range(0, len(user_ids), REMOVAL_IDS_PER_EVENT):
        chunk = tuple(user_ids[start : start + REMOVAL_IDS_PER_EVENT])
        uow.record(UsersRemoved(new_id(), chunk, reason))
    return len(user_ids)


@dataclass(frozen=True)
class Removal:
    """What removing the users matching a filter would delete, counted without deleting:
    the users, their assessments and scores, and the events the removal would record."""

    users: int
    assessments: int
    scores: int
    events: int

    @property
    def rows(self) -> int:
        return self.users + self.assessments + self.scores


async def count_removal(
    db: Database, where: ColumnElement[bool], *, per_user: bool = False
) -> Removal:
    """What ``remove_users`` (or, with ``per_user``, one ``user.deleted`` event per user, as
    ``delete_user`` records) would delete for ``where``; nothing is written."""
    ids = select(User.id).where(where)
    async with db.session() as session:
        users = int((await session.execute(select(func.count()).where(where))).scalar_one())

        async def owned(model: type[AIRScore] | type[Assessment]) -> int:
            statement = select(func.count()).select_from(model).where(model.user_id.in_(ids))
            return int((await session.execute(statement)).scalar_one())

        assessments, scores = await owned(Assessment), await owned(AIRScore)
    events = users if per_user else -(-users // REMOVAL_IDS_PER_EVENT)
    return Removal(users, assessments, scores, events)


async def count_seeded_scores(db: Database, marker: str = "demo") -> int:
    async with db.session() as session:
        statement = select(func.count(AIRScore.id)).where(
            AIRScore.user_id.in_(_seeded_ids(marker_domain(marker)))
        )
        return int((await session.execute(statement)).scalar_one())


async def ensure_seeded(db: Database, users: int, scores: int, *, marker: str) -> bool:
    """Make sure at least ``users`` users with exactly ``scores`` scores each exist under
    ``marker``; reseeds the marker when they do not. Returns whether anything was written.
    """
    present = await count_seeded(db, marker)
    if present >= users and await count_seeded_scores(db, marker) == present * scores:
        return False
    await clear_seeded(db, marker)
    await seed(db, users, scores, marker=marker)
    return True
