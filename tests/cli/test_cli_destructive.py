"""Destructive commands (``db downgrade``, ``db reset``, ``user delete``, ``outbox purge``,
``seed --clear``) ask on a terminal, need ``--yes`` otherwise, and ``--dry-run`` says exactly
what would go while changing nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.conftest import Invoke

sqlite = pytest.mark.parametrize("backend", ["sqlite"])

NOT_A_TERMINAL = (
    "error: `qulab {}` deletes data and stdin is not a terminal to ask: pass --yes to go "
    "ahead, or --dry-run to see what would go\n"
)


class _Terminal(io.StringIO):
    """What a person types at a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def stdin(monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    """``stdin(None)``: not a terminal (a script); ``stdin("y\\n")``: a person typing."""

    def use(typed: str | None) -> None:
        monkeypatch.setattr("sys.stdin", io.StringIO() if typed is None else _Terminal(typed))

    use(None)
    return use


@pytest.fixture
def migrated(qulab: Invoke) -> Invoke:
    assert qulab("db", "upgrade").code == 0
    return qulab


def _json(qulab: Invoke, *args: str) -> Any:
    result = qulab(*args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def _emails(qulab: Invoke) -> list[str]:
    return [user["email"] for user in _json(qulab, "user", "list")["users"]]


def _revision(qulab: Invoke) -> str | None:
    return _json(qulab, "db", "current")["revision"]  # type: ignore[no-any-return]


def _user_with_scores(qulab: Invoke, email: str, scores: int) -> str:
    user_id = qulab("user", "create", "--email", email, "--name", "N").out.strip()
    assert qulab("score", "add", user_id, "--count", str(scores)).code == 0
    return user_id


# -- off a terminal: --yes or nothing -------------------------------------------------------------


@sqlite
@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("db downgrade", ["db", "downgrade", "base"]),
        ("db reset", ["db", "reset"]),
        ("user delete", ["user", "delete", "00000000-0000-4000-8000-000000000000"]),
        ("outbox purge", ["outbox", "purge", "--published-older-than", "0s"]),
        ("seed --clear", ["seed", "--clear"]),
    ],
)
def test_without_yes_off_a_terminal_each_exits_2_in_one_line_and_changes_nothing(
    migrated: Invoke, stdin: Callable[[str | None], None], command: str, args: list[str]
) -> None:
    user_id = _user_with_scores(migrated, "keep@example.com", 1)
    assert migrated("seed", "--users", "2", "--scores", "1").code == 0
    assert migrated("outbox", "relay", "--once", "--yes").code == 0  # events now published
    before = _json(migrated, "outbox", "status")["counts"]

    result = migrated(*args)
    assert (result.code, result.out, result.err) == (2, "", NOT_A_TERMINAL.format(command))

    assert _revision(migrated) is not None
    assert len(_emails(migrated)) == 3 and user_id in migrated("user", "show", user_id).out
    assert _json(migrated, "outbox", "status")["counts"] == before


# -- --dry-run: exactly what would go, nothing gone --------------------------------------------


@sqlite
def test_user_delete_dry_run_names_the_user_and_counts_rows_and_events(migrated: Invoke) -> None:
    user_id = _user_with_scores(migrated, "dry@example.com", 3)
    result = migrated("user", "delete", user_id, "--dry-run")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"dry run, nothing changed: deletes user {user_id} (dry@example.com) with 0 "
        "assessment(s) and 3 score(s), and records 1 user.deleted event\n"
    )
    shown = _json(migrated, "user", "delete", user_id, "--dry-run")
    assert shown | {"summary": ""} == {
        "dry_run": True,
        "id": user_id,
        "email": "dry@example.com",
        "users": 1,
        "assessments": 0,
        "scores": 3,
        "events": 1,
        "summary": "",
    }
    assert _emails(migrated) == ["dry@example.com"]
    assert _json(migrated, "user", "show", user_id)["latest_score"] is not None


