"""Service URLs as people may see them, and the parts of them drivers would choke on.

Every URL QuLab shows (errors, logs, status output, the lab, benchmark reports) goes through
``redact_url`` first, so a password in ``QULAB_DATABASE_URL``, ``QULAB_REDIS_URL`` or
``QULAB_BROKER_URL`` is never printed. The checks return a message that does not echo the URL.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

REDACTED = "***"

# ``scheme://user:password@rest``. The password runs to the *last* ``@`` so that one written
# without percent-encoding (``p@ss/word``) is still hidden whole; hiding a little too much of a
# malformed URL is the safe way to be wrong.
_CREDENTIALS = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@]*):(?P<password>.*)@")
_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:.*@)?(?P<hostport>[^/?#@]*)")


# Database URL schemes that name no driver, and the async driver QuLab runs them with.
_ASYNC_DRIVERS = {
    "postgresql://": "postgresql+asyncpg://",
    "postgres://": "postgresql+asyncpg://",
    "sqlite://": "sqlite+aiosqlite://",
}


def async_database_url(url: str) -> str:
    """``url`` with the async driver QuLab uses made explicit: ``postgresql://`` and
    ``postgres://`` (as libpq, psql and most hosting providers write them) become
    ``postgresql+asyncpg://``, ``sqlite://`` becomes ``sqlite+aiosqlite://``; anything else is
    returned as it is (to be accepted or refused by whoever reads it)."""
    for bare, driver in _ASYNC_DRIVERS.items():
        if url.startswith(bare):
            return driver + url.removeprefix(bare)
    return url


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``; anything else is kept as is."""
    return _CREDENTIALS.sub(lambda m: f"{m['head']}:{REDACTED}@", url, count=1)


def redact_text(text: str, *urls: str | None) -> str:
    """``text`` with every given URL redacted and their passwords masked wherever they appear
    (a driver may quote the URL, or the password alone, percent-decoded, in its own message)."""
    for url in urls:
        if not url:
            continue
        text = text.replace(url, redact_url(url))
        match = _CREDENTIALS.match(url)
        if match and match["password"]:
            for password in (match["password"], unquote(match["password"])):
                text = text.replace(password, REDACTED)
    return text


def address_problem(url: str) -> str | None:
    """Why a driver could not use ``url`` (a bad port, a Redis database that is not a number,
    a malformed address or Redis option), or None. The message does not quote the URL."""
    if is_redis_cluster(url):
        return _cluster_problem(url)
    problem = port_problem(url)
    if problem is None and url.startswith(("redis://", "rediss://", "unix://")):
        problem = redis_db_problem(url) or _redis_options_problem(url)
    if problem is None:
        problem = _syntax_problem(url)
    return problem


def port_problem(url: str) -> str | None:
    """Why the port of ``url`` is unusable (not a number, out of range), or None."""
    match = _AUTHORITY.match(url)
    if match is None:
        return None
    hostport = match["hostport"]
    if hostport.startswith("["):  # [IPv6]:port
        _, _, after = hostport.partition("]")
        port = after[1:] if after.startswith(":") else ""
    else:
        _, colon, port = hostport.rpartition(":")
        port = port if colon else ""
    if not port:
        return None
    if not port.isascii() or not port.isdigit():
        return "the port must be a number"
    if not 1 <= int(port) <= 65535:
        return "the port must be between 1 and 65535"
    return None


def redis_db_problem(url: str) -> str | None:
    """Why the database number of a ``redis://`` URL (path ``/N`` or ``?db=N``) is unusable."""
    match = _AUTHORITY.match(url)
    if match is None or url.startswith("unix://"):
        return _query_db_problem(url)
    rest = url[match.end() :]
    path = rest.split("?", 1)[0].split("#", 1)[0].strip("/")
    if path and not _is_index(path):
        return "the Redis database must be a whole number such as /0"
    return _query_db_problem(url)


def _query_db_problem(url: str) -> str | None:
    query = url.partition("?")[2].split("#", 1)[0]
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name == "db" and not _is_index(value):
            return "the Redis database (db=) must be a whole number"
    return None


def _is_index(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 9


def _syntax_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        return "not a valid URL (check the brackets around an IPv6 address)"
    if url.startswith(("postgresql", "sqlite")):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(url)
        except (ArgumentError, ValueError):
            return "not a valid database URL"
    return None


def _redis_options_problem(url: str) -> str | None:
    from redis.asyncio.connection import parse_url as parse_redis_url  # only when one is set

    try:
        parse_redis_url(url)
    except ValueError as error:  # e.g. "Invalid value for 'socket_timeout' in connection URL."
        return redact_text(str(error), url).rstrip(".")
    return None


# ``redis+cluster://[user:password@]host:port[,host:port...][/0][?options]``: the nodes a client
# asks for the cluster's layout first (any one that answers will do), sharing credentials and
# options. ``rediss+cluster://`` is the same over TLS.
CLUSTER_SCHEMES = {"redis+cluster://": "redis://", "rediss+cluster://": "rediss://"}


def is_redis_cluster(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    return url.startswith(tuple(CLUSTER_SCHEMES))


def cluster_seed_urls(url: str) -> list[str]:
    """One ``redis://`` (``rediss://``) URL per node a cluster URL names, each with the URL's
    credentials, path and options."""
    scheme = next(s for s in CLUSTER_SCHEMES if url.startswith(s))
    rest = url.removeprefix(scheme)
    # As in ``redact_url``: a password runs to the last "@", whatever it holds.
    userinfo, at, after = rest.rpartition("@")
    login = userinfo + at
    end = min((i for i in (after.find("/"), after.find("?")) if i >= 0), default=len(after))
    hosts, tail = after[:end], after[end:]
    return [f"{CLUSTER_SCHEMES[scheme]}{login}{host}{tail}" for host in hosts.split(",")]


def _cluster_problem(url: str) -> str | None:
    from redis.asyncio.connection import parse_url as parse_redis_url

    seeds = cluster_seed_urls(url)
    for seed in seeds:
        match = _AUTHORITY.match(seed)
        if match is None or not match["hostport"]:
            return "a Redis Cluster URL names its nodes as host:port[,host:port...]"
        problem = port_problem(seed) or redis_db_problem(seed) or _syntax_problem(seed)
        if problem is not None:
            return problem
    problem = _redis_options_problem(seeds[0])
    if problem is None and int(parse_redis_url(seeds[0]).get("db", 0)) != 0:
        problem = "a Redis Cluster has only database 0"
    return problem
