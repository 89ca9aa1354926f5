"""SIGTERM while the command line is still loading.

Loading SQLAlchemy, Redis and the broker clients takes a second or two. ``python -m qulab`` (and
the ``qulab`` script) hold SIGTERM from their first instant instead of dying with it: the relay
then stops before its first pass and exits 0, and every other command gets the default
disposition back with the held signal delivered again, as if it had never been held.

Ctrl-C (SIGINT) is held the same way while the modules load: a KeyboardInterrupt raised in the
middle of a third-party import can be swallowed by that library's own ``except`` and the
command would go on as if nothing happened. Once loading is done, a held Ctrl-C ends the
command with one line and exit 130. Only the standard library is imported here.
"""

from __future__ import annotations

import os
import signal
from types import FrameType


class _Held:
    holding = False
    received = False
    interrupt_holding = False
    interrupted = False


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


def hold_sigint() -> None:
    """Remember a Ctrl-C instead of raising KeyboardInterrupt (main thread only)."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return  # ignored (a background job) or handled by an embedding program: leave it
    try:
        signal.signal(signal.SIGINT, _remember_interrupt)
    except ValueError:
        return
    _Held.interrupt_holding = True


def _remember_interrupt(_signum: int, _frame: FrameType | None) -> None:
    _Held.interrupted = True


def release_sigint() -> bool:
    """Ctrl-C raises KeyboardInterrupt again; returns whether one arrived while it was held."""
    if _Held.interrupt_holding:
        _Held.interrupt_holding = False
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return _Held.interrupted
