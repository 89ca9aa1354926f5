"""``qulab user list`` says how many users there are, not how many fit on the page; the total
costs one COUNT, and only when the page cannot tell it."""

from __future__ import annotations

import json

import pytest

from qulab.core.db import Database
from qulab.platform import views
from qulab.platform.services import seeding
from tests.cli.conftest import Invoke


@pytest.fixture
def seventy_three(qulab: Invoke) -> Invoke:
    assert qulab("db", "upgrade").code == 0
    seeded = qulab("seed", "--users", "73", "--scores", "0", "--marker", "total")
    assert seeded.code == 0, seeded.err
    return qulab


def test_a_partial_page_says_how_many_of_how_many(seventy_three: Invoke) -> None:
    result = seventy_three("user", "list")
    assert result.code == 0, result.err
    assert "73 users" in result.out
    assert result.out.endswith("showing 50 of 73 (use --limit/--offset)\n")
    assert result.out.count("@") == 50


def test_a_page_holding_every_user_shows_the_plain_total(seventy_three: Invoke) -> None:
    result = seventy_three("user", "list", "--limit", "100")
    assert result.code == 0, result.err
    assert "73 users" in result.out
    assert "showing" not in result.out
    assert result.out.count("@") == 73


def test_the_last_page_still_says_of_how_many(seventy_three: Invoke) -> None:
    result = seventy_three("user", "list", "--offset", "70")
    assert result.out.endswith("showing 3 of 73 (use --limit/--offset)\n")


def test_json_carries_the_total_and_the_page(seventy_three: Invoke) -> None:
    page = json.loads(
        seventy_three("user", "list", "--limit", "20", "--offset", "60", "--json").out
    )
    assert (page["total"], page["limit"], page["offset"]) == (73, 20, 60)
    assert len(page["users"]) == 13


@pytest.mark.parametrize(
    ("limit", "offset", "shown", "statements"),
    [
        (100, 0, 73, 1),  # the page holds everyone: its length is the total
        (50, 0, 50, 2),  # a full page: one COUNT
        (50, 60, 13, 1),  # the last page: offset + its length
        (50, 80, 0, 2),  # past the end: one COUNT
        (73, 0, 73, 2),  # exactly full: the page cannot tell whether more follow
    ],
)
async def test_the_total_costs_one_count_only_when_the_page_cannot_tell(
    db: Database, limit: int, offset: int, shown: int, statements: int
) -> None:
    await seeding.seed(db, 73, 0, marker="total")
    with db.count_statements() as counter:
        page = await views.list_users_page(db, limit=limit, offset=offset)
    assert (len(page.users), page.total, counter.count) == (shown, 73, statements)
