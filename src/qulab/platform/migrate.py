"""The platform's schema migrations (``migrations/``), run through the core's Alembic runner."""

from __future__ import annotations

from pathlib import Path

from qulab.core.db import Database
from qulab.core.migrate import Migrations, current_revision

MIGRATIONS = Migrations(Path(__file__).parent / "migrations")

__all__ = [
    "MIGRATIONS",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_up_to_date",
    "upgrade",
]


def head_revision() -> str | None:
    return MIGRATIONS.head()


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (creates every table on an empty database)."""
    await MIGRATIONS.upgrade(db, revision)


async def downgrade(db: Database, revision: str = "-1") -> None:
    await MIGRATIONS.downgrade(db, revision)


async def is_up_to_date(db: Database) -> bool:
    return await MIGRATIONS.is_up_to_date(db)
