"""Retry policy: exponential backoff with jitter, capped, and a bound on attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from qulab.core.config import Settings
from qulab.core.errors import InvalidInput


@dataclass(frozen=True)
class RetryPolicy:
    """After the n-th failed attempt an event waits ``min(cap, base * 2**(n-1))`` seconds, of
    which the fraction ``jitter`` is random (so relays and events do not retry in lockstep).
    A message-level failure on attempt ``max_attempts`` dead-letters the event (``failed``)."""

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 60.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInput("max_attempts", "must be at least 1")
        if self.base <= 0 or self.cap <= 0:
            raise InvalidInput("backoff", "base and cap must be positive")
        if not 0 <= self.jitter <= 1:
            raise InvalidInput("jitter", "must be between 0 and 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        config = settings.relay
        return cls(
            max_attempts=config.max_attempts,
            base=config.backoff_base,
            cap=config.backoff_max,
            jitter=config.backoff_jitter,
        )

    def ceiling(self, attempt: int) -> float:
        """The delay before jitter after ``attempt`` failures."""
        return float(min(self.cap, self.base * 2 ** (min(max(attempt, 1), 64) - 1)))

    def delay(self, attempt: int) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling * (1 - self.jitter * self.rng.random())

    def is_exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
