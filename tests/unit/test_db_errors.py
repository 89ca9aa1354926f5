"""Driver exceptions, as asyncpg, sqlite3 and SQLAlchemy raise them, become QuLab's errors."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc

from qulab.core.db_errors import translate_operational_error
from qulab.core.errors import (
    ConfigurationError,
    PoolExhausted,
    QulabError,
    SchemaMissing,
    ServiceUnavailable,
)


def wrapped(orig: BaseException) -> exc.DBAPIError:
    """What SQLAlchemy raises around a driver error."""
    error = exc.DBAPIError.instance("SELECT 1", {}, orig, Exception)
    assert isinstance(error, exc.DBAPIError)
    return error


@pytest.mark.parametrize(
    ("driver_error", "kind", "text"),
    [
        (
            asyncpg.exceptions.InvalidPasswordError('password authentication failed for user "x"'),
            ConfigurationError,
            "QULAB_DATABASE_URL: the database refused the login: password authentication failed",
        ),
        (
            asyncpg.exceptions.InvalidCatalogNameError('database "nope" does not exist'),
            ConfigurationError,
            'QULAB_DATABASE_URL: database "nope" does not exist',
        ),
        (
            asyncpg.exceptions.UndefinedTableError('relation "users" does not exist'),
            SchemaMissing,
            "run `qulab db upgrade`",
        ),
        (
            asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
            ServiceUnavailable,
            "database unreachable: connection was closed",
        ),
        (
            asyncpg.exceptions.AdminShutdownError("terminating connection"),
            ServiceUnavailable,
            "database unreachable: terminating connection",
        ),
        (
            asyncpg.exceptions.InterfaceError("connection is closed"),
            ServiceUnavailable,
            "database unreachable: connection is closed",
        ),
        (
            asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
            ServiceUnavailable,
            "database unreachable: the database system is starting up",
        ),
        (
            asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
            ServiceUnavailable,
            "database unreachable: sorry, too many clients already",
        ),
        (
            asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
            ServiceUnavailable,
            "statement timeout",
        ),
        (
            sqlite3.OperationalError("no such column: users.occupation"),
            SchemaMissing,
            "no such column: users.occupation",
        ),
    ],
)
def test_driver_errors_are_classified_raw_and_wrapped(
    driver_error: Exception, kind: type[QulabError], text: str
) -> None:
    for error in (driver_error, wrapped(driver_error)):
        translated = translate_operational_error(error)
        assert type(translated) is kind
        assert text in str(translated)


def test_a_bare_timeout_says_which_settings_bound_it() -> None:
    try:
        raise TimeoutError from asyncio.CancelledError()
    except TimeoutError as error:
        translated = translate_operational_error(error)
    assert type(translated) is ServiceUnavailable
    assert str(translated) == (
        "database unreachable: no answer in time "
        "(QULAB_DB_CONNECT_TIMEOUT, QULAB_DB_STATEMENT_TIMEOUT)"
    )


def test_pool_timeout_is_pool_exhausted() -> None:
    assert isinstance(translate_operational_error(exc.TimeoutError("pool")), PoolExhausted)


@pytest.mark.parametrize(
    "error",
    [
        exc.IntegrityError("INSERT", {}, asyncpg.exceptions.UniqueViolationError("duplicate")),
        ValueError("a bug"),
        ConfigurationError("QULAB_X: already ours"),
    ],
)
def test_other_errors_pass_through_unchanged(error: Exception) -> None:
    assert translate_operational_error(error) is error
