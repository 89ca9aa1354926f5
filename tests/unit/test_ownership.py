"""Who may issue which SQL: one owner for the outbox table, none in the Streamlit app.

A scan of the source, kept simple on purpose: statements on ``domain_events`` appear only in the
outbox repository, and nothing under ``qulab/entrypoints/app`` builds or runs a statement (its
reads go through ``qulab.platform.views``).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "qulab"
OWNER = SRC / "core" / "outbox" / "repository.py"
# The model defines the table; migrations (and ``core/schema.py``, the DDL an application's first
# migration runs) create and alter it; the benchmarks' plain-asyncpg floor is, by design, the
# relay written without QuLab, and their watchers count pending rows with plain asyncpg,
# outside the contenders' processes.
EXEMPT = {
    SRC / "core" / "models.py",
    SRC / "core" / "schema.py",
    ROOT / "bench" / "outbox.py",
    ROOT / "bench" / "relays.py",
}

EVENT_TABLE_SQL = re.compile(
    r"DomainEvent\.(?!__name__)\w+"  # a column or the table of the ORM class
    r"|\b(?:select|update|delete|insert)\(\s*DomainEvent\b"
    r"|\b(?:FROM|UPDATE|INTO|TRUNCATE|JOIN|TABLE)\s+domain_events\b",
    re.IGNORECASE,
)
STATEMENT_BUILDERS = re.compile(r"(?<![\w.])(?:select|update|delete|insert|text)\(")
RUNS_STATEMENTS = re.compile(r"\.(?:execute|scalars?)\(")


def _sources() -> list[Path]:
    files = sorted(SRC.rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    return [f for f in files if "migrations" not in f.parts and f not in EXEMPT]


def _hits(path: Path, pattern: re.Pattern[str]) -> list[str]:
    lines = path.read_text().splitlines()
    return [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for n, line in enumerate(lines, 1)
        if pattern.search(line)
    ]


def test_only_the_outbox_repository_issues_sql_on_domain_events() -> None:
    assert _hits(OWNER, EVENT_TABLE_SQL), "the scan no longer recognises the owner's statements"
    offenders = [hit for f in _sources() if f != OWNER for hit in _hits(f, EVENT_TABLE_SQL)]
    assert offenders == []


def test_the_streamlit_app_builds_and_runs_no_sql() -> None:
    app = sorted((SRC / "entrypoints" / "app").rglob("*.py"))
    assert app, "the scan no longer finds the app's modules"
    offenders = [
        hit
        for f in app
        for pattern in (STATEMENT_BUILDERS, RUNS_STATEMENTS)
        for hit in _hits(f, pattern)
    ]
    assert offenders == []


def test_the_scan_finds_sql_where_there_is_some() -> None:
    assert _hits(SRC / "platform" / "repositories.py", STATEMENT_BUILDERS)
    assert _hits(SRC / "platform" / "views.py", RUNS_STATEMENTS)