@sqlite
def test_seed_clear_dry_run_counts_the_marker_only(migrated: Invoke) -> None:
    _user_with_scores(migrated, "keep@example.com", 2)
    assert migrated("seed", "--users", "4", "--scores", "2", "--marker", "dry").code == 0
    result = migrated("seed", "--clear", "--marker", "dry", "--dry-run")
    assert result.out == (
        "dry run, nothing changed: removes 4 user(s) seeded under marker dry with 0 "
        "assessment(s) and 8 score(s), recording 1 users.removed event(s)\n"
    )
    assert len(_emails(migrated)) == 5


@sqlite
def test_outbox_purge_dry_run_counts_published_events_only(migrated: Invoke) -> None:
    _user_with_scores(migrated, "p@example.com", 2)  # user.created + 2 score.calculated
    assert migrated("outbox", "relay", "--once", "--yes").code == 0
    migrated("user", "create", "--email", "pending@example.com", "--name", "P")  # stays pending

    result = migrated("outbox", "purge", "--published-older-than", "0s", "--dry-run")
    assert result.out == (
        "dry run, nothing changed: deletes 3 published event(s) older than 0s from the outbox "
        "(pending and failed events are kept)\n"
    )
    plan = _json(migrated, "outbox", "purge", "--published-older-than", "0s", "--dry-run")
    assert (plan["dry_run"], plan["would_delete"]) == (True, 3)
    counts = _json(migrated, "outbox", "status")["counts"]
    assert (counts["published"], counts["pending"]) == (3, 1)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_db_downgrade_dry_run_lists_revisions_and_tables_with_their_rows(
    migrated: Invoke,
) -> None:
    _user_with_scores(migrated, "t@example.com", 2)
    head = _revision(migrated)
    one_step = _json(migrated, "db", "downgrade", "--dry-run")
    assert [step["revision"] for step in one_step["revisions"]] == [head]
    # the latest revision drops the log-tailing relay's two tables, empty here
    assert one_step["tables"] == {"outbox_failures": 0, "outbox_wal_slots": 0}

    to_base = _json(migrated, "db", "downgrade", "base", "--dry-run")
    assert to_base["target"] is None and to_base["revisions"][-1]["revision"] == "0001"
    assert {"users": 1, "air_scores": 2, "domain_events": 3}.items() <= to_base["tables"].items()
    assert to_base["rows"] == sum(to_base["tables"].values())
    assert "lab_progress" not in to_base["tables"]  # the lab's own table is not the platform's
    text = migrated("db", "downgrade", "base", "--dry-run").out
    assert text.startswith("dry run, nothing changed: ")
    assert f"downgrade {head} -> base undoes {len(to_base['revisions'])} revision(s)" in text
    assert "users (1 rows)" in text and "air_scores (2 rows)" in text

    reset = migrated("db", "reset", "--dry-run")
    assert reset.out.endswith(", then recreate the schema empty\n")
    assert _revision(migrated) == head and _emails(migrated) == ["t@example.com"]


# -- on a terminal: asked, default no ---------------------------------------------------------


@sqlite
def test_on_a_terminal_no_changes_nothing_and_yes_deletes(
    migrated: Invoke, stdin: Callable[[str | None], None]
) -> None:
    user_id = _user_with_scores(migrated, "ask@example.com", 1)

    stdin("n\n")
    declined = migrated("user", "delete", user_id)
    assert declined.code == 1
    assert declined.err.startswith(f"deletes user {user_id} (ask@example.com) with 0 ")
    assert declined.err.endswith("Go ahead? [y/N] nothing changed\n")
    assert _emails(migrated) == ["ask@example.com"]

    stdin("y\n")
    accepted = migrated("user", "delete", user_id)
    assert (accepted.code, accepted.out) == (0, f"deleted {user_id}\n")
    assert _emails(migrated) == []


@sqlite
def test_on_a_terminal_db_downgrade_asks_and_yes_skips_the_question(
    migrated: Invoke, stdin: Callable[[str | None], None]
) -> None:
    stdin("\n")  # Enter takes the default: no
    declined = migrated("db", "downgrade", "base")
    assert declined.code == 1 and "undoes" in declined.err
    assert _revision(migrated) is not None

    stdin("")  # nothing to read: --yes does not ask
    assert migrated("db", "downgrade", "base", "--yes").code == 0
    assert _revision(migrated) is None
