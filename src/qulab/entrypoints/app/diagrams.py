"""Graphviz DOT sources drawn by the app: the architecture and the ER diagram of the metadata."""

from __future__ import annotations

from html import escape
from itertools import pairwise

from sqlalchemy import Column, MetaData, Table

from qulab.core import Settings

_FONT = 'fontname="Helvetica"'
ER_ROW = 3  # unrelated tables drawn side by side, this many to a row


def _quote(text: str) -> str:
    """A DOT string literal; newlines become line breaks in the drawn label."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def database_label(settings: Settings) -> str:
    return "SQLite file\n(aiosqlite)" if settings.database.is_sqlite else "PostgreSQL\n(asyncpg)"


def cache_label(settings: Settings) -> str:
    return "Redis" if settings.cache.redis_url else "in-process cache\n(TTL / LRU)"


def broker_label(settings: Settings) -> str:
    url = settings.broker.url or "memory://"
    if url.startswith(("redis://", "rediss://")):
        return "Redis Streams"
    if url.startswith(("amqp://", "amqps://")):
        return "RabbitMQ"
    if url.startswith(("nats://", "tls://")):
        return "NATS JetStream"
    if url.startswith("stdout://"):
        return "stdout broker"
    return "in-memory broker"


_LAYERS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "entry",
        "Entry points",
        (("app", "Streamlit lab"), ("cli", "qulab CLI"), ("bench", "benchmarks")),
    ),
    ("lab", "Lab scenarios", (("scenarios", "qulab.lab\n(one function per step)"),)),
    ("services", "Services", (("users", "users"), ("scoring", "scoring"))),
    (
        "adapters",
        "Adapters",
        (
            ("uow", "unit of work"),
            ("repos", "repositories"),
            ("cache", "read-through cache"),
            ("relay", "outbox relay"),
        ),
    ),
    (
        "core",
        "Core",
        (
            ("models", "models + schemas"),
            ("engine", "async engine + pool"),
            ("mig", "Alembic migrations"),
        ),
    ),
)

_EDGES = (
    "app -> scenarios; cli -> scenarios; bench -> scenarios;",
    "scenarios -> users; scenarios -> scoring;",
    "users -> uow; scoring -> uow;",
    'uow -> repos; uow -> relay [label="events"];',
    'uow -> cache [label="invalidate\\nafter commit", style=dashed];',
    'repos -> models; repos -> engine; relay -> engine [label="claim\\npending", style=dashed];',
    'engine -> database [label="pooled\\nconnections"]; mig -> database [label="migrates"];',
    'cache -> cachestore; relay -> broker [label="publish"];',
)


def architecture_dot(settings: Settings) -> str:
    """The layers, top to bottom, and the services the current settings point at."""
    lines = [
        "digraph architecture {",
        "  rankdir=TB; newrank=true; nodesep=0.35; ranksep=0.45;",
        f'  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", {_FONT}, fontsize=11];',
        f'  edge [color="#5b6b82", {_FONT}, fontsize=9];',
    ]
    for key, title, nodes in _LAYERS:
        lines.append(f"  subgraph cluster_{key} {{")
        lines.append(f'    label={_quote(title)}; style=dashed; color="#9aa8bd"; {_FONT};')
        for node, label in nodes:
            lines.append(f"    {node} [label={_quote(label)}];")
        lines.append("  }")
    lines += [
        "  { rank=same; repos; cache; relay; }",
        "  { rank=same; models; engine; mig; }",
        "  subgraph cluster_running {",
        f'    label="Configured services"; style=dashed; color="#d08a3c"; {_FONT};',
        '    node [shape=cylinder, fillcolor="#fdf1e3"];',
        f"    database [label={_quote(database_label(settings))}];",
        f"    cachestore [label={_quote(cache_label(settings))}];",
        f"    broker [label={_quote(broker_label(settings))}];",
        "  }",
        "  { rank=same; database; cachestore; broker; }",
    ]
    lines += [f"  {edge}" for edge in _EDGES]
    lines.append("}")
    return "\n".join(lines)


def _column_type(column: Column[object]) -> str:
    try:
        text = str(column.type)
    except Exception:
        text = type(column.type).__name__
    impl = getattr(column.type, "impl", column.type)
    return f"{text} TZ" if getattr(impl, "timezone", False) else text


def _column_marks(column: Column[object]) -> str:
    marks = []
    if column.primary_key:
        marks.append("PK")
    if column.foreign_keys:
        marks.append("FK")
    if column.unique:
        marks.append("UQ")
    if column.index:
        marks.append("IX")
    if column.nullable and not column.primary_key:
        marks.append("NULL")
    return " ".join(marks)


def _muted(text: str) -> str:
    """Grey text; empty cells stay empty (Graphviz rejects an empty FONT element)."""
    return f'<FONT COLOR="#6b7280">{escape(text)}</FONT>' if text else ""


def _table_label(table: Table) -> str:
    rows = [
        f'<TR><TD COLSPAN="3" BGCOLOR="#3a5a8c"><FONT COLOR="white"><B>{escape(table.name)}'
        "</B></FONT></TD></TR>"
    ]
    for column in table.columns:
        port = escape(column.name)
        name = f"<B>{port}</B>" if column.primary_key else port
        rows.append(
            f'<TR><TD ALIGN="LEFT" PORT="{port}">{name}</TD>'
            f'<TD ALIGN="LEFT">{escape(_column_type(column))}</TD>'
            f'<TD ALIGN="LEFT" PORT="{port}_out">{_muted(_column_marks(column))}</TD>'
            "</TR>"
        )
    for index in sorted(table.indexes, key=lambda ix: ix.name or ""):
        if len(index.columns) > 1:
            cols = ", ".join(c.name for c in index.columns)
            rows.append(
                f'<TR><TD COLSPAN="3" ALIGN="LEFT"><FONT COLOR="#6b7280">index '
                f"{escape(index.name or '')} ({escape(cols)})</FONT></TD></TR>"
            )
    body = "".join(rows)
    return f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">{body}</TABLE>>'


def er_dot(*metadata: MetaData) -> str:
    """An entity-relationship diagram generated from the tables, columns and foreign keys."""
    tables = [table for each in metadata for table in each.sorted_tables]
    lines = [
        "digraph er {",
        "  rankdir=LR;",
        f"  node [shape=plain, {_FONT}, fontsize=11];",
        f'  edge [{_FONT}, fontsize=10, color="#5b6b82", arrowhead=crow, arrowtail=tee, dir=both];',
    ]
    for table in tables:
        lines.append(f"  {table.name} [label={_table_label(table)}];")
    related: set[str] = set()
    for table in tables:
        for fk in sorted(table.foreign_keys, key=lambda key: key.parent.name):
            target = fk.column
            related |= {table.name, target.table.name}
            lines.append(
                f"  {target.table.name}:{target.name}_out:e -> {table.name}:{fk.parent.name}:w "
                f"[label={_quote('1 .. n')}];"
            )
    # Tables with no foreign key would stack in one tall column: lay them out in rows instead.
    alone = [table.name for table in tables if table.name not in related]
    for start in range(0, len(alone), ER_ROW):
        row = alone[start : start + ER_ROW]
        for left, right in pairwise(row):
            lines.append(f"  {left} -> {right} [style=invis];")
    lines.append("}")
    return "\n".join(lines)
