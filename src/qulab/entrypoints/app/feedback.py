"""Turn failures into messages that say what to do, and show them instead of tracebacks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import streamlit as st

from qulab.core import (
    BrokerUnavailable,
    ConfigurationError,
    Database,
    InvalidInput,
    NotFound,
    PoolExhausted,
    SchemaMissing,
    ServiceUnavailable,
    UserError,
)
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.errors import OperationTimedOut
from qulab.entrypoints.app.literal import literal
from qulab.entrypoints.app.navigation import CONNECTIVITY
from qulab.entrypoints.app.schema import SchemaState, SchemaStatus, schema_status
from qulab.platform import DuplicateEmailError

T = TypeVar("T")

log = logging.getLogger(__name__)

SCHEMA_CHECK_TIMEOUT = 5.0

SCHEMA_MISSING = (
    "The database has no QuLab tables yet: initialise the database on page 2 "
    "(DB Connectivity & Pooling) first."
)


def schema_message(status: SchemaStatus) -> str | None:
    """What to do about a schema that is not ready, or None when it is."""
    if status.state is SchemaState.MISSING:
        return SCHEMA_MISSING
    if status.state is SchemaState.OUTDATED:
        return (
            f"The database schema is at revision {status.current} but the app needs "
            f"{status.head}: click “Initialize Database & Create Sample Users” on page 2 "
            "(DB Connectivity & Pooling) to upgrade it."
        )
    return None


def friendly_message(
    error: BaseException, *, schema: SchemaStatus | None = None, where: str = ""
) -> str:
    """One message for a person: what went wrong and what to do about it.

    The message is Markdown; whatever in it came from a user is escaped
    (qulab.entrypoints.app.literal).
    """
    if isinstance(error, DuplicateEmailError):
        return (
            f"A user with the email {literal(error.email)} already exists. Emails are unique: "
            "use another one. Nothing was written."
        )
    if isinstance(error, InvalidInput):
        field, _, problem = str(error).partition(": ")
        return (
            f"Invalid {field}: {literal(problem)}. Correct it and try again; nothing was written."
        )
    if isinstance(error, NotFound):
        return (
            f"No {error.kind} with id {literal(error.ident)} exists. Check the id: the sample "
            "users are listed on page 2 (DB Connectivity & Pooling)."
        )
    if isinstance(error, UserError):
        return f"{literal(error)}. Nothing was written."
    if isinstance(error, SchemaMissing):
        advice = schema_message(schema) if schema is not None else None
        return advice or SCHEMA_MISSING
    if isinstance(error, ConfigurationError):
        return (
            f"The configuration is invalid: {error}. Fix the environment variable "
            "(or the .env file) and restart the app."
        )
    if isinstance(error, BrokerUnavailable):
        return (
            f"broker unreachable: {error}; check that the broker is running and that "
            "QULAB_BROKER_URL points at it."
        )
    if schema is not None and (advice := schema_message(schema)):
        return advice
    if isinstance(error, OperationTimedOut):
        return (
            f"The operation did not finish within {error.seconds:g} s and was cancelled. "
            "The database may be busy or locked: try again, or raise QULAB_APP_TIMEOUT."
        )
    if isinstance(error, PoolExhausted):
        return (
            f"Every database connection is in use: {error}. Wait for running work to finish, "
            "or raise QULAB_POOL_SIZE / QULAB_MAX_OVERFLOW."
        )
    if isinstance(error, ServiceUnavailable):
        place = f" ({where})" if where else ""
        return (
            f"The database cannot be reached{place}: {error}. Check that it is running and "
            "that QULAB_DATABASE_URL points at it, then try again."
        )
    return (
        f"Something unexpected went wrong ({type(error).__name__}: {literal(error)}). "
        "The details are in the server log."
    )


def _diagnose(db: Database) -> SchemaStatus | None:
    """The schema status if it can be read quickly, else None (the error speaks for itself)."""
    try:
        return runtime.run(schema_status(db), timeout=SCHEMA_CHECK_TIMEOUT)
    except Exception:
        return None


def explain(error: BaseException, db: Database | None) -> str:
    """Log ``error`` when it is not the user's doing and return the message to show."""
    if isinstance(error, UserError | ConfigurationError):
        return friendly_message(error)
    if not isinstance(error, ServiceUnavailable | ConfigurationError):
        log.error("lab operation failed", exc_info=error)
    schema = _diagnose(db) if db is not None else None
    return friendly_message(error, schema=schema, where=db.description if db else "")


def attempt(db: Database | None, work: Callable[[], Coroutine[Any, Any, T]]) -> T | None:
    """Run ``work()`` on the app loop; on failure show a friendly st.error and return None."""
    try:
        return runtime.run(work())
    except Exception as error:
        st.error(explain(error, db), icon=":material/error:")
        return None


def require_schema(db: Database) -> bool:
    """Show what to do when the schema is not ready (or unreachable); True when it is ready."""
    try:
        status = runtime.run(schema_status(db), timeout=SCHEMA_CHECK_TIMEOUT)
    except Exception as error:
        if not isinstance(error, ServiceUnavailable):
            log.error("reading the schema revision failed", exc_info=error)
        st.error(friendly_message(error, where=db.description), icon=":material/error:")
        return False
    advice = schema_message(status)
    if advice is None:
        return True
    st.warning(advice, icon=":material/warning:")
    st.page_link(
        str(CONNECTIVITY.path), label=f"Go to {CONNECTIVITY.title}", icon=CONNECTIVITY.icon
    )
    return False


def progress_stored(db: Database) -> bool:
    """True when the schema (with lab_progress) is at head, so answers can be kept."""
    try:
        status = runtime.run(schema_status(db), timeout=SCHEMA_CHECK_TIMEOUT)
    except Exception:
        return False
    return status.ready
