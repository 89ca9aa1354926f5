"""An outbox table designed by a learner: validated, then built with SQLAlchemy Core.

Every identifier comes from a fixed vocabulary (the column names below, index names generated
here) and every type from a fixed list, so nothing a learner types is ever spelled into SQL.
A design that cannot work is refused with one line saying why, before anything is created.
QuLab's own outbox shape is ``REFERENCE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    exists,
    func,
    literal_column,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from qulab.core import InvalidInput

TABLE_NAME = "design_events"
PENDING_WHERE = "status = 'pending'"
MAX_INDEXES = 4
MAX_INDEX_COLUMNS = 3
MAX_BATCH = 500

# The column types a learner may pick, by the name shown in the form.
TYPES: dict[str, Any] = {
    "varchar(36)": lambda: String(36),
    "text": Text,
    "json": JSON,
    "bigint": BigInteger,
    "integer": Integer,
    "timestamptz": lambda: DateTime(timezone=True),
    "bigint identity": BigInteger,
}

# The columns a design may have, what each is for and which types fit it.
COLUMNS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "id": ("the event id (primary key)", ("varchar(36)", "text"), True),
    "aggregate_id": ("the aggregate the event belongs to", ("varchar(36)", "text"), True),
    "event_type": ("what happened", ("text", "varchar(36)"), False),
    "payload": ("the event body", ("json", "text"), True),
    "status": ("pending or published", ("text", "varchar(36)"), True),
    "created_at": ("when the event was written", ("timestamptz",), False),
    "sequence": (
        "insertion order (identity)",
        ("bigint identity", "bigint", "integer"),
        False,
    ),
    "published_at": ("when the relay published it", ("timestamptz",), False),
}

LOCKS: dict[str, str] = {
    "skip_locked": "FOR UPDATE SKIP LOCKED",
    "for_update": "FOR UPDATE",
    "none": "no row lock",
}
NO_ORDER = "none"


@dataclass(frozen=True)
class IndexSpec:
    """An index on one to three of the table's columns, optionally only on pending rows."""

    columns: tuple[str, ...]
    pending_only: bool = False

    @property
    def label(self) -> str:
        where = f" WHERE {PENDING_WHERE}" if self.pending_only else ""
        return f"({', '.join(self.columns)}){where}"


@dataclass(frozen=True)
class Design:
    """A validated outbox design: columns and types, indexes and the relay's claim."""

    columns: tuple[tuple[str, str], ...]
    indexes: tuple[IndexSpec, ...]
    order_by: str
    lock: str
    batch_size: int
    hold_aggregate: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def type_of(self, name: str) -> str | None:
        return dict(self.columns).get(name)

    def summary(self) -> str:
        order = "no order" if self.order_by == NO_ORDER else f"ORDER BY {self.order_by}"
        indexes = "; ".join(index.label for index in self.indexes) or "no index"
        hold = ", aggregates held behind their earlier pending event" if self.hold_aggregate else ""
        return (
            f"indexes {indexes}; claim {order}, {LOCKS[self.lock]}, batch {self.batch_size}{hold}"
        )


