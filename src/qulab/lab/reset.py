"""Start over on the embedded database: drop every table, migrate again, recreate the samples.

The learner's knowledge-check progress (``lab_progress``) is carried over unless asked not to:
starting the exercises over is not forgetting what one has answered.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import true

from qulab.core import Database, UserError
from qulab.lab.progress import ProgressRepository
from qulab.lab.setup import SetupResult, run_db_setup_and_create_user
from qulab.platform import MIGRATIONS, LabProgress, PlatformUnitOfWork, remove_users


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
