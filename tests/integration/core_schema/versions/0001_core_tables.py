"""An application's first revision, reduced to the core's tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from qulab.core.schema import create_core_tables, drop_core_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_core_tables()


def downgrade() -> None:
    drop_core_tables()
