"""Start over on the embedded database: drop every table, migrate again, recreate the samples."""

from __future__ import annotations

from qulab import migrate
from qulab.db import Database
from qulab.errors import UserError
from qulab.lab.setup import SetupResult, run_db_setup_and_create_user


async def reset_database(db: Database) -> SetupResult:
    """Downgrade to base (every table dropped), upgrade to head and create Alex and Jane.

    Offered for SQLite only: a shared PostgreSQL database is never wiped from the lab.
    """
    if db.dialect != "sqlite":
        raise UserError(
            f"resetting is offered only for the embedded SQLite database, not {db.description}"
        )
    await migrate.downgrade(db, "base")
    return await run_db_setup_and_create_user(db)
