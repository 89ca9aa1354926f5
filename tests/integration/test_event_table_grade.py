"""The event-table grader on real PostgreSQL and SQLite: the reference passes, bad designs fail
visibly, and the scratch schema or file is gone afterwards."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from qulab.core.db import Database
from qulab.lab.event_table_design import REFERENCE
from qulab.lab.event_table_grade import (
    AGGREGATES,
    EVENTS_PER_AGGREGATE,
    HISTORY_ROWS,
    grade,
)

PRODUCED = AGGREGATES * EVENTS_PER_AGGREGATE


async def _design_schemas(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qulab_design_%'")
        )
        return {str(row[0]) for row in rows}


async def test_the_reference_uses_its_index_and_loses_nothing(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qulab.lab.event_table_grade")

    result = await grade(db, REFERENCE)

    assert result.index_used
    assert (result.produced, result.published) == (PRODUCED, PRODUCED)
    assert (result.lost, result.duplicates, result.inversions) == (0, 0, 0)
    assert result.problems() == []
    assert result.table_rows == HISTORY_ROWS + PRODUCED
    assert result.table_bytes > 0 and result.throughput > 0
    if db.dialect == "postgresql":
        assert "Index Scan using ix_design_1" in result.plan
        assert "Seq Scan" not in result.plan
        assert result.blocked is False
        (schema,) = re.findall(r"scratch design schema (qulab_design_[0-9a-f]+)", caplog.text)
        assert schema not in await _design_schemas(db)
    else:
        assert "USING INDEX ix_design_1" in result.plan
        assert result.blocked is None
        (folder,) = re.findall(r"scratch design file in (\S+)", caplog.text)
        assert not Path(folder).exists()


async def test_without_an_index_the_claim_scans_the_table(db: Database) -> None:
    result = await grade(db, replace(REFERENCE, indexes=()))

    assert not result.index_used
    if db.dialect == "postgresql":
        assert "Seq Scan on design_events" in result.plan
    else:
        assert "SCAN design_events" in result.plan
        assert "USING INDEX" not in result.plan
    assert "the claim scans the whole table: no index serves it" in result.problems()
    assert (result.lost, result.duplicates) == (0, 0)


async def test_without_a_row_lock_two_relays_publish_the_same_events(db: Database) -> None:
    result = await grade(db, replace(REFERENCE, lock="none"))

    assert result.lost == 0
    if db.dialect == "postgresql":
        # Both relays start on the same backlog and read the same first batch.
        assert result.duplicates >= REFERENCE.batch_size
        assert any("published twice" in line for line in result.problems())
    else:
        # SQLite: each relay's transaction takes the one write lock first, so they take turns.
        assert result.duplicates == 0


async def test_a_plain_for_update_blocks_behind_the_killed_relay(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")

    result = await grade(db, replace(REFERENCE, lock="for_update"))

    assert result.blocked is True
    assert (result.lost, result.duplicates) == (0, 0)
    assert "a relay sat blocked behind the killed relay's locked rows" in result.problems()


async def test_ordering_by_the_random_id_publishes_an_aggregate_out_of_order(db: Database) -> None:
    result = await grade(db, replace(REFERENCE, order_by="id", hold_aggregate=False))

    assert result.inversions > 0
    assert (result.lost, result.duplicates) == (0, 0)
