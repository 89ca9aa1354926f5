"""``qulab doctor``: one line per component, exit 0 / 1 (down) / 2 (misconfigured), passwords
never shown."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import aio_pika
import pytest

from qulab.core.config import Settings, get_settings
from qulab.core.db import Database
from qulab.core.health import Status, check_nats, check_rabbitmq, run_checks
from qulab.core.health.check import Check, bounded
from qulab.core.health.relay import check_relay, relay_activity
from qulab.core.outbox import MemoryBroker, Relay, publish_pending
from qulab.platform.migrate import MIGRATIONS
from tests import services
from tests.cli.conftest import Invoke
from tests.outbox_helpers import emit_events
from tests.waiting import eventually

PASSWORD = "s3cret-pw"
COMPONENTS = ["database", "schema", "cache", "broker", "relay", "clock"]
NATS_URL = "nats://127.0.0.1:4222"


def _lines(out: str) -> dict[str, tuple[str, str]]:
    """component -> (status, detail) from the text output."""
    found = {}
    for line in out.splitlines():
        component, status, detail = line.split(maxsplit=2)
        found[component] = (status, detail)
    return found


@pytest.fixture
def exchange(amqp_url: str) -> Iterator[str]:
    """A durable topic exchange of this test's own on the real RabbitMQ, deleted afterwards."""
    name = services.unique_name("qulab_test")

    async def _declare(delete: bool) -> None:
        connection = await aio_pika.connect(amqp_url, timeout=5)
        try:
            channel = await connection.channel()
            if delete:
                await channel.exchange_delete(name)
            else:
                await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        finally:
            await connection.close()

    asyncio.run(_declare(False))
    try:
        yield name
    finally:
        asyncio.run(_declare(True))


@pytest.mark.parametrize("backend", ["postgresql"])
def test_every_service_up_is_exit_0_with_one_line_each(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch, exchange: str, redis_url: str
) -> None:
    amqp = services.AMQP_URL.replace("guest:guest@", f"guest:{PASSWORD}@")
    monkeypatch.setenv("QULAB_REDIS_URL", redis_url)
    monkeypatch.setenv("QULAB_BROKER_URL", services.AMQP_URL)
    monkeypatch.setenv("QULAB_OUTBOX_EXCHANGE", exchange)
    get_settings.cache_clear()
    assert qulab("db", "upgrade").code == 0

    result = qulab("doctor")

    assert (result.code, result.err) == (0, ""), result.out
    lines = _lines(result.out)
    assert list(lines) == COMPONENTS
    assert lines["database"][0] == "ok" and "reachable (PostgreSQL " in lines["database"][1]
    assert lines["schema"][0] == "ok" and lines["schema"][1].startswith("at the head revision ")
    assert lines["cache"][0] == "ok" and lines["cache"][1].startswith("Redis ")
    assert lines["broker"][0] == "ok" and lines["broker"][1].startswith("RabbitMQ ")
    assert lines["relay"] == ("ok", "nothing published yet; nothing pending")
    assert lines["clock"][0] == "ok" and lines["clock"][1].startswith("database clock ")
    assert amqp not in result.out  # the URL is shown, redacted, only when it has a password


