"""Start over on the embedded database: drop the platform's tables, migrate again, recreate the
samples.

The learner's knowledge-check progress (the lab's own ``lab_progress``) is carried over unless
asked not to: starting the exercises over is not forgetting what one has answered. It needs no
copying: the platform's migrations leave the lab's table alone.
"""

from __future__ import annotations

from sqlalchemy import true

from qulab.core import Database, UserError
from qulab.lab.migrate import LAB_MIGRATIONS
from qulab.lab.setup import SetupResult, run_db_setup_and_create_user
from qulab.platform import MIGRATIONS, PlatformUnitOfWork, remove_users


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
