"""``qulab.core.urls``: passwords never shown, unusable ports and Redis databases named."""

from __future__ import annotations

import pytest

from qulab.core.urls import (
    address_problem,
    cluster_seed_urls,
    is_redis_cluster,
    redact_text,
    redact_url,
)


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


@pytest.mark.parametrize(
    ("url", "seeds"),
    [
        ("redis+cluster://10.0.0.1:7000", ["redis://10.0.0.1:7000"]),
        (
            "redis+cluster://a:7000,b:7001,[::1]:7002",
            ["redis://a:7000", "redis://b:7001", "redis://[::1]:7002"],
        ),
        (
            "rediss+cluster://u:S3c/ret@PW@a:7000,b:7001/0?socket_timeout=1",
            [
                "rediss://u:S3c/ret@PW@a:7000/0?socket_timeout=1",
                "rediss://u:S3c/ret@PW@b:7001/0?socket_timeout=1",
            ],
        ),
    ],
)
def test_a_cluster_url_names_every_seed_node_with_the_same_login_and_options(
    url: str, seeds: list[str]
) -> None:
    assert is_redis_cluster(url)
    assert cluster_seed_urls(url) == seeds


def test_a_cluster_url_shows_every_node_and_no_password() -> None:
    url = "rediss+cluster://u:S3cretPW@a:7000,b:7001/0"
    assert redact_url(url) == "rediss+cluster://u:***@a:7000,b:7001/0"
    assert not is_redis_cluster("redis://a:7000/0")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+cluster://a:7000,b:x", "the port must be a number"),
        ("redis+cluster://a:7000,b:70000", "the port must be between 1 and 65535"),
        (
            "redis+cluster://a:7000,",
            "a Redis Cluster URL names its nodes as host:port[,host:port...]",
        ),
        ("redis+cluster://a:7000/2", "a Redis Cluster has only database 0"),
        ("redis+cluster://a:7000?db=1", "a Redis Cluster has only database 0"),
        (
            "redis+cluster://a:7000?socket_timeout=soon",
            "Invalid value for 'socket_timeout' in connection URL",
        ),
        ("redis+cluster://a:7000,b:7001/0", None),
        ("rediss+cluster://u:pw@a:7000", None),
    ],
)
def test_cluster_url_problems_are_named(url: str, problem: str | None) -> None:
    assert address_problem(url) == problem
