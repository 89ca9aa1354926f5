from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from qulab.platform import MIGRATIONS
from tests.cli.conftest import Invoke


@pytest.fixture
def migrated(qulab: Invoke) -> Invoke:
    assert qulab("db", "upgrade").code == 0
    return qulab


def test_setup_creates_alex_and_jane_once(qulab: Invoke) -> None:
    first = qulab("setup", "--json")
    second = qulab("setup", "--json")
    assert first.code == second.code == 0
    one, two = json.loads(first.out), json.loads(second.out)
    assert one["alex"]["name"] == "Alex Smith" and one["jane"]["name"] == "Jane Doe"
    assert len(one["created"]) == 2 and two["created"] == []
    assert two["alex"]["id"] == one["alex"]["id"]


def test_create_prints_the_new_id_and_show_finds_it(migrated: Invoke) -> None:
    created = migrated(
        "user",
        "create",
        "--email",
        "Cli@Example.com",
        "--name",
        "Cli User",
        "--occupation",
        "SW_ENG",
        "--years",
        "4",
    )
    assert created.code == 0, created.err
    user_id = created.out.strip()
    uuid.UUID(user_id)
    shown = migrated("user", "show", user_id, "--json")
    assert shown.code == 0
    data = json.loads(shown.out)
    assert data["user"]["email"] == "cli@example.com"
    assert data["user"]["years_experience"] == 4.0


def test_duplicate_email_is_one_line_on_stderr_and_exit_2(migrated: Invoke) -> None:
    assert migrated("user", "create", "--email", "d@example.com", "--name", "D").code == 0
    result = migrated("user", "create", "--email", "d@example.com", "--name", "D2")
    assert result.code == 2
    assert result.err.strip() == "error: email: a user with email d@example.com already exists"
    assert "Traceback" not in result.err
    listed = json.loads(migrated("user", "list", "--json").out)["users"]
    assert [u["name"] for u in listed] == ["D"]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--email", "bad", "--name", "X"], "--email"),
        (["--email", "ok@example.com", "--name", " "], "--name"),
        (["--email", "ok@example.com", "--name", "X", "--years", "99"], "--years"),
        (["--email", "ok@example.com", "--name", "X", "--occupation", "O" * 21], "--occupation"),
    ],
)
def test_bad_input_names_the_flag_and_exits_2(migrated: Invoke, args: list[str], flag: str) -> None:
    result = migrated("user", "create", *args)
    assert result.code == 2
    assert result.err.startswith(f"error: {flag}:")
    assert len(result.err.strip().splitlines()) == 1
    assert json.loads(migrated("user", "list", "--json").out)["users"] == []


def test_unknown_and_malformed_ids_exit_2(migrated: Invoke) -> None:
    unknown = str(uuid.uuid4())
    for args in (
        ["user", "show", unknown],
        ["user", "delete", unknown, "--yes"],
        ["user", "update", unknown, "--name", "X"],
    ):
        result = migrated(*args)
        assert result.code == 2
        assert result.err.strip() == f"error: user {unknown} not found"
    malformed = migrated("user", "show", "not-a-uuid")
    assert malformed.code == 2 and malformed.err.startswith("error: ID:")


def test_update_and_delete(migrated: Invoke) -> None:
    user_id = migrated("user", "create", "--email", "u@example.com", "--name", "U").out.strip()
    updated = migrated("user", "update", user_id, "--name", "U2", "--json")
    assert updated.code == 0 and json.loads(updated.out)["name"] == "U2"
    assert migrated("user", "update", user_id).code == 2  # nothing to change
    assert migrated("user", "delete", user_id, "--yes").code == 0
    assert migrated("user", "show", user_id).code == 2


def test_seed_inserts_and_clears_only_its_marker(migrated: Invoke) -> None:
    migrated("user", "create", "--email", "keep@example.com", "--name", "Keep")
    seeded = migrated("seed", "--users", "25", "--scores", "2", "--marker", "t1", "--json")
    assert seeded.code == 0
    assert json.loads(seeded.out) | {} == {
        "users": 25,
        "scores": 50,
        "marker": "t1",
        "database": json.loads(seeded.out)["database"],
    }
    assert len(json.loads(migrated("user", "list", "--limit", "100", "--json").out)["users"]) == 26
    cleared = migrated("seed", "--clear", "--marker", "t1", "--yes", "--json")
    assert json.loads(cleared.out)["removed_users"] == 25
    remaining = json.loads(migrated("user", "list", "--json").out)["users"]
    assert [u["email"] for u in remaining] == ["keep@example.com"]


def test_db_current_downgrade_and_reset(migrated: Invoke) -> None:
    current = json.loads(migrated("db", "current", "--json").out)
    assert current["revision"] == current["head"]
    migrated("user", "create", "--email", "r@example.com", "--name", "R")
    assert migrated("db", "reset").code == 2  # needs --yes
    assert migrated("db", "reset", "--yes").code == 0
    assert json.loads(migrated("user", "list", "--json").out)["users"] == []
    assert migrated("db", "downgrade", "base", "--yes").code == 0
    assert json.loads(migrated("db", "current", "--json").out)["revision"] is None


@pytest.mark.parametrize("backend", ["sqlite"])
def test_unreachable_database_is_one_line_and_exit_1(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qulab.core.config import get_settings
    from tests.services import free_port

    monkeypatch.setenv(
        "QULAB_DATABASE_URL", f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/x"
    )
    get_settings.cache_clear()
    result = qulab("user", "list")
    assert result.code == 1
    assert result.err.startswith("error: database unreachable")
    assert "Traceback" not in result.err


@pytest.mark.parametrize("backend", ["sqlite"])
def test_invalid_setting_is_reported_by_name(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qulab.core.config import get_settings

    monkeypatch.setenv("QULAB_POOL_SIZE", "lots")
    get_settings.cache_clear()
    result = qulab("user", "list")
    assert result.code == 2 and result.err.startswith("error: QULAB_POOL_SIZE:")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_console_script_runs_without_a_traceback(database_url: str) -> None:
    qulab_bin = os.path.join(os.path.dirname(sys.executable), "qulab")
    env = os.environ | {"QULAB_DATABASE_URL": database_url}
    ok = subprocess.run([qulab_bin, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([qulab_bin, "user", "show", "x"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    help_text = subprocess.run([qulab_bin, "--help"], capture_output=True, text=True).stdout
    for command in ("db", "user", "seed", "setup"):
        assert command in help_text


def test_db_upgrade_brings_up_the_labs_own_table_after_the_platforms(qulab: Invoke) -> None:
    upgraded = qulab("db", "upgrade", "--json")
    assert upgraded.code == 0, upgraded.err
    result = json.loads(upgraded.out)
    assert (result["revision"], result["lab_revision"]) == (MIGRATIONS.head(), "lab0001")
