"""The chaos check's order verdict: an event published before an earlier event of its own
aggregate is an inversion; a republished batch (duplicates) is not."""

from __future__ import annotations

from qulab.lab.chaos_check import ChaosReport, count_inversions
from qulab.lab.chaos_replicas import ReplicaReads

POSITIONS = {
    "a1": ("User:a", 1),
    "a2": ("User:a", 4),
    "a3": ("User:a", 7),
    "b1": ("User:b", 2),
    "b2": ("User:b", 5),
    "s1": ("AIRScore:s", 3),
}


def test_commit_order_per_aggregate_has_no_inversion() -> None:
    assert count_inversions(["a1", "b1", "s1", "a2", "b2", "a3"], POSITIONS) == 0


def test_a_known_out_of_order_sequence_counts_each_overtaken_event() -> None:
    # a3 overtakes a1 and a2; b2 overtakes b1; other aggregates interleave freely.
    assert count_inversions(["a3", "b2", "a1", "s1", "b1", "a2"], POSITIONS) == 3


def test_a_republished_batch_is_duplicates_not_inversions() -> None:
    assert count_inversions(["a1", "b1", "a2", "a1", "b1", "a2", "a3", "b2"], POSITIONS) == 0


def test_a_late_duplicate_does_not_hide_a_real_inversion() -> None:
    assert count_inversions(["a2", "a1", "a2", "a3"], POSITIONS) == 1


def test_ids_the_database_does_not_know_are_ignored() -> None:
    assert count_inversions(["x", "a2", "y", "a3"], POSITIONS) == 0


def test_an_inversion_fails_the_check() -> None:
    report = ChaosReport(
        events=6,
        lost=0,
        inversions=1,
        duplicate_deliveries=0,
        duplicate_publishes=0,
        duplicate_effects=0,
        projection_matches=True,
    )
    assert not report.passed
    report.inversions = 0
    assert report.passed


def test_a_stale_read_after_a_write_fails_the_check() -> None:
    report = ChaosReport(
        events=6,
        lost=0,
        inversions=0,
        duplicate_deliveries=0,
        duplicate_publishes=0,
        duplicate_effects=0,
        projection_matches=True,
    )
    assert "stale_reads_after_write" not in report.as_dict()  # no --replicas: shown as before
    report.add_replica_reads(ReplicaReads(1, reads_after_write=10, stale=1, problems=["stale"]))
    assert not report.passed
    shown = report.as_dict()
    assert (shown["replicas"], shown["reads_after_write"], shown["stale_reads_after_write"]) == (
        1,
        10,
        1,
    )
    assert shown["problems"] == ["stale"]
    report.stale_reads_after_write = 0
    assert report.passed
