from __future__ import annotations

import pytest

from qulab.core.cache import BreakerState, CircuitBreaker
from tests.cache_support import ManualClock


def opened(clock: ManualClock, threshold: int = 3) -> CircuitBreaker:
    breaker = CircuitBreaker("t", failure_threshold=threshold, reset_seconds=10, clock=clock)
    for _ in range(threshold):
        assert breaker.allow()
        breaker.record_failure("boom")
    return breaker


def test_breaker_opens_after_threshold_consecutive_failures_only() -> None:
    breaker = CircuitBreaker("t", failure_threshold=3, reset_seconds=10, clock=ManualClock())
    breaker.record_failure("a")
    breaker.record_failure("b")
    breaker.record_success()  # resets the run of failures
    breaker.record_failure("c")
    breaker.record_failure("d")
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure("e")
    # mypy keeps the narrowing above through the call that changes the state
    assert breaker.state is BreakerState.OPEN  # type: ignore[comparison-overlap]


def test_open_breaker_refuses_calls_until_the_reset_period_passes() -> None:
    clock = ManualClock()
    breaker = opened(clock)
    assert [breaker.allow() for _ in range(4)] == [False] * 4
    assert breaker.rejected == 4
    clock.advance(9.9)
    assert not breaker.allow()


def test_half_open_lets_one_probe_through_and_closes_on_success() -> None:
    clock = ManualClock()
    breaker = opened(clock)
    clock.advance(10)
    assert breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # only one probe at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED  # type: ignore[comparison-overlap]
    assert breaker.allow()


def test_failed_probe_reopens_for_a_full_period() -> None:
    clock = ManualClock()
    breaker = opened(clock)
    clock.advance(10)
    assert breaker.allow()
    breaker.record_failure("still down")
    assert breaker.state is BreakerState.OPEN
    clock.advance(5)
    assert not breaker.allow()
    clock.advance(5)
    assert breaker.allow()


def test_each_state_change_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    with caplog.at_level("INFO", logger="qulab.core.cache.breaker"):
        breaker = opened(clock, threshold=1)
        for _ in range(5):
            breaker.allow()
        clock.advance(10)
        breaker.allow()
        breaker.record_success()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "t breaker closed -> open",
        "t breaker open -> half_open",
        "t breaker half_open -> closed",
    ]


def test_invalid_thresholds_are_rejected() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker("t", failure_threshold=0)
    with pytest.raises(ValueError, match="reset_seconds"):
        CircuitBreaker("t", reset_seconds=0)


def test_seconds_until_probe_counts_down_to_the_trial_call() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("t", failure_threshold=1, reset_seconds=10, clock=clock)
    assert breaker.seconds_until_probe() == 0
    breaker.record_failure("boom")
    clock.advance(4)
    assert breaker.seconds_until_probe() == pytest.approx(6)
    clock.advance(6)
    assert breaker.seconds_until_probe() == 0 and breaker.allow()
    assert breaker.seconds_until_probe() == pytest.approx(10)  # half-open: the next trial waits
