"""The log-tailing relay's tables: ``outbox_wal_slots`` (a slot's published count, whether the
events older than the slot were sent) and ``outbox_failures`` (retries and dead letters without
an UPDATE per event).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from qulab.core import upgrade_core_tables

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_core_tables()


def downgrade() -> None:
    op.drop_table("outbox_failures")
    op.drop_table("outbox_wal_slots")
