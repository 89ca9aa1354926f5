"""Start over on the embedded database: drop every table, migrate again, recreate the samples."""

from __future__ import annotations

from sqlalchemy import true

from qulab.adapters import migrate
from qulab.adapters.db import Database
from qulab.adapters.uow import UnitOfWork
from qulab.domain.errors import UserError
from qulab.lab.setup import SetupResult, run_db_setup_and_create_user
from qulab.services.seeding import remove_users


async def reset_database(db: Database) -> SetupResult:
    """Remove every user through the unit of work (so caches forget them), downgrade to base
    (every table dropped), upgrade to head and create Alex and Jane.

    Offered for SQLite only: a shared PostgreSQL database is never wiped from the lab.
    """
    if db.dialect != "sqlite":
        raise UserError(
            f"resetting is offered only for the embedded SQLite database, not {db.description}"
        )
    if await migrate.is_up_to_date(db):
        async with UnitOfWork(db) as uow:
            await remove_users(uow, true(), "database reset")
            await uow.commit()
    await migrate.downgrade(db, "base")
    return await run_db_setup_and_create_user(db)
