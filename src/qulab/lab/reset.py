"""Start over: on the embedded database drop the platform's tables, migrate again, recreate the
samples; on a shared database remove only the lab's own rows.

The learner's knowledge-check progress (the lab's own ``lab_progress``) is carried over unless
asked not to: starting the exercises over is not forgetting what one has answered. It needs no
copying: the platform's migrations leave the lab's table alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, true

from qulab.core import Database, UserError
from qulab.lab.checks import LOCAL_LEARNER
from qulab.lab.migrate import LAB_MIGRATIONS
from qulab.lab.progress import ProgressRepository
from qulab.lab.setup import DEMO_USERS, SetupResult, run_db_setup_and_create_user
from qulab.platform import (
    MIGRATIONS,
    PlatformUnitOfWork,
    User,
    remove_users,
    seeded_users,
)


async def reset_database(db: Database, *, keep_progress: bool = True) -> SetupResult:
    """Remove every user through the unit of work (so caches forget them), downgrade the
    platform's schema to base (its tables dropped), upgrade to head and create Alex and Jane.
    Without ``keep_progress`` the lab's table goes too (and comes back empty).

    Offered for SQLite only: a shared PostgreSQL database is never wiped from the lab.
    """
    if db.dialect != "sqlite":
        raise UserError(
            f"resetting is offered only for the embedded SQLite database, not {db.description}"
        )
    if await MIGRATIONS.is_up_to_date(db):
        async with PlatformUnitOfWork(db) as uow:
            await remove_users(uow, true(), "database reset")
            await uow.commit()
    await MIGRATIONS.downgrade(db, "base")
    if not keep_progress:
        await LAB_MIGRATIONS.downgrade(db, "base")
    return await run_db_setup_and_create_user(db)


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
