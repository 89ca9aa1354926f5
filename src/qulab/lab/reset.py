"""Start over: on the embedded database drop every table, migrate again, recreate the samples;
on a shared database remove only the lab's own rows.

The learner's knowledge-check progress (``lab_progress``) is carried over unless asked not to:
starting the exercises over is not forgetting what one has answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, true

from qulab.core import Database, UserError
from qulab.lab.checks import LOCAL_LEARNER
from qulab.lab.progress import ProgressRepository
from qulab.lab.setup import DEMO_USERS, SetupResult, run_db_setup_and_create_user
from qulab.platform import (
    MIGRATIONS,
    LabProgress,
    PlatformUnitOfWork,
    User,
    remove_users,
    seeded_users,
)


async def reset_database(db: Database, *, keep_progress: bool = True) -> SetupResult:
    """Remove every user through the unit of work (so caches forget them), downgrade to base
    (every table dropped), upgrade to head and create Alex and Jane.

    Offered for SQLite only: a shared PostgreSQL database is never wiped from the lab.
    With ``keep_progress`` the ``lab_progress`` rows are read first and put back afterwards.
    """
    if db.dialect != "sqlite":
        raise UserError(
            f"resetting is offered only for the embedded SQLite database, not {db.description}"
        )
    kept: Sequence[LabProgress] = ()
    if await MIGRATIONS.is_up_to_date(db):
        async with PlatformUnitOfWork(db) as uow:
            if keep_progress:
                kept = await ProgressRepository(uow.session).list_all()
            await remove_users(uow, true(), "database reset")
            await uow.commit()
    await MIGRATIONS.downgrade(db, "base")
    result = await run_db_setup_and_create_user(db)
    if kept:
        async with PlatformUnitOfWork(db) as uow:
            await ProgressRepository(uow.session).restore(kept)
            await uow.commit()
    return result


@dataclass(frozen=True)
class LabRowsReset:
    removed: int  # users removed, with their scores and assessments
    setup: SetupResult


async def reset_lab_rows(
    db: Database,
    *,
    created: Sequence[str],
    markers: Sequence[str],
    keep_progress: bool = True,
    learner: str = LOCAL_LEARNER,
) -> LabRowsReset:
    """Remove only what the lab wrote, through the unit of work (caches forget them): Alex and
    Jane, the users the learner ``created``, and the users seeded under ``markers``, with their
    scores and assessments; then create Alex and Jane again. Every other row stays, so this is
    safe on a shared database. Without ``keep_progress`` the learner's answers go too."""
    samples = [email for email, *_ in DEMO_USERS]
    lab_rows = or_(
        User.email.in_(samples),
        User.id.in_(list(created)),
        *(seeded_users(marker) for marker in markers),
    )
    async with PlatformUnitOfWork(db) as uow:
        removed = await remove_users(uow, lab_rows, "lab reset")
        if not keep_progress:
            await ProgressRepository(uow.session).clear(learner)
        await uow.commit()
    return LabRowsReset(removed, await run_db_setup_and_create_user(db))
