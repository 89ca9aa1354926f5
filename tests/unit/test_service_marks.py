"""The service marks come from what a test uses (tests/conftest.py): deselecting a service
deselects exactly the tests that need it, whichever way they reach it, and keeps their twins."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NO_SERVICES = "not postgres and not redis and not rabbitmq and not nats and not browser"

RESET = "tests/integration/test_lab_reset.py::test_reset_"
CACHE = "tests/integration/test_cache.py::test_rolled_back_update_invalidates_nothing"
TWO_TIER = "tests/integration/test_two_tier.py::"
DESIGN = "tests/e2e/test_browser_design.py::test_a_learner_designs_an_event_table_in_chromium"
APP = "tests/e2e/test_cli_app.py::"
CHAOS = "tests/integration/test_chaos.py::"
CHAOS_RUN = CHAOS + "test_a_small_chaos_run_loses_nothing_and_applies_nothing_twice"
SELECTION = [
    "tests/integration/test_lab_reset.py",
    CACHE,
    "tests/integration/test_two_tier.py",
    DESIGN,
    "tests/e2e/test_cli_app.py",
    "tests/integration/test_chaos.py",
]
COLLECT = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]


@cache
def collected(expression: str = "") -> frozenset[str]:
    """The ids pytest collects from SELECTION, with ``-m expression`` when one is given."""
    selection = ["-m", expression] if expression else []
    result = subprocess.run(
        [*COLLECT, *selection, *SELECTION], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return frozenset(line for line in result.stdout.splitlines() if "::" in line)


def test_not_postgres_deselects_the_postgresql_twin_and_keeps_the_sqlite_one() -> None:
    twins = {
        # the shared db fixture, parametrized in tests/conftest.py
        (f"{CACHE}[memory-sqlite]", f"{CACHE}[memory-postgresql]"),
        # a test that parametrizes ``backend`` itself
        (
            f"{RESET}drops_every_row_and_recreates_the_sample_users[sqlite]",
            f"{RESET}refuses_postgresql_and_deletes_nothing[postgresql]",
        ),
    }
    everything, kept = collected(), collected("not postgres")
    for sqlite, postgresql in twins:
        assert {sqlite, postgresql} <= everything
        assert sqlite in kept
        assert postgresql not in kept


def test_without_any_service_only_the_tests_that_need_none_are_collected() -> None:
    needing = {
        f"{CACHE}[redis-sqlite]",  # a fixture parameter names Redis
        f"{TWO_TIER}test_l1_is_emptied_when_the_channel_drops_and_again_when_it_is_back"
        "[postgresql]",  # PostgreSQL brings Redis there, a mark on its parameter says so
        f"{TWO_TIER}test_another_process_drops_its_l1_copy_when_this_one_invalidates",  # redis_url
        f"{DESIGN}[embedded]",  # chromium
        f"{DESIGN}[postgresql+redis]",
        f"{CHAOS_RUN}[nats]",
        f"{CHAOS_RUN}[rabbitmq]",
    }
    assert needing <= collected()
    assert collected(NO_SERVICES) == {
        f"{RESET}drops_every_row_and_recreates_the_sample_users[sqlite]",
        f"{RESET}drops_the_old_users_from_the_cache[sqlite]",
        "tests/integration/test_lab_reset.py::"
        "test_resetting_the_lab_rows_removes_only_what_the_lab_wrote[sqlite]",
        f"{CACHE}[memory-sqlite]",
        f"{TWO_TIER}test_an_invalidation_by_one_client_drops_the_other_clients_l1_copy[sqlite]",
        f"{TWO_TIER}test_a_fill_that_began_before_an_invalidation_it_hears_later_stays_out_of_l1"
        "[sqlite]",
        f"{APP}test_qulab_app_serves_on_localhost_only_and_stops_with_its_launcher",
        f"{APP}test_qulab_app_rejects_a_port_out_of_range",
        f"{CHAOS}test_chaos_needs_a_broker_other_processes_reach",
    }
