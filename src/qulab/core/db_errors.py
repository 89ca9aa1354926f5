"""Driver and pool failures, translated once into QuLab's errors.

The classification looks through SQLAlchemy's wrappers to the driver's own exception and goes
by SQLSTATE on PostgreSQL, by SQLite's error name, then by exception type:

- no pooled connection became free in time: ``PoolExhausted``;
- the login was refused, the database or the SQLite file cannot be found: ``ConfigurationError``
  naming ``QULAB_DATABASE_URL`` (a mistake the user fixes, not an outage);
- QuLab's tables or columns are missing: ``SchemaMissing`` (run ``qulab db upgrade``);
- the database cannot be reached, refused more connections, was shut down, or dropped the
  connection mid-statement: ``ServiceUnavailable``.

Anything else (a bug, a constraint violation) is returned unchanged.

Integrity errors are not translated here: what a violated constraint means belongs to the
repository that wrote the row (``qulab.core.repository``). ``classify_integrity`` tells it which
constraint failed, by SQLSTATE and constraint name on PostgreSQL and by SQLite's extended code
and column list.

``translated()`` is the boundary every database failure passes through: ``Database`` wraps its
sessions and connections in it, so code above the adapters never calls the translator.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import exc

from qulab.core.errors import (
    ConfigurationError,
    PoolExhausted,
    QulabError,
    SchemaMissing,
    ServiceUnavailable,
)

# SQLSTATE classes: connection exception, insufficient resources, operator intervention
# (shutdown, pg_terminate_backend, statement_timeout).
UNREACHABLE_CLASSES = frozenset({"08", "53", "57"})
LOGIN_CLASS = "28"
QUERY_CANCELED = "57014"  # statement_timeout, or a cancel request
MISSING_DATABASE = "3D000"
# undefined table, undefined column, invalid schema name
MISSING_SCHEMA = frozenset({"42P01", "42703", "3F000"})
SQLITE_MISSING_SCHEMA = ("no such table", "no such column")
UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
SQLITE_CONSTRAINT_UNIQUE = 2067
SQLITE_CONSTRAINT_PRIMARYKEY = 1555
SQLITE_CONSTRAINT_FOREIGNKEY = 787
SQLITE_COLUMNS = re.compile(r"constraint failed: (?P<columns>[\w.]+(?:, [\w.]+)*)")

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    OSError,  # includes ConnectionError and TimeoutError (connect or command timeout)
)


def _connection_errors() -> tuple[type[BaseException], ...]:
    """CONNECTION_ERRORS, with asyncpg's own once asyncpg is loaded (until then, on SQLite,
    none of its errors can have been raised: it is imported only to reach PostgreSQL)."""
    asyncpg = sys.modules.get("asyncpg")
    return CONNECTION_ERRORS if asyncpg is None else (*CONNECTION_ERRORS, asyncpg.InterfaceError)


def translate_operational_error(error: BaseException) -> BaseException:
    """Map driver and pool failures to QuLab's errors (anything else is returned as is)."""
    if isinstance(error, QulabError):
        return error
    if isinstance(error, exc.TimeoutError):
        detail = error.args[0] if error.args else ""
        return PoolExhausted(
            f"pool exhausted: no database connection became free within the timeout ({detail})"
        )
    chain = list(_causes(error))
    detail = _detail(chain[-1])
    translated = _by_sqlstate(_sqlstate(chain), detail) or _by_sqlite(chain, detail)
    if translated is not None:
        return translated
    invalidated = isinstance(error, exc.DBAPIError) and error.connection_invalidated
    if invalidated or any(isinstance(cause, _connection_errors()) for cause in chain):
        return ServiceUnavailable(f"database unreachable: {detail}")
    return error


class Violation(StrEnum):
    UNIQUE = "unique"
    FOREIGN_KEY = "foreign_key"
    OTHER = "other"


@dataclass(frozen=True)
class IntegrityFailure:
    """Which constraint a write broke: PostgreSQL names the constraint, SQLite the columns."""

    violation: Violation
    constraint: str | None
    columns: tuple[str, ...]
    detail: str

    @property
    def reason(self) -> str:
        """The violated constraint, named when the driver says which, in one line."""
        if self.constraint:
            return f"constraint {self.constraint} was violated"
        return self.detail or "a constraint was violated"

    def is_unique(self, table: str, column: str) -> bool:
        """A uniqueness violation on ``table.column`` (its unique index or constraint)."""
        if self.violation is not Violation.UNIQUE:
            return False
        names = {f"ix_{table}_{column}", f"uq_{table}_{column}", f"{table}_{column}_key"}
        return self.constraint in names or f"{table}.{column}" in self.columns


