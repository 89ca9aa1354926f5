"""The consumers' inbox and the ``user_score_summary`` projection.

``inbox`` holds one row per (consumer, event id) a consumer has applied; its primary key is
what makes a redelivered event change nothing. ``user_score_summary`` is kept by the
score-summary consumer from ``score.calculated`` and ``user.deleted`` events.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    op.create_table(
        "user_score_summary",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("score_count", sa.Integer(), nullable=False),
        sa.Column("score_total", sa.Float(), nullable=False),
        sa.Column("mean_score", sa.Float(), nullable=True),
        sa.Column("latest_score", sa.Float(), nullable=True),
        sa.Column("latest_score_id", sa.String(36), nullable=True),
        sa.Column("latest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_id", sa.String(36), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("user_score_summary")
    op.drop_table("inbox")