@pytest.mark.parametrize("backend", ["sqlite"])
def test_closed_ports_are_exit_1_and_one_line_each_without_passwords(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = services.free_port()
    monkeypatch.setenv(
        "QULAB_DATABASE_URL", f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1:{port}/x"
    )
    monkeypatch.setenv("QULAB_REDIS_URL", f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    monkeypatch.setenv("QULAB_BROKER_URL", f"amqp://guest:{PASSWORD}@127.0.0.1:{port}/")
    get_settings.cache_clear()

    result = qulab("doctor")

    assert result.code == 1
    lines = _lines(result.out)
    assert list(lines) == COMPONENTS
    assert {name: status for name, (status, _) in lines.items()} == {
        "database": "down",
        "schema": "skipped",
        "cache": "down",
        "broker": "down",
        "relay": "skipped",
        "clock": "skipped",
    }
    assert lines["database"][1].startswith("database unreachable: ")
    assert f"redis://:***@127.0.0.1:{port}/0" in lines["cache"][1]
    assert f"RabbitMQ at amqp://guest:***@127.0.0.1:{port}/: " in lines["broker"][1]
    assert PASSWORD not in result.out + result.err


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("BROKER_URL", f"kafka://u:{PASSWORD}@h:9092", "QULAB_BROKER_URL: "),
        ("REDIS_URL", f"redis://:{PASSWORD}@127.0.0.1:abc/0", "QULAB_REDIS_URL: "),
        ("DATABASE_URL", "mysql://u@h/x", "QULAB_DATABASE_URL: "),
    ],
)
def test_a_bad_url_is_exit_2_in_one_line(
    qulab: Invoke, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(f"QULAB_{name}", value)
    get_settings.cache_clear()

    result = qulab("doctor")

    assert result.code == 2
    assert result.out.count("\n") == 1
    assert result.out.startswith(f"settings  misconfigured  {expected}")
    assert PASSWORD not in result.out + result.err


@pytest.mark.parametrize("backend", ["sqlite"])
def test_json_is_a_list_of_component_status_detail(qulab: Invoke) -> None:
    assert qulab("db", "upgrade").code == 0

    result = qulab("doctor", "--json")

    assert result.code == 0, result.out
    shown = json.loads(result.out)
    assert [item["component"] for item in shown] == COMPONENTS
    assert all(set(item) == {"component", "status", "detail"} for item in shown)
    by_name = {item["component"]: item for item in shown}
    assert by_name["cache"]["detail"].startswith("in-process cache")
    assert by_name["broker"]["status"] == "warn"  # memory://: nothing leaves the process
    assert by_name["clock"]["detail"] == "SQLite runs on this machine: one clock"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_database_not_set_up_is_exit_2(qulab: Invoke) -> None:
    result = qulab("doctor")
    assert result.code == 2
    status, detail = _lines(result.out)["database"]
    assert status == "misconfigured" and detail.endswith("does not exist yet: run `qulab setup`")


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_database_without_the_schema_is_exit_2(qulab: Invoke) -> None:
    result = qulab("doctor")
    assert result.code == 2
    lines = _lines(result.out)
    assert lines["schema"] == ("misconfigured", "no schema yet: run `qulab db upgrade`")
    assert lines["relay"] == ("skipped", "no schema")


# -- the checks on their own ---------------------------------------------------------------------


async def test_a_relay_is_judged_by_what_it_left_in_the_outbox(db: Database) -> None:
    await emit_events(db, 2)
    idle = await check_relay(db, stale_after=0)
    assert idle.status is Status.WARN
    assert idle.detail.startswith("no relay seems to run: nothing published yet; oldest pending")

    await publish_pending(db, MemoryBroker("doctor", 10))
    done = await check_relay(db, stale_after=0)
    assert done.status is Status.OK
    if db.dialect == "postgresql":  # the pass took partition leases and gave them back
        assert done.detail.startswith("0 relay(s) holding leases, 16 partition(s) unheld; ")
    assert "last published " in done.detail and done.detail.endswith("; nothing pending")


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_on_postgresql_a_running_relay_is_seen_by_its_leases(db: Database) -> None:
    relay = Relay(db, MemoryBroker("doctor-leases", 10))
    running = asyncio.create_task(relay.run())
    try:

        async def leased() -> bool:
            return (await relay_activity(db)).live_relays == 1

        await eventually(leased, "one live relay lease", timeout=30)
        await emit_events(db, 1)
        seen = await check_relay(db, stale_after=3600)
        assert seen.status is Status.OK
        assert seen.detail.startswith("1 relay(s) holding leases; ")
    finally:
        relay.stop()
        await running

    await emit_events(db, 1)  # waits with no relay: the leases expired or were given back
    gone = await check_relay(db, stale_after=3600)
    assert gone.status is Status.WARN
    assert gone.detail.startswith("no relay holds a lease: 0 relay(s) holding leases, 16 ")


@pytest.mark.usefixtures("nats_url")
async def test_nats_is_read_from_its_info_greeting() -> None:
    found = await check_nats(NATS_URL.replace("//", f"//u:{PASSWORD}@"), 3)
    assert found.status is Status.OK
    assert found.detail.startswith("NATS ") and "at nats://u:***@127.0.0.1:4222" in found.detail
    assert found.detail.endswith("(JetStream on)")


async def test_nats_on_a_closed_port_is_down() -> None:
    url = f"nats://127.0.0.1:{services.free_port()}"
    found = await bounded("broker", check_nats(url, 3), 3)
    assert found.status is Status.DOWN
    assert found.detail.startswith(f"NATS at {url}: ")


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts and never says a word."""

    async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(_hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_a_service_that_never_answers_is_down_within_the_limit(silent_server: int) -> None:
    found = await bounded("broker", check_nats(f"nats://127.0.0.1:{silent_server}", 60), 0.2)
    assert found == Check("broker", Status.DOWN, "no answer within 0.2 s")


async def test_a_misconfigured_settings_object_still_gets_every_line(tmp_path: Any) -> None:
    settings = Settings().replace(database_url=f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    checks = await run_checks(settings, MIGRATIONS, 1)
    assert [check.component for check in checks] == COMPONENTS
    assert not (tmp_path / "none.db").exists()  # looking created nothing


class _Management(BaseHTTPRequestHandler):
    """RabbitMQ's management API, as much of it as the bindings check reads: the real plugin
    is not enabled on the shared broker, and enabling it would reconfigure it."""

    bindings: list[dict[str, str]] = []
    asked: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        type(self).asked.append((self.path, self.headers.get("Authorization")))
        body = json.dumps(type(self).bindings).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def management() -> Iterator[tuple[int, type[_Management]]]:
    handler = type("Management", (_Management,), {"bindings": [], "asked": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("bindings", "status", "ending"),
    [
        ([{"destination": "q1", "destination_type": "queue"}], Status.OK, "1 queue(s) bound to "),
        ([{"destination": "x", "destination_type": "exchange"}], Status.WARN, "no queue is bound"),
    ],
)
async def test_rabbitmq_bindings_come_from_the_management_api(
    exchange: str,
    management: tuple[int, type[_Management]],
    bindings: list[dict[str, str]],
    status: Status,
    ending: str,
) -> None:
    port, handler = management
    handler.bindings = bindings
    found = await check_rabbitmq(services.AMQP_URL, exchange, 3, port)
    assert found.status is status
    assert ending in found.detail
    [(path, auth)] = handler.asked
    assert path == f"/api/exchanges/%2F/{exchange}/bindings/source"
    assert auth == "Basic Z3Vlc3Q6Z3Vlc3Q="  # guest:guest, from the URL


async def test_rabbitmq_without_the_exchange_or_the_api_says_so(exchange: str) -> None:
    missing = await check_rabbitmq(services.AMQP_URL, exchange + "_none", 3)
    assert missing.status is Status.WARN
    assert missing.detail.endswith("does not exist yet, so no queue is bound to it")

    closed = services.free_port()
    unknown = await check_rabbitmq(services.AMQP_URL, exchange, 3, closed)
    assert unknown.status is Status.OK
    assert unknown.detail.endswith(
        f"bindings unknown (the management API on port {closed} is closed)"
    )


async def test_an_unexpected_error_is_one_line_without_its_text() -> None:
    async def _fails() -> Check:
        raise RuntimeError(f"redis://:{PASSWORD}@h/0 broke")

    found = await bounded("cache", _fails(), 1)
    assert found == Check("cache", Status.DOWN, "the check failed: RuntimeError")
