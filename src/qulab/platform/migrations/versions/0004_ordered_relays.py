"""Ordered, partitioned relays: the writing transaction's id on every event, relays and leases.

``domain_events.txid`` is the id of the transaction that inserted the row. On PostgreSQL a
server default fills it (``pg_current_xact_id()``, the 64-bit, epoch-safe id, as a bigint);
rows that exist before this revision were committed long ago and get 0. SQLite has no
transaction ids: the column defaults to 0 there and SQLite keeps its single relay.

Two indexes serve the ordered claim: pending events in (txid, sequence) order, and the
aggregates of pending events that wait for a retry (they hold back their aggregate's later
events).

``outbox_relays`` lists the running ordered relays (each renews its ``expires_at``);
``outbox_leases`` has one row per partition with the relay holding it and until when.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "domain_events"
PENDING = sa.text("status = 'pending'")
RETRYING = sa.text("status = 'pending' AND next_attempt_at IS NOT NULL")
TXID_DEFAULT = "(pg_current_xact_id()::text)::bigint"
# Revision 0002's trigger numbering SQLite's events, as it wrote it.
SQLITE_SEQUENCE_TRIGGER = """
CREATE TRIGGER trg_domain_events_sequence AFTER INSERT ON domain_events
FOR EACH ROW WHEN NEW.sequence = 0
BEGIN
    UPDATE domain_events SET sequence = (SELECT coalesce(max(sequence), 0) + 1 FROM domain_events)
    WHERE rowid = NEW.rowid;
END
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # Existing rows get 0 (committed long ago); new ones the server default.
    op.add_column(
        TABLE, sa.Column("txid", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
    )
    if postgres:
        op.execute(f"ALTER TABLE domain_events ALTER COLUMN txid SET DEFAULT {TXID_DEFAULT}")
    op.create_index(
        "ix_events_pending_txid",
        TABLE,
        ["txid", "sequence"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_events_retrying_aggregate",
        TABLE,
        ["aggregate_id"],
        postgresql_where=RETRYING,
        sqlite_where=RETRYING,
    )
    op.create_table(
        "outbox_relays",
        sa.Column("relay_id", sa.String(64), primary_key=True),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "outbox_leases",
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("outbox_leases")
    op.drop_table("outbox_relays")
    op.drop_index("ix_events_retrying_aggregate", table_name=TABLE)
    op.drop_index("ix_events_pending_txid", table_name=TABLE)
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS trg_domain_events_sequence")
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("txid")
    if sqlite:  # the batch rebuilt the table without revision 0002's trigger: put it back
        op.execute(SQLITE_SEQUENCE_TRIGGER)
