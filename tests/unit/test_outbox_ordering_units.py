"""The ordered relay's pure parts: rounds of a batch, fair shares, partition ranges."""

from __future__ import annotations

from datetime import UTC, datetime

from qulab.core.outbox import ranges
from qulab.core.outbox.leases import fair_share
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.ordered import rounds


def message(event_id: str, aggregate: str) -> OutboxMessage:
    return OutboxMessage(event_id, "t", "T", aggregate, datetime(2026, 1, 1, tzinfo=UTC), "{}", 0)


def test_round_k_holds_the_kth_event_of_every_aggregate_in_claim_order() -> None:
    batch = [message("x1", "x"), message("y1", "y"), message("x2", "x"), message("x3", "x")]
    assert [[m.id for m in r] for r in rounds(batch)] == [["x1", "y1"], ["x2"], ["x3"]]
    assert rounds([]) == []


def test_fair_shares_add_up_and_differ_by_at_most_one() -> None:
    live = ["a", "b", "c"]
    shares = [fair_share(16, live, relay) for relay in live]
    assert shares == [6, 5, 5]
    assert fair_share(16, ["a"], "a") == 16
    assert fair_share(2, ["a", "b", "c"], "c") == 0
    assert fair_share(16, ["a"], "unknown") == 16  # not registered: a single pass takes all


def test_ranges_read_like_a_human_would_write_them() -> None:
    assert ranges([0, 1, 2, 3, 7, 9, 10]) == "0-3,7,9-10"
    assert ranges([5]) == "5"
    assert ranges([]) == "none"