def make_design(
    columns: Mapping[str, str] | Sequence[tuple[str, str]],
    indexes: Sequence[tuple[Sequence[str], bool]],
    order_by: str,
    lock: str,
    batch_size: int,
    hold_aggregate: bool = False,
) -> Design:
    """A ``Design`` from raw choices, or ``InvalidInput`` naming the first thing wrong."""
    pairs = list(columns.items()) if isinstance(columns, Mapping) else list(columns)
    seen: dict[str, str] = {}
    for name, type_ in pairs:
        if name not in COLUMNS:
            raise InvalidInput("columns", f"{name!r} is not one of the outbox columns")
        if name in seen:
            raise InvalidInput("columns", f"the column {name} appears twice")
        if type_ not in TYPES:
            raise InvalidInput("columns", f"{type_!r} is not one of the column types")
        allowed = COLUMNS[name][1]
        if type_ not in allowed:
            raise InvalidInput(
                "columns", f"the column {name} must be {' or '.join(allowed)}, not {type_}"
            )
        seen[name] = type_
    for name, (_, _, required) in COLUMNS.items():
        if required and name not in seen:
            raise InvalidInput("columns", f"the table needs the column {name}")
    if len(indexes) > MAX_INDEXES:
        raise InvalidInput("indexes", f"at most {MAX_INDEXES} indexes")
    specs: list[IndexSpec] = []
    for index_columns, pending_only in indexes:
        cols = tuple(index_columns)
        if not cols:
            raise InvalidInput("indexes", "an index needs at least one column")
        if len(cols) > MAX_INDEX_COLUMNS:
            raise InvalidInput("indexes", f"an index has at most {MAX_INDEX_COLUMNS} columns")
        if len(set(cols)) != len(cols):
            raise InvalidInput("indexes", "an index names the same column twice")
        for col in cols:
            if col not in seen:
                raise InvalidInput("indexes", f"an index names {col!r}, which is not in the table")
        spec = IndexSpec(cols, bool(pending_only))
        if spec in specs:
            raise InvalidInput("indexes", f"the index {spec.label} appears twice")
        specs.append(spec)
    if order_by != NO_ORDER and order_by not in seen:
        raise InvalidInput("order_by", "the claim orders by a column that is not in the table")
    if lock not in LOCKS:
        raise InvalidInput("lock", f"the lock must be one of {', '.join(LOCKS)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise InvalidInput("batch_size", "the batch size must be a whole number")
    if not 1 <= batch_size <= MAX_BATCH:
        raise InvalidInput("batch_size", f"the batch size must be between 1 and {MAX_BATCH}")
    if hold_aggregate and order_by == NO_ORDER:
        raise InvalidInput(
            "hold_aggregate", "holding an aggregate back needs the claim to order by a column"
        )
    ordered = tuple((name, seen[name]) for name in COLUMNS if name in seen)
    return Design(ordered, tuple(specs), order_by, lock, batch_size, bool(hold_aggregate))


def design_from_dict(data: object) -> Design:
    """A ``Design`` from JSON-shaped data (the CLI's design file)."""
    if not isinstance(data, dict):
        raise InvalidInput("design", "a design is an object with columns, indexes and claim")
    columns = data.get("columns")
    indexes = data.get("indexes", [])
    claim = data.get("claim", {})
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        raise InvalidInput("columns", "columns maps each column name to a type name")
    if not isinstance(indexes, list) or not isinstance(claim, dict):
        raise InvalidInput("design", "indexes is a list and claim an object")
    parsed: list[tuple[list[str], bool]] = []
    for index in indexes:
        if not isinstance(index, dict) or not isinstance(index.get("columns"), list):
            raise InvalidInput("indexes", "each index is an object with a list of columns")
        cols = index["columns"]
        if not all(isinstance(col, str) for col in cols):
            raise InvalidInput("indexes", "index columns are column names")
        parsed.append((cols, bool(index.get("pending_only", False))))
    order_by = claim.get("order_by", NO_ORDER)
    lock = claim.get("lock", "skip_locked")
    batch = claim.get("batch_size", 50)
    hold = claim.get("hold_aggregate", False)
    if not isinstance(order_by, str) or not isinstance(lock, str) or not isinstance(hold, bool):
        raise InvalidInput("claim", "order_by and lock are names, hold_aggregate true or false")
    return make_design(columns, parsed, order_by, lock, batch, hold)


REFERENCE = make_design(
    {
        "id": "varchar(36)",
        "aggregate_id": "varchar(36)",
        "event_type": "text",
        "payload": "json",
        "status": "varchar(36)",
        "created_at": "timestamptz",
        "sequence": "bigint identity",
        "published_at": "timestamptz",
    },
    [(["sequence"], True), (["aggregate_id", "sequence"], True)],
    order_by="sequence",
    lock="skip_locked",
    batch_size=50,
    hold_aggregate=True,
)


def build_table(design: Design, schema: str | None) -> Table:
    """The design's table (in ``schema``, a name generated by the grader) and its indexes."""
    metadata = MetaData(schema=schema)
    columns: list[Column[Any]] = []
    for name, type_name in design.columns:
        type_ = TYPES[type_name]()
        if name == "id":
            columns.append(Column(name, type_, primary_key=True))
        elif type_name == "bigint identity":
            columns.append(Column(name, type_, Identity(), nullable=False))
        elif name == "created_at":
            columns.append(Column(name, type_, server_default=func.now(), nullable=False))
        elif name in ("published_at", "event_type", "sequence"):
            columns.append(Column(name, type_))
        else:
            columns.append(Column(name, type_, nullable=False))
    table = Table(TABLE_NAME, metadata, *columns)
    for number, spec in enumerate(design.indexes, start=1):
        where: ColumnElement[Any] | None = (
            literal_column(PENDING_WHERE) if spec.pending_only else None
        )
        Index(
            f"ix_design_{number}",
            *(table.c[col] for col in spec.columns),
            postgresql_where=where,
            sqlite_where=where,
        )
    return table


def claim_statement(design: Design, table: Table) -> Select[Any]:
    """The relay's claim as the design asks for it."""
    statement = (
        select(table.c.id, table.c.aggregate_id, table.c.payload)
        .where(table.c.status == literal_column("'pending'"))
        .limit(design.batch_size)
    )
    if design.order_by != NO_ORDER:
        order = table.c[design.order_by]
        statement = statement.order_by(order)
        if design.hold_aggregate:
            earlier = table.alias("earlier")
            statement = statement.where(
                ~exists()
                .where(earlier.c.aggregate_id == table.c.aggregate_id)
                .where(earlier.c.status == literal_column("'pending'"))
                .where(earlier.c[design.order_by] < order)
            )
    if design.lock != "none":
        statement = statement.with_for_update(skip_locked=design.lock == "skip_locked")
    return statement
