"""Label values fed from data, bounded: a metric must not grow one series per value without
end (an unexpected stream of event types would otherwise fill the scrape and the server)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

OTHER = "other"


class BoundedLabels:
    """The values given, as they are: the ``known`` ones always, up to ``limit`` others, then
    ``OTHER`` for every further value."""

    def __init__(self, limit: int, known: Iterable[str] = ()) -> None:
        if limit < 0:
            raise ValueError("limit must not be negative")
        self.limit = limit
        self.known = frozenset(known)
        self._others: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self.known or value in self._others:
            return value
        with self._lock:
            if len(self._others) >= self.limit:
                return OTHER
            self._others.add(value)
        return value
