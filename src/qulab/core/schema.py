"""The core's tables in their final shape, for an application's first Alembic migration.

An application whose database starts empty creates the outbox (``domain_events``), the ordered
relays' tables (``outbox_relays``, ``outbox_leases``), the consumers' ``inbox`` and the
log-tailing relay's ``outbox_wal_slots`` and ``outbox_failures`` in one call,
beside its own tables::

    from qulab.core.schema import create_core_tables, drop_core_tables

    def upgrade() -> None:
        create_core_tables()
        op.create_table("products", ...)

    def downgrade() -> None:
        op.drop_table("products")
        drop_core_tables()

The result is what ``qulab.core.models.metadata`` declares, with the details a model cannot
carry, per dialect: ``domain_events.sequence`` is an identity column on PostgreSQL, and on
SQLite defaults to 0 and is numbered by an AFTER INSERT trigger (SQLite has one writer at a
time, so the trigger cannot race); ``txid`` defaults to the writing transaction's id on
PostgreSQL and to 0 on SQLite; the relay's claim indexes are partial. Both helpers run on the
migration's own operations unless given ``op``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context
from alembic.operations import Operations

EVENTS = "domain_events"
PENDING = sa.text("status = 'pending'")
RETRYING = sa.text("status = 'pending' AND next_attempt_at IS NOT NULL")
TXID_DEFAULT = "(pg_current_xact_id()::text)::bigint"
"""PostgreSQL's id of the writing transaction (64-bit, epoch-safe) as a bigint: the ordered
relay's commit fence."""
SQLITE_SEQUENCE_TRIGGER = """
CREATE TRIGGER trg_domain_events_sequence AFTER INSERT ON domain_events
FOR EACH ROW WHEN NEW.sequence = 0
BEGIN
    UPDATE domain_events SET sequence = (SELECT coalesce(max(sequence), 0) + 1 FROM domain_events)
    WHERE rowid = NEW.rowid;
END
"""
CORE_TABLES = (
    EVENTS,
    "outbox_relays",
    "outbox_leases",
    "inbox",
    "outbox_wal_slots",
    "outbox_failures",
)
WAL_TABLES = ("outbox_wal_slots", "outbox_failures")
TRACE_CONTEXT = "trace_context"


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _operations(op: Operations | None) -> Operations:
    return op if op is not None else Operations(context.get_context())


def create_core_tables(op: Operations | None = None) -> None:
    """Create the core's tables, their indexes and (SQLite) the sequence trigger."""
    op = _operations(op)
    postgres = op.get_context().dialect.name == "postgresql"
    if postgres:
        sequence = sa.Column("sequence", sa.BigInteger(), sa.Identity(), nullable=False)
        txid_default = sa.text(TXID_DEFAULT)
    else:
        sequence = sa.Column(
            "sequence", sa.BigInteger(), nullable=False, server_default=sa.text("0")
        )
        txid_default = sa.text("0")
    op.create_table(
        EVENTS,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("aggregate_type", sa.String(100), nullable=False),
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _timestamp("published_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sequence,
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("next_attempt_at", nullable=True),
        sa.Column("txid", sa.BigInteger(), nullable=False, server_default=txid_default),
        sa.Column(TRACE_CONTEXT, sa.Text(), nullable=True),
    )
    if not postgres:
        op.execute(SQLITE_SEQUENCE_TRIGGER)
    op.create_index("ix_domain_events_event_type", EVENTS, ["event_type"])
    op.create_index("ix_domain_events_aggregate_id", EVENTS, ["aggregate_id"])
    op.create_index("ix_events_status_created", EVENTS, ["status", "created_at"])
    op.create_index("ix_domain_events_sequence", EVENTS, ["sequence"], unique=True)
    for name, columns, where in (
        ("ix_events_pending_sequence", ["sequence"], PENDING),
        ("ix_events_pending_txid", ["txid", "sequence"], PENDING),
        ("ix_events_retrying_aggregate", ["aggregate_id"], RETRYING),
    ):
        op.create_index(name, EVENTS, columns, postgresql_where=where, sqlite_where=where)

    op.create_table(
        "outbox_relays",
        sa.Column("relay_id", sa.String(64), primary_key=True),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        _timestamp("started_at"),
        _timestamp("expires_at"),
    )
    op.create_table(
        "outbox_leases",
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("owner", sa.String(64), nullable=True),
        _timestamp("acquired_at", nullable=True),
        _timestamp("expires_at", nullable=True),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        _timestamp("applied_at"),
        sa.Column("deliveries", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    create_wal_tables(op)


def create_wal_tables(op: Operations | None = None) -> None:
    """Create the log-tailing relay's two tables: its slots' counters, its failures."""
    op = _operations(op)
    op.create_table(
        "outbox_wal_slots",
        sa.Column("slot", sa.String(63), primary_key=True),
        sa.Column("published", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("drained", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("confirmed_lsn", sa.String(32), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    op.create_table(
        "outbox_failures",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("next_attempt_at", nullable=True),
        _timestamp("updated_at"),
    )
    op.create_index("ix_outbox_failures_aggregate_id", "outbox_failures", ["aggregate_id"])


def drop_wal_tables(op: Operations | None = None) -> None:
    op = _operations(op)
    for table in reversed(WAL_TABLES):
        op.drop_table(table)


def upgrade_core_tables(op: Operations | None = None) -> None:
    """Bring core tables made by an earlier ``create_core_tables`` to today's shape: adds the
    columns and tables added since (``domain_events.trace_context``, the log-tailing relay's
    ``outbox_wal_slots`` and ``outbox_failures``), leaving those already there. An
    application calls it in a revision of its own after upgrading QuLab; on a database its
    first revision created today it changes nothing."""
    op = _operations(op)
    inspector = sa.inspect(op.get_bind())
    present = {c["name"] for c in inspector.get_columns(EVENTS)}
    if TRACE_CONTEXT not in present:
        op.add_column(EVENTS, sa.Column(TRACE_CONTEXT, sa.Text(), nullable=True))
    if not set(WAL_TABLES) & set(inspector.get_table_names()):
        create_wal_tables(op)


def drop_core_tables(op: Operations | None = None) -> None:
    """Drop the core's tables (their indexes and trigger go with them)."""
    op = _operations(op)
    for table in reversed(CORE_TABLES):
        op.drop_table(table)
