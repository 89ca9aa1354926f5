"""The DOT sources the app draws: generated from the metadata and from the settings."""

from __future__ import annotations

from typing import Any

import pytest

from qulab.core.config import Settings
from qulab.entrypoints.app.diagrams import architecture_dot, er_dot
from qulab.platform.models import METADATA


def test_er_diagram_has_every_table_column_and_foreign_key() -> None:
    dot = er_dot(*METADATA)
    for table in (table for metadata in METADATA for table in metadata.sorted_tables):
        assert f"  {table.name} [label=<" in dot
        for column in table.columns:
            assert f'PORT="{column.name}"' in dot
    edges = [line.strip() for line in dot.splitlines() if "->" in line and "invis" not in line]
    assert sorted(edge.split(" [")[0] for edge in edges) == [
        "users:id_out:e -> air_scores:user_id:w",
        "users:id_out:e -> assessments:user_id:w",
    ]


def test_er_diagram_marks_keys_and_the_composite_index() -> None:
    dot = er_dot(*METADATA)
    assert '<TD ALIGN="LEFT" PORT="email">email</TD>' in dot
    assert "PK" in dot and "FK" in dot and "UQ IX" in dot
    assert "index ix_events_status_created (status, created_at)" in dot


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ["SQLite file", "in-process cache", "in-memory broker"]),
        (
            {
                "database_url": "postgresql+asyncpg://u@h/db",
                "redis_url": "redis://h:6379/0",
                "broker_url": "redis://h:6379/1",
            },
            ["PostgreSQL", 'cachestore [label="Redis"]', "Redis Streams"],
        ),
        ({"broker_url": "amqp://guest:guest@h/"}, ["RabbitMQ"]),
        ({"broker_url": "nats://h:4222"}, ["NATS JetStream"]),
    ],
)
def test_architecture_shows_the_configured_services(
    overrides: dict[str, Any], expected: list[str]
) -> None:
    dot = architecture_dot(Settings().replace(**overrides))
    assert dot.startswith("digraph architecture {") and dot.endswith("}")
    for label in expected:
        assert label in dot
    assert dot.count("{") == dot.count("}")


def test_tables_without_a_foreign_key_are_laid_out_in_rows_not_one_column() -> None:
    dot = er_dot(*METADATA)
    invisible = [line.strip() for line in dot.splitlines() if "style=invis" in line]
    tables = [t.name for metadata in METADATA for t in metadata.sorted_tables]
    alone = [t for t in tables if t not in ("users", "air_scores", "assessments")]
    rows = -(-len(alone) // 3)
    assert len(invisible) == len(alone) - rows  # chained in rows of three
