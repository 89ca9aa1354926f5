"""One error hierarchy. Every message is meant to be shown to a person as it is."""

from __future__ import annotations


class QulabError(Exception):
    """Base of every error QuLab raises on purpose."""


class UserError(QulabError):
    """The caller asked for something that cannot be done (bad input, unknown id...)."""


class InvalidInput(UserError):
    """A value failed validation. ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class NotFound(UserError):
    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident} not found")


class DuplicateEmailError(UserError):
    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"email: a user with email {email} already exists")


class ConflictError(UserError):
    """A write conflicts with data already present (other than a duplicate email)."""


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