def classify_integrity(error: exc.IntegrityError) -> IntegrityFailure:
    """The one reading of an IntegrityError, for the repository that knows what it means."""
    chain = list(_causes(error))
    detail = _detail(chain[-1])
    sqlstate = _sqlstate(chain)
    constraint = next(
        (
            name
            for cause in chain
            if isinstance(name := getattr(cause, "constraint_name", None), str)
        ),
        None,
    )
    code = next(
        (c for cause in chain if isinstance(c := getattr(cause, "sqlite_errorcode", None), int)),
        None,
    )
    if sqlstate == UNIQUE_VIOLATION or code in (
        SQLITE_CONSTRAINT_UNIQUE,
        SQLITE_CONSTRAINT_PRIMARYKEY,
    ):
        violation = Violation.UNIQUE
    elif sqlstate == FOREIGN_KEY_VIOLATION or code == SQLITE_CONSTRAINT_FOREIGNKEY:
        violation = Violation.FOREIGN_KEY
    else:
        violation = Violation.OTHER
    match = SQLITE_COLUMNS.search(detail) if code is not None else None
    columns = tuple(match["columns"].split(", ")) if match else ()
    return IntegrityFailure(violation, constraint, columns, detail)


def raise_translated(error: BaseException) -> None:
    """Raise QuLab's translation of ``error`` from it; return when it has none."""
    translated = translate_operational_error(error)
    if translated is not error:
        raise translated from error


@contextmanager
def translated() -> Iterator[None]:
    """Let driver and pool failures out of the block as QuLab's errors."""
    try:
        yield
    except Exception as error:
        raise_translated(error)
        raise


def _by_sqlstate(sqlstate: str | None, detail: str) -> QulabError | None:
    if sqlstate is None:
        return None
    if sqlstate.startswith(LOGIN_CLASS):
        return ConfigurationError(f"QULAB_DATABASE_URL: the database refused the login: {detail}")
    if sqlstate == MISSING_DATABASE:
        return ConfigurationError(f"QULAB_DATABASE_URL: {detail}")
    if sqlstate in MISSING_SCHEMA:
        return _schema_missing(detail)
    if sqlstate == QUERY_CANCELED:
        return ServiceUnavailable(f"database did not finish the statement in time: {detail}")
    if sqlstate[:2] in UNREACHABLE_CLASSES:
        return ServiceUnavailable(f"database unreachable: {detail}")
    return None


def _by_sqlite(chain: list[BaseException], detail: str) -> QulabError | None:
    error = next((cause for cause in chain if isinstance(cause, sqlite3.Error)), None)
    if error is None:
        return None
    if str(error).startswith(SQLITE_MISSING_SCHEMA):
        return _schema_missing(detail)
    if getattr(error, "sqlite_errorname", None) == "SQLITE_CANTOPEN":
        return ConfigurationError(f"QULAB_DATABASE_URL: cannot open the SQLite file: {detail}")
    return None


def _schema_missing(detail: str) -> SchemaMissing:
    return SchemaMissing(
        f"the database has no QuLab schema or an older one ({detail}): run `qulab db upgrade`"
    )


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps: SQLAlchemy's ``orig``, then each explicit cause (a
    timeout's cause, the cancellation that implemented it, is not followed)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        wrapped = orig if isinstance(orig, BaseException) else current.__cause__
        current = wrapped if isinstance(wrapped, Exception) else None


def _sqlstate(chain: list[BaseException]) -> str | None:
    for cause in chain:
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and len(state) == 5:
            return state
    return None


def _detail(error: BaseException) -> str:
    """The driver's own message, first line only; a bare timeout says what it means."""
    text = str(error).strip()
    if text:
        return text.splitlines()[0]
    if isinstance(error, TimeoutError):
        return "no answer in time (QULAB_DB_CONNECT_TIMEOUT, QULAB_DB_STATEMENT_TIMEOUT)"
    return type(error).__name__
