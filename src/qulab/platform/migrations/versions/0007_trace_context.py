"""The writer's trace context on each outbox event (``domain_events.trace_context``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("domain_events", sa.Column("trace_context", sa.Text(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN on both dialects (SQLite 3.35+): a batch rebuild would lose
    # SQLite's sequence trigger.
    op.drop_column("domain_events", "trace_context")
