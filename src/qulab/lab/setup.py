"""The codelab's scenarios as plain async functions returning result objects (no UI code)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core import Database, current_revision
from qulab.lab import migrate
from qulab.platform import (
    CalculateScore,
    ScoreCalculated,
    ScoreRead,
    ScoreRepository,
    UnitOfWorkFactory,
    UserCreate,
    UserRead,
    UserRepository,
    create_user,
    parse,
    sample_score,
    uow_factory,
)

DEMO_USERS = (
    ("alex.smith@innovateai.com", "Alex Smith", "SW_ENG", "Masters", 8.0),
    ("jane.doe@innovateai.com", "Jane Doe", "DATA_SCI", "PhD", 5.0),
)


@dataclass(frozen=True)
class SetupResult:
    alex: UserRead
    jane: UserRead
    created: tuple[str, ...]
    database: str
    revision: str | None


async def run_db_setup_and_create_user(db: Database) -> SetupResult:
    """Bring the platform's schema and the lab's to their latest revisions and make sure Alex
    and Jane exist.

    Idempotent: on a second run nothing is created and the same two users are returned.
    """
    await migrate.upgrade(db)
    created: list[str] = []
    found: list[UserRead] = []
    for email, name, occupation, education, years in DEMO_USERS:
        async with db.session() as session:
            existing = await UserRepository(session).get_by_email(email)
        if existing is not None:
            found.append(UserRead.model_validate(existing))
            continue
        command = parse(
            UserCreate,
            email=email,
            name=name,
            occupation_code=occupation,
            education_level=education,
            years_experience=years,
        )
        user = await create_user(command, uow_factory(db))
        created.append(user.email)
        found.append(user)
    return SetupResult(
        alex=found[0],
        jane=found[1],
        created=tuple(created),
        database=db.description,
        revision=await current_revision(db),
    )


def score_calculated(score: ScoreRead) -> ScoreCalculated:
    """The event for a stored score (sample or calculated)."""
    return ScoreCalculated(
        user_id=score.user_id,
        score_id=score.id,
        occupation_code=score.occupation_code,
        air_score=score.air_score,
        ci_lower=score.ci_lower,
        ci_upper=score.ci_upper,
        parameter_version=score.parameter_version,
    )


async def add_sample_score(command: CalculateScore, uow: UnitOfWorkFactory) -> ScoreRead:
    """Store one sample score for an existing user with its ``score.calculated`` event, in one
    unit of work. Unknown user -> NotFound; nothing is written."""
    async with uow() as work:
        await work.users.get(command.user_id)
        score = await work.scores.add(sample_score(command.user_id, command.occupation_code))
        read = ScoreRead.model_validate(score)
        work.record(score_calculated(read))
        await work.commit()
    return read


async def create_sample_airscore(
    user_id: str,
    occupation_code: str = "SW_ENG",
    *,
    session: AsyncSession | None = None,
    db: Database | None = None,
) -> ScoreRead:
    """Add one sample score for an existing user (the codelab's name).

    With ``session`` the score is flushed into the caller's transaction (the caller commits and
    records the event); with ``db`` it is committed by :func:`add_sample_score` in its own unit
    of work with its ``score.calculated`` event.
    """
    command = parse(CalculateScore, user_id=user_id, occupation_code=occupation_code)
    if session is not None:
        await UserRepository(session).get(command.user_id)
        score = await ScoreRepository(session).add(
            sample_score(command.user_id, command.occupation_code)
        )
        return ScoreRead.model_validate(score)
    if db is None:
        raise TypeError("create_sample_airscore needs either session= or db=")
    return await add_sample_score(command, uow_factory(db))
