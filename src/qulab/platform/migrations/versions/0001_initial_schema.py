"""Initial schema: users, assessments, air_scores, domain_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("occupation_code", sa.String(20), nullable=True),
        sa.Column("education_level", sa.String(50), nullable=True),
        sa.Column("years_experience", sa.Float(), nullable=True),
        *_timestamps(),
    )
    op.create_index("ix_users_email", "users", ["email"], unique=True)

    op.create_table(
        "assessments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("component", sa.String(50), nullable=False),
        sa.Column("current_ability", sa.Float(), nullable=False),
        sa.Column("items_administered", sa.Integer(), nullable=False),
        *_timestamps(),
    )
    op.create_index("ix_assessments_user_id", "assessments", ["user_id"])

    op.create_table(
        "air_scores",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("occupation_code", sa.String(20), nullable=False),
        sa.Column("air_score", sa.Float(), nullable=False),
        sa.Column("vr_score", sa.Float(), nullable=False),
        sa.Column("hr_score", sa.Float(), nullable=False),
        sa.Column("synergy_score", sa.Float(), nullable=False),
        sa.Column("ci_lower", sa.Float(), nullable=False),
        sa.Column("ci_upper", sa.Float(), nullable=False),
        sa.Column("parameter_version", sa.String(20), nullable=False),
        sa.Column("calculation_metadata", sa.JSON(), nullable=False),
        *_timestamps(),
    )
    op.create_index("ix_air_scores_user_id", "air_scores", ["user_id"])

    op.create_table(
        "domain_events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("aggregate_type", sa.String(100), nullable=False),
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("published_at", TZ, nullable=True),
        *_timestamps(),
    )
    op.create_index("ix_domain_events_event_type", "domain_events", ["event_type"])
    op.create_index("ix_domain_events_aggregate_id", "domain_events", ["aggregate_id"])
    op.create_index("ix_events_status_created", "domain_events", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("domain_events")
    op.drop_table("air_scores")
    op.drop_table("assessments")
    op.drop_table("users")
