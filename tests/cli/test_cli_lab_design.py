"""``qulab lab design``: a design file graded beside the reference, and bad files refused."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from qulab.lab.event_table_design import REFERENCE
from tests.cli.conftest import Invoke


def _reference_file(tmp_path: Path, **claim: object) -> Path:
    path = tmp_path / "design.json"
    data = {
        "columns": dict(REFERENCE.columns),
        "indexes": [],
        "claim": {"order_by": "sequence", "lock": "skip_locked", "batch_size": 50} | claim,
    }
    path.write_text(json.dumps(data))
    return path


def test_a_design_without_an_index_is_graded_as_json(qulab: Invoke, tmp_path: Path) -> None:
    done = qulab("lab", "design", str(_reference_file(tmp_path)), "--json")

    assert (done.code, done.err) == (0, "")
    data = orjson.loads(done.out)
    assert data["design"]["index_used"] is False
    assert data["reference"]["index_used"] is True
    assert data["design"]["problems"][0] == "the claim scans the whole table: no index serves it"
    for name in ("design", "reference"):
        assert data[name]["lost"] == data[name]["duplicates"] == 0
        assert data[name]["published"] == data[name]["produced"] == 320


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_bad_design_file_is_one_line_and_exit_2(
    qulab: Invoke, tmp_path: Path, backend: str
) -> None:
    bad = _reference_file(tmp_path, order_by="priority")
    refused = qulab("lab", "design", str(bad))
    assert (refused.code, refused.out) == (2, "")
    assert refused.err == "error: order_by: the claim orders by a column that is not in the table\n"
    broken = tmp_path / "broken.json"
    broken.write_text("{columns")
    done = qulab("lab", "design", str(broken))
    assert (done.code, done.out, done.err) == (2, "", f"error: design: {broken} is not JSON\n")
    missing = qulab("lab", "design", str(tmp_path / "none.json"))
    assert missing.code == 2
    assert missing.err.startswith("error: design: cannot read")
