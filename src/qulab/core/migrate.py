"""Run an application's Alembic migrations from inside QuLab (on the async engine, without a
second event loop), and the Alembic environment an application's ``env.py`` delegates to.

An application names its migrations folder once (``Migrations(path)``); ``upgrade``,
``downgrade``, ``current_revision`` and ``is_up_to_date`` then run on any ``Database``. Its
``env.py`` is two lines: ``from qulab.core.migrate import run_environment`` and
``run_environment([Base.metadata, qulab.core.models.metadata])``.

Alembic is imported by the functions that run it, not with this module: an application names
its ``Migrations`` at import time, and a command that does not migrate should not load Alembic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qulab.core.config import get_settings
from qulab.core.errors import InvalidInput

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Connection

    from qulab.core.db import Database


@dataclass(frozen=True)
class Migrations:
    """An application's Alembic revisions: the folder holding ``env.py`` and ``versions/``."""

    path: Path

    def config(self, database_url: str | None = None) -> Config:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(self.path))
        if database_url:
            config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
        return config

    def head(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.config()).get_current_head()

    async def upgrade(self, db: Database, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (creates every table on an empty database)."""
        await self._run(db, "upgrade", revision)

    async def downgrade(self, db: Database, revision: str = "-1") -> None:
        await self._run(db, "downgrade", revision)

    async def is_up_to_date(self, db: Database) -> bool:
        return await current_revision(db) == self.head()

    async def _run(self, db: Database, name: str, revision: str) -> None:
        from alembic import command
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError

        def _run(connection: Connection) -> None:
            config = self.config()
            config.attributes["connection"] = connection
            getattr(command, name)(config, revision)

        try:
            async with db.begin() as conn:
                await conn.run_sync(_run)
        except (CommandError, RevisionError) as error:
            # An unknown or unreachable target revision: the caller's to fix, nothing changed.
            raise InvalidInput("revision", f"{error} (see `qulab db current`)") from error


async def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.connect() as conn:
        return await conn.run_sync(_current)


def run_environment(target_metadata: Sequence[MetaData]) -> None:
    """The body of an application's Alembic ``env.py``: batch mode on SQLite, the connection
    QuLab hands in when it runs a command, else an engine of its own on the configured URL."""
    from alembic import context

    config = context.config

    def configure(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=list(target_metadata),
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        # Imported here: the bootstrap module imports this one.
        from qulab.core.bootstrap import open_database

        url = config.get_main_option("sqlalchemy.url")
        settings = get_settings()
        if url:
            settings = settings.replace(database_url=url)
        db = open_database(settings, null_pool=True)
        try:
            async with db.engine.connect() as connection:
                await connection.run_sync(configure)
                await connection.commit()
        finally:
            await db.dispose()

    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url") or get_settings().database.url,
            target_metadata=list(target_metadata),
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        configure(connection)
    else:
        asyncio.run(run_async())
