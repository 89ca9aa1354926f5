"""No password in a service URL ever reaches the terminal or the logs, and settings or input
a driver would choke on are refused in one line.

Each of QULAB_DATABASE_URL, QULAB_REDIS_URL and QULAB_BROKER_URL carries a password through
every path that can show it: an invalid value, a valid one pointing at nothing, and the status
output. Unreachable services are free local ports, so nothing shared is disturbed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from qulab.core.config import get_settings
from qulab.entrypoints.cli import main
from tests import services

PASSWORD = "S3cretPW"


@dataclass
class Run:
    code: int
    out: str
    err: str
    logs: str

    @property
    def shown(self) -> str:
        return self.out + self.err + self.logs


class Qulab:
    def __init__(self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):
        self.capsys = capsys
        self.caplog = caplog

    def __call__(self, *args: str) -> Run:
        self.capsys.readouterr()
        self.caplog.clear()
        get_settings.cache_clear()
        with self.caplog.at_level(logging.DEBUG):
            code = main(list(args))
        captured = self.capsys.readouterr()
        logs = "\n".join(
            record.getMessage() + (record.exc_text or "") for record in self.caplog.records
        )
        return Run(code, captured.out, captured.err, logs)


@pytest.fixture
def qulab(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Qulab]:
    """``qulab`` in-process on a migrated SQLite file, in a directory with no ``.env``."""
    monkeypatch.chdir(tmp_path)
    for name in ("REDIS_URL", "BROKER_URL", "CACHE_PREFIX"):
        monkeypatch.delenv(f"QULAB_{name}", raising=False)
    monkeypatch.setenv("QULAB_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    run = Qulab(capsys, caplog)
    assert run("db", "upgrade").code == 0
    yield run
    get_settings.cache_clear()


def assert_one_line(result: Run, code: int) -> str:
    assert result.code == code, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    return lines[0]


def assert_redacted(result: Run) -> None:
    assert PASSWORD not in result.shown
    assert "***" in result.shown


def dead_port() -> int:
    """A local port nothing listens on: connections are refused at once."""
    return services.free_port()


# -- an invalid setting: the error echoes it with the password hidden ---------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", f"mysql://u:{PASSWORD}@h/x"),
        ("REDIS_URL", f"http://u:{PASSWORD}@h:6379/0"),
        ("BROKER_URL", f"kafka://u:{PASSWORD}@h/x"),
    ],
)
def test_an_invalid_url_setting_is_shown_without_its_password(
    qulab: Qulab, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"QULAB_{name}", value)
    result = qulab("user", "list")
    line = assert_one_line(result, 2)
    assert line.startswith(f"error: QULAB_{name}: ") and "u:***@h" in line
    assert_redacted(result)


def test_a_broker_url_given_on_the_command_line_is_shown_without_its_password(
    qulab: Qulab,
) -> None:
    result = qulab("outbox", "relay", "--once", "--broker", f"kafka://u:{PASSWORD}@h/x")
    line = assert_one_line(result, 2)
    assert "unknown broker 'kafka://u:***@h/x'" in line
    assert_redacted(result)


# -- a valid URL pointing at nothing: the outage is reported without the password ----------------


def test_an_unreachable_database_is_one_line_without_the_password(
    qulab: Qulab, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1:{dead_port()}/x"
    monkeypatch.setenv("QULAB_DATABASE_URL", url)
    result = qulab("user", "list")
    assert assert_one_line(result, 1).startswith("error: database unreachable")
    assert PASSWORD not in result.shown


def test_an_unreachable_redis_cache_is_shown_without_the_password(
    qulab: Qulab, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"redis://u:***@127.0.0.1:{dead_port()}/0"
    monkeypatch.setenv("QULAB_REDIS_URL", address.replace("***", PASSWORD))
    created = qulab("user", "create", "--email", "s@example.com", "--name", "S")
    assert created.code == 0
    assert PASSWORD not in created.shown

    shown = qulab("user", "show", created.out.strip())
    assert shown.code == 0 and "cache unavailable" in shown.out
    assert PASSWORD not in shown.shown

    status = qulab("cache", "status", "--json")
    data = orjson.loads(status.out)
    assert (status.code, data["address"], data["connected"]) == (0, address, False)
    assert_redacted(status)
    table = qulab("cache", "status")
    assert address in table.out
    assert_redacted(table)

    invalidated = qulab("cache", "invalidate", created.out.strip())
    assert assert_one_line(invalidated, 1) == f"error: cache unreachable at {address}"
    assert_redacted(invalidated)


def test_a_reachable_database_is_described_without_the_password(
    qulab: Qulab, monkeypatch: pytest.MonkeyPatch, fresh_pg_url: str
) -> None:
    """The local server trusts every login, so the password is sent and ignored."""
    user, _, rest = fresh_pg_url.partition("@")
    monkeypatch.setenv("QULAB_DATABASE_URL", f"{user}:{PASSWORD}@{rest}")
    for command in (
        ("db", "upgrade"),
        ("db", "current"),
        ("setup",),
        ("user", "list"),
        ("outbox", "relay", "--once", "--yes"),
        ("outbox", "status"),
    ):
        result = qulab(*command)
        assert result.code == 0, result
        assert PASSWORD not in result.shown
    current = qulab("db", "current").out
    assert current.startswith("PostgreSQL ") and f"/{rest.rpartition('/')[2]}: revision " in current


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_an_unreachable_broker_is_shown_without_the_password_in_output_logs_and_status(
    qulab: Qulab, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    address = f"{scheme}://u:***@127.0.0.1:{dead_port()}/" + ("0" if scheme == "redis" else "")
    monkeypatch.setenv("QULAB_BROKER_URL", address.replace("***", PASSWORD))
    assert qulab("user", "create", "--email", "b@example.com", "--name", "B").code == 0

    relayed = qulab("outbox", "relay", "--once")
    assert relayed.code == 1
    broker = "Redis" if scheme == "redis" else "RabbitMQ"
    assert relayed.err.startswith(f"error: broker unavailable: {broker} at {address}: ")
    assert relayed.err.endswith("1 event(s) still pending\n")
    assert address in relayed.logs
    assert_redacted(relayed)

    status = qulab("outbox", "status", "--json")
    (failure,) = orjson.loads(status.out)["recent_failures"]
    assert address in failure["last_error"]
    assert_redacted(status)
    assert_redacted(qulab("outbox", "status"))


def test_a_running_relay_names_its_broker_without_the_password(
    qulab: Qulab, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"amqp://u:***@127.0.0.1:{dead_port()}/"
    monkeypatch.setenv("QULAB_BROKER_URL", address.replace("***", PASSWORD))
    assert qulab("user", "create", "--email", "r@example.com", "--name", "R").code == 0

    banner, outage, rest = asyncio.run(_relay_until_an_outage_is_reported())

    assert banner == f"relaying to {address} exchange qulab.outbox; Ctrl-C to stop\n"
    assert f"BrokerUnavailable: RabbitMQ at {address}: " in outage
    assert PASSWORD not in banner + outage + rest


async def _relay_until_an_outage_is_reported() -> tuple[str, str, str]:
    """Run ``qulab outbox relay`` until it logs the dead broker, then stop it with SIGTERM."""
    relay = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "qulab", "outbox", "relay", "--interval", "0.1"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert relay.stderr is not None
    try:
        banner = await asyncio.wait_for(relay.stderr.readline(), 30)
        outage = b""
        while b"broker unavailable" not in outage:
            line = await asyncio.wait_for(relay.stderr.readline(), 30)
            assert line, "the relay ended before reporting the outage"
            outage = line
        relay.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(relay.stderr.read(), 30)
        assert await asyncio.wait_for(relay.wait(), 30) == 0
    finally:
        if relay.returncode is None:
            relay.kill()
            await relay.wait()
    return banner.decode(), outage.decode(), rest.decode()


# -- settings and input a driver would choke on: one line, exit 2 --------------------------------


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1:abc/x", "the port must be a number"),
        ("REDIS_URL", "redis://127.0.0.1:abc/0", "the port must be a number"),
        ("BROKER_URL", "amqp://guest:guest@127.0.0.1:abc/", "the port must be a number"),
        ("REDIS_URL", "redis://127.0.0.1:6379/abc", "the Redis database must be a whole number"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0?socket_timeout=x", "Invalid value for 'socket_"),
        ("BROKER_URL", "amqp://guest:guest@[::1/", "not a valid URL"),
        ("DATABASE_URL", "postgresql+asyncpg://u@[::1/x", "not a valid URL"),
        ("CACHE_PREFIX", "", "at least 1 character"),
        ("POOL_TIMEOUT", "inf", "finite number"),
        ("RELAY_INTERVAL", "nan", "finite number"),
        ("POOL_SIZE", "inf", "valid integer"),
    ],
)
def test_a_setting_no_driver_could_use_is_one_line_and_exit_2(
    qulab: Qulab, monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(f"QULAB_{name}", value)
    line = assert_one_line(qulab("user", "list"), 2)
    assert line.startswith(f"error: QULAB_{name}: ") and problem in line


def test_a_dotenv_that_is_not_utf8_is_one_line_and_exit_2(qulab: Qulab, tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"QULAB_CACHE_PREFIX=\xff\xfe\n")
    line = assert_one_line(qulab("user", "list"), 2)
    assert line == "error: .env: not UTF-8 text (byte 19); save it as UTF-8"


def test_an_absurd_offset_is_bad_input(qulab: Qulab) -> None:
    line = assert_one_line(qulab("user", "list", "--offset", str(10**30)), 2)
    assert line == "error: --offset: must be between 0 and 9223372036854775807"
    assert qulab("user", "list", "--offset", str(2**63 - 1)).code == 0


def test_an_absurd_purge_age_is_bad_input(qulab: Qulab) -> None:
    result = qulab("outbox", "purge", "--published-older-than", "99999999999999d")
    line = assert_one_line(result, 2)
    assert line == "error: --published-older-than: '99999999999999d' is more than 100 years"
