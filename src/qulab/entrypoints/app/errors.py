"""The lab app's own errors, on the core's tree (``qulab.core.errors``)::

    ConflictError
    └── PublisherAlreadyRunning
    ServiceUnavailable
    ├── OperationTimedOut
    └── LoopStopped

The first is the caller's to fix; the other two are the app's loop thread failing a page's work.
"""

from __future__ import annotations

from qulab.core import ConflictError, ServiceUnavailable


class PublisherAlreadyRunning(ConflictError):
    """Another relay holds the outbox of this (SQLite) database, as seen from the lab app."""


class OperationTimedOut(ServiceUnavailable):
    """Work submitted to the app's loop thread did not finish in time (it has been cancelled)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"the operation did not finish within {seconds:g} s and was cancelled")


class LoopStopped(ServiceUnavailable):
    """Work was submitted after the app's loop thread stopped."""
