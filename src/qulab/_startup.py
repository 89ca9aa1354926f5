"""SIGTERM while the command line is still loading.

Loading SQLAlchemy, Redis and the broker clients takes a second or two. ``python -m qulab`` (and
the ``qulab`` script) hold SIGTERM from their first instant instead of dying with it: the relay
then stops before its first pass and exits 0, and every other command gets the default
disposition back with the held signal delivered again, as if it had never been held.
Only the standard library is imported here.
"""

from __future__ import annotations

import os
import signal
from types import FrameType


class _Held:
    holding = False
    received = False


def hold_sigterm() -> None:
    """Remember a SIGTERM instead of terminating (main thread only; otherwise a no-op)."""
    try:
        signal.signal(signal.SIGTERM, _remember)
    except ValueError:
        return
    _Held.holding = True


def _remember(_signum: int, _frame: FrameType | None) -> None:
    _Held.received = True


def sigterm_received() -> bool:
    """Whether a SIGTERM arrived while it was held."""
    return _Held.received


def release_sigterm() -> None:
    """Back to the default disposition; a SIGTERM held meanwhile is delivered now."""
    if not _Held.holding:
        return
    _Held.holding = False
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _Held.received:
        os.kill(os.getpid(), signal.SIGTERM)
