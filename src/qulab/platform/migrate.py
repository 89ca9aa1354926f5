"""Run Alembic migrations from inside QuLab (on an async engine, without a second event loop)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from qulab.core.db import Database
from qulab.core.errors import InvalidInput

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def _run_command(db: Database, name: str, revision: str) -> None:
    def _run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        getattr(command, name)(config, revision)

    try:
        async with db.begin() as conn:
            await conn.run_sync(_run)
    except (CommandError, RevisionError) as error:
        # An unknown or unreachable target revision: the caller's to fix, nothing was changed.
        raise InvalidInput("revision", f"{error} (see `qulab db current`)") from error


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (creates every table on an empty database)."""
    await _run_command(db, "upgrade", revision)


async def downgrade(db: Database, revision: str = "-1") -> None:
    await _run_command(db, "downgrade", revision)


async def current_revision(db: Database) -> str | None:
    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.connect() as conn:
        return await conn.run_sync(_current)


async def is_up_to_date(db: Database) -> bool:
    return await current_revision(db) == head_revision()
