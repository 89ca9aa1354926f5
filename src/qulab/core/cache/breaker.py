"""A circuit breaker: stop paying a dead service's timeout on every call, probe it now and then.

closed    calls go through; ``failure_threshold`` consecutive failures open the breaker.
open      calls are refused at once; after ``reset_seconds`` the next call is let through.
half_open one trial call is in flight; success closes the breaker, failure opens it again.

Each state change is logged once (not every refused call) and counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 3,
        reset_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_seconds <= 0:
            raise ValueError("reset_seconds must be positive")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self.transitions = 0
        self.rejected = 0
        self.last_error: str | None = None

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def seconds_until_probe(self) -> float:
        """How long calls stay refused: 0 when closed or when a trial call may go through."""
        if self._state is BreakerState.CLOSED:
            return 0.0
        return max(0.0, self._opened_at + self.reset_seconds - self._clock())

    def allow(self) -> bool:
        """May a call go through now? Refusals are counted; an elapsed open period lets one
        trial call through (half-open) while the others keep being refused."""
        if self._state is BreakerState.CLOSED:
            return True
        now = self._clock()
        if now - self._opened_at >= self.reset_seconds:
            # A trial call that never reported back (cancelled) must not wedge the breaker.
            self._opened_at = now
            if self._state is BreakerState.OPEN:
                self._move(BreakerState.HALF_OPEN, "probing")
            return True
        self.rejected += 1
        return False

    def record_success(self) -> None:
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self.last_error = None
            self._move(BreakerState.CLOSED, "service answered again")

    def record_failure(self, error: BaseException | str) -> None:
        self._failures += 1
        self.last_error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold
        ):
            self._opened_at = self._clock()
            self._move(BreakerState.OPEN, self.last_error)

    def _move(self, state: BreakerState, reason: str) -> None:
        previous, self._state = self._state, state
        self.transitions += 1
        level = logging.WARNING if state is BreakerState.OPEN else logging.INFO
        log.log(level, "%s breaker %s -> %s (%s)", self.name, previous, state, reason)
