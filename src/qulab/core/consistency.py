"""Consistency tokens: a position in PostgreSQL's write-ahead log that a read must have seen.

A commit on a database with read replicas yields a ``Token`` (see ``qulab.core.uow``): a WAL
position at or after the end of the commit's record. A standby whose replay position has reached
it shows the commit. The token of the latest commit in a task (or context) is remembered here, so
reads that follow a write in the same context are consistent with it without being told; a web
app carries ``str(token)`` in the user's session and passes it back as ``reading(token=...)``.

The cache sets a floor of its own around a fill (``requiring``): the token of the invalidation a
generation records, so a fill is served only by a source that has replayed that invalidation's
commit. This module imports no driver and none of the replicas' code: the unit of work and the
cache use it whether or not replicas are configured.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass

from qulab.core.errors import InvalidInput


@dataclass(frozen=True, order=True)
class Token:
    """A WAL position (``pg_lsn``) as a number; ``str`` gives PostgreSQL's ``X/Y`` form."""

    lsn: int

    def __str__(self) -> str:
        return f"{self.lsn >> 32:X}/{self.lsn & 0xFFFFFFFF:X}"

    @classmethod
    def parse(cls, text: str) -> Token:
        """``X/Y`` (as ``str`` writes it and PostgreSQL prints an LSN); InvalidInput otherwise."""
        high, _, low = text.strip().partition("/")
        digits = "0123456789abcdefABCDEF"
        if not (0 < len(high) <= 8 and 0 < len(low) <= 8) or not set(high + low) <= set(digits):
            raise InvalidInput("token", f"not a consistency token: {text[:40]!r}")
        return cls((int(high, 16) << 32) | int(low, 16))

    @classmethod
    def of(cls, value: Token | str | None) -> Token | None:
        """``value`` as a token (a string is parsed), or None."""
        if value is None or isinstance(value, Token):
            return value
        return cls.parse(value)


_written: ContextVar[Token | None] = ContextVar("qulab_written", default=None)
_floor: ContextVar[Token | None] = ContextVar("qulab_read_floor", default=None)
_in_unit: ContextVar[bool] = ContextVar("qulab_in_unit_of_work", default=False)


def latest(*tokens: Token | None) -> Token | None:
    """The furthest of ``tokens`` (None when there is none)."""
    known = [token for token in tokens if token is not None]
    return max(known) if known else None


def wrote(token: Token) -> None:
    """Remember ``token`` as this context's latest commit (reads after it wait for it)."""
    _written.set(latest(_written.get(), token))


def last_commit_token() -> Token | None:
    """The token of the latest commit in this context, if any."""
    return _written.get()


def forget_writes() -> None:
    """Drop this context's remembered commit (its later reads need not wait for it)."""
    _written.set(None)


def required(explicit: Token | str | None = None) -> Token | None:
    """What a read here must have seen: the furthest of ``explicit``, this context's latest
    commit and the floor a cache fill set."""
    return latest(Token.of(explicit), _written.get(), _floor.get())


@contextmanager
def requiring(token: Token | None) -> Iterator[None]:
    """Inside the block, reads must have seen ``token`` too (the cache's fill floor)."""
    if token is None:
        yield
        return
    reset = _floor.set(latest(_floor.get(), token))
    try:
        yield
    finally:
        _floor.reset(reset)


def in_unit_of_work() -> bool:
    """Whether this context is inside a unit of work (its reads go to the primary)."""
    return _in_unit.get()


def enter_unit() -> contextvars.Token[bool]:
    """Mark this context as inside a unit of work; give the result to ``leave_unit``."""
    return _in_unit.set(True)


def leave_unit(reset: contextvars.Token[bool]) -> None:
    with suppress(ValueError):  # left in another context than it was entered in: nothing to undo
        _in_unit.reset(reset)
