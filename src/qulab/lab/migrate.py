"""The lab's schema: its own Alembic revisions, recorded in their own version table.

The platform's migrations (``qulab.platform.MIGRATIONS``) bring up the AI-R tables; these bring
up the lab's. ``upgrade`` runs both, the platform's first, which is what setting the lab up
needs.
"""

from __future__ import annotations

from pathlib import Path

from qulab.core import Database, Migrations
from qulab.platform import MIGRATIONS

LAB_MIGRATIONS = Migrations(
    Path(__file__).parent / "migrations", version_table="lab_alembic_version"
)


async def upgrade(db: Database) -> None:
    """The platform's schema, then the lab's, at their heads (idempotent)."""
    await MIGRATIONS.upgrade(db)
    await LAB_MIGRATIONS.upgrade(db)
