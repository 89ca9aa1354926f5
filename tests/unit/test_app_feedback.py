"""Every failure becomes one sentence that says what to do."""

from __future__ import annotations

import pytest

from qulab.core.errors import (
    BrokerUnavailable,
    ConfigurationError,
    InvalidInput,
    NotFound,
    PoolExhausted,
    SchemaMissing,
    ServiceUnavailable,
)
from qulab.entrypoints.app.errors import OperationTimedOut
from qulab.entrypoints.app.feedback import SCHEMA_MISSING, friendly_message, schema_message
from qulab.entrypoints.app.schema import SchemaState, SchemaStatus
from qulab.platform.errors import DuplicateEmailError

MISSING = SchemaStatus(SchemaState.MISSING, None, "0002")
OUTDATED = SchemaStatus(SchemaState.OUTDATED, "0001", "0002")
READY = SchemaStatus(SchemaState.READY, "0002", "0002")


@pytest.mark.parametrize(
    ("error", "fragments"),
    [
        (DuplicateEmailError("a@b.c"), ["a@b.c already exists", "use another one"]),
        (InvalidInput("email", "not valid"), ["Invalid email: not valid", "Correct it"]),
        (NotFound("user", "42"), ["No user with id 42", "page 2"]),
        (ConfigurationError("QULAB_X: bad"), ["QULAB_X: bad", "restart the app"]),
        (OperationTimedOut(2.5), ["within 2.5 s", "QULAB_APP_TIMEOUT"]),
        (PoolExhausted("pool full"), ["pool full", "QULAB_POOL_SIZE"]),
        (ServiceUnavailable("refused"), ["cannot be reached", "QULAB_DATABASE_URL"]),
        (BrokerUnavailable("Redis at redis://h:1: refused"), ["refused", "QULAB_BROKER_URL"]),
        (RuntimeError("odd"), ["RuntimeError: odd", "server log"]),
    ],
)
def test_each_kind_of_failure_says_what_to_do(error: BaseException, fragments: list[str]) -> None:
    message = friendly_message(error, schema=READY)
    for fragment in fragments:
        assert fragment in message


def test_a_missing_schema_explains_a_database_failure() -> None:
    error = ServiceUnavailable("database unreachable: no such table: users")
    assert friendly_message(error, schema=MISSING) == SCHEMA_MISSING
    assert "initialise the database on page 2" in SCHEMA_MISSING


def test_a_missing_schema_error_gives_the_schema_advice_not_a_configuration_one() -> None:
    error = SchemaMissing("the database has no QuLab schema: run `qulab db upgrade`")
    assert friendly_message(error) == SCHEMA_MISSING
    assert friendly_message(error, schema=OUTDATED) == schema_message(OUTDATED)


def test_a_missing_schema_does_not_hide_a_user_mistake() -> None:
    message = friendly_message(InvalidInput("name", "must not be blank"), schema=MISSING)
    assert message.startswith("Invalid name")


def test_an_outdated_schema_names_both_revisions() -> None:
    advice = schema_message(OUTDATED)
    assert advice is not None and "0001" in advice and "0002" in advice
    assert schema_message(READY) is None


def test_an_unreachable_broker_is_one_sentence_that_names_the_broker() -> None:
    message = friendly_message(BrokerUnavailable("Redis at redis://h:1: refused"), schema=READY)
    assert message == (
        "broker unreachable: Redis at redis://h:1: refused; check that the broker is running "
        "and that QULAB_BROKER_URL points at it."
    )
