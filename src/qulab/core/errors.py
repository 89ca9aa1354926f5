"""One error hierarchy. Every message is meant to be shown to a person as it is.

Every exception the core raises on purpose is defined here; the layers above derive theirs from
these branches (the platform's are in ``qulab.platform.errors``, the lab app's in
``qulab.entrypoints.app.errors``). Driver, broker and
cache-client errors become these at their adapters (``db_errors`` for the database, the
publishers for brokers, the cache backends for Redis), so code above the adapters only ever sees
this tree::

    QulabError
    ├── UserError
    │   ├── InvalidInput
    │   ├── NotFound
    │   └── ConflictError
    │       ├── DuplicateError
    │       └── RelayAlreadyRunning
    ├── ConfigurationError
    │   └── SchemaMissing
    ├── ServiceUnavailable
    │   ├── PoolExhausted
    │   ├── BrokerUnavailable
    │   ├── CacheUnavailable
    │   └── ReplicationRefused
    └── UnusableEntry

``UserError`` and ``ConfigurationError`` are the caller's to fix (the CLI exits 2);
``ServiceUnavailable`` is an outage (the CLI exits 1). ``UnusableEntry`` never leaves the cache:
it turns one unreadable entry into a miss.
"""

from __future__ import annotations


class QulabError(Exception):
    """Base of every error QuLab raises on purpose."""


class UserError(QulabError):
    """The caller asked for something that cannot be done (bad input, unknown id...)."""


class InvalidInput(UserError):
    """A value failed validation. ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}")


class NotFound(UserError):
    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident} not found")


class ConflictError(UserError):
    """A write conflicts with data already present, or with the rows that refer to it."""


class DuplicateError(ConflictError):
    """A row was refused because one with the same unique value already exists."""


class ConfigurationError(QulabError):
    """A setting is invalid; the message names the environment variable."""


class SchemaMissing(ConfigurationError):
    """The database lacks QuLab's tables or columns: ``qulab db upgrade`` creates them."""


class ServiceUnavailable(QulabError):
    """A database, cache or broker could not be reached."""


class PoolExhausted(ServiceUnavailable):
    """No connection became free within the pool timeout."""


class BrokerUnavailable(ServiceUnavailable):
    """The message broker could not be reached or did not confirm a publish in time."""


class RelayAlreadyRunning(ConflictError):
    """A second outbox relay was started where only one may run (SQLite)."""


class CacheUnavailable(ServiceUnavailable):
    """The cache backend could not be reached (the caller falls back to the database)."""


class ReplicationRefused(ServiceUnavailable):
    """PostgreSQL answered a replication connection with an error: ``code`` is its SQLSTATE
    (``55006`` when another session is streaming the slot)."""

    SLOT_IN_USE = "55006"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def slot_busy(self) -> bool:
        return self.code == self.SLOT_IN_USE


class UnusableEntry(QulabError):
    """The cache backend answered, but the entry at this key cannot be a cached value:
    ``reason`` is ``wrong_type`` (another Redis type) or ``oversize`` (above
    ``max_value_bytes``)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason
