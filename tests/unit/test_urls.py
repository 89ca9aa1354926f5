"""``qulab.core.urls``: passwords never shown, unusable ports and Redis databases named."""

from __future__ import annotations

import pytest

from qulab.core.urls import address_problem, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+asyncpg://u:S3cretPW@db:5432/x", "postgresql+asyncpg://u:***@db:5432/x"),
        ("redis://:S3cretPW@127.0.0.1:6379/2", "redis://:***@127.0.0.1:6379/2"),
        ("amqps://guest:S3cretPW@mq/vhost", "amqps://guest:***@mq/vhost"),
        # written without percent-encoding: still hidden whole
        ("redis://u:S3c/ret@PW@h:6379/0", "redis://u:***@h:6379/0"),
        ("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres", None),
        ("redis://127.0.0.1:6379/0", None),
        ("sqlite+aiosqlite:///./qulab.db", None),
        ("memory://", None),
    ],
)
def test_redact_url_replaces_only_the_password(url: str, shown: str | None) -> None:
    assert redact_url(url) == (url if shown is None else shown)


def test_redact_text_hides_the_url_and_the_bare_password_a_driver_may_quote() -> None:
    url = "amqp://guest:S3cretPW@127.0.0.1:5672/"
    text = f"cannot connect to {url} (login guest/S3cretPW refused)"
    assert redact_text(text, url, None) == (
        "cannot connect to amqp://guest:***@127.0.0.1:5672/ (login guest/*** refused)"
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql+asyncpg://u:pw@h:abc/x", "the port must be a number"),
        ("redis://u:pw@h:99999/0", "the port must be between 1 and 65535"),
        ("amqp://h:0/", "the port must be between 1 and 65535"),
        ("redis://[::1]:x/0", "the port must be a number"),
        ("redis://h:6379/abc", "the Redis database must be a whole number such as /0"),
        ("redis://h/0?db=two", "the Redis database (db=) must be a whole number"),
        ("unix:///run/redis.sock?db=x", "the Redis database (db=) must be a whole number"),
        (
            "redis://h:6379/0?socket_timeout=soon",
            "Invalid value for 'socket_timeout' in connection URL",
        ),
        (
            "postgresql+asyncpg://u:pw@[::1/x",
            "not a valid URL (check the brackets around an IPv6 address)",
        ),
        ("amqp://[::1/", "not a valid URL (check the brackets around an IPv6 address)"),
        ("redis://u:p@ss@h:6379/1", None),
        ("redis://[::1]:6380/3", None),
        ("amqp://guest:guest@127.0.0.1:5672/", None),
        ("sqlite+aiosqlite:////tmp/x:y.db", None),
    ],
)
def test_address_problem_names_what_a_driver_would_choke_on(url: str, problem: str | None) -> None:
    assert address_problem(url) == problem


def test_redact_text_hides_a_percent_encoded_password_in_its_decoded_form_too() -> None:
    url = "redis://:S3cret%40PW@127.0.0.1:6379/0"
    assert redact_text("AUTH S3cret@PW refused", url) == "AUTH *** refused"
