"""Run an application's Alembic migrations from inside QuLab (on the async engine, without a
second event loop), and the Alembic environment an application's ``env.py`` delegates to.

An application names its migrations folder once (``Migrations(path)``); ``upgrade``,
``downgrade``, ``current`` and ``is_up_to_date`` then run on any ``Database``. Its ``env.py`` is
two lines: ``from qulab.core.migrate import run_environment`` and
``run_environment([Base.metadata, qulab.core.models.metadata])``.

Several sets of migrations can share one database, each with its own version table
(``Migrations(path, version_table="extras_alembic_version")``): each set creates, compares and
drops only the tables of its own metadata, and downgrading one leaves the others' tables alone.

Alembic is imported by the functions that run it, not with this module: an application names
its ``Migrations`` at import time, and a command that does not migrate should not load Alembic.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, inspect, select, table

from qulab.core.config import get_settings
from qulab.core.errors import InvalidInput

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Connection

    from qulab.core.db import Database

VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class DowngradePlan:
    """What a downgrade would undo, worked out without changing the database: the revisions
    (newest first, with their messages), the tables that would be gone and the rows they hold
    now."""

    current: str | None
    target: str | None
    revisions: list[tuple[str, str]] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


@dataclass(frozen=True)
class Migrations:
    """An application's Alembic revisions: the folder holding ``env.py`` and ``versions/``, and
    the table that records which of them a database has (Alembic's own by default)."""

    path: Path
    version_table: str = VERSION_TABLE

    def config(self, database_url: str | None = None) -> Config:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(self.path))
        config.set_main_option("version_table", self.version_table)
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

    async def current(self, db: Database) -> str | None:
        """The revision ``db`` is at, or None before the first one (or on an empty database)."""
        return await current_revision(db, self.version_table)

    async def plan_downgrade(self, db: Database, revision: str = "-1") -> DowngradePlan:
        """What ``downgrade(db, revision)`` would do, found by replaying it on a scratch SQLite
        copy of the schema at the database's revision; ``db`` itself is only read."""
        current = await current_revision(db)
        with tempfile.TemporaryDirectory(prefix="qulab-plan-") as directory:
            scratch = db.settings.replace(database_url=f"sqlite+aiosqlite:///{directory}/plan.db")
            from qulab.core.bootstrap import open_database  # (it imports this module)

            copy = open_database(scratch, null_pool=True)
            try:
                if current is not None:
                    await self.upgrade(copy, current)
                before = await _tables(copy)
                await self.downgrade(copy, revision)
                after = await _tables(copy)
                target = await current_revision(copy)
            finally:
                await copy.dispose()
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self.config())
        undone = (
            [
                (step.revision, (step.doc or "").strip())
                for step in script.iterate_revisions(current or "base", target or "base")
                if step.revision != target
            ]
            if current is not None
            else []
        )
        gone = sorted((before - after) & await _tables(db))
        return DowngradePlan(current, target, undone, await _row_counts(db, gone))

    async def is_up_to_date(self, db: Database) -> bool:
        return await self.current(db) == self.head()

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


async def current_revision(db: Database, version_table: str = VERSION_TABLE) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def _current(connection: Connection) -> str | None:
        context = MigrationContext.configure(connection, opts={"version_table": version_table})
        return context.get_current_revision()

    async with db.connect() as conn:
        return await conn.run_sync(_current)


async def _tables(db: Database) -> set[str]:
    async with db.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def _row_counts(db: Database, names: list[str]) -> dict[str, int]:
    async with db.connect() as conn:
        return {
            name: int(
                (await conn.execute(select(func.count()).select_from(table(name)))).scalar_one()
            )
            for name in names
        }


def run_environment(target_metadata: Sequence[MetaData]) -> None:
    """The body of an application's Alembic ``env.py``: batch mode on SQLite, the connection
    QuLab hands in when it runs a command, else an engine of its own on the configured URL.

    Autogenerate compares only the tables of ``target_metadata``: another set of migrations'
    tables in the same database are not this set's to drop."""
    from alembic import context

    config = context.config
    version_table = config.get_main_option("version_table") or VERSION_TABLE
    own = {table for metadata in target_metadata for table in metadata.tables}

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return type_ != "table" or name in own

    def configure(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=list(target_metadata),
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            version_table=version_table,
            include_name=include_name,
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
            version_table=version_table,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        configure(connection)
    else:
        asyncio.run(run_async())
