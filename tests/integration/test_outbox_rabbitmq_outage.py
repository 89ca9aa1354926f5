"""RabbitMQ going away under a running relay process: one line from the relay, no library
traceback, nothing lost."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import aio_pika

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.models import EventStatus
from qulab.platform import migrate
from tests import services
from tests.outbox_helpers import all_events, emit_events
from tests.relay_process import log_records, read_line_containing, start_relay, stop
from tests.tcp_proxy import TcpProxy
from tests.waiting import eventually


async def test_a_dropped_broker_connection_is_one_relay_line_and_no_traceback(
    tmp_path: Path,
    amqp_url: str,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
    db = Database(Settings().replace(database_url=url))
    await migrate.upgrade(db)
    amqp = urlsplit(amqp_url)
    proxy = await TcpProxy(amqp.hostname or "127.0.0.1", amqp.port or 5672).start()
    broker = amqp_url.replace(
        amqp.netloc, f"{amqp.netloc.rpartition('@')[0]}@127.0.0.1:{proxy.port}"
    )
    exchange = services.unique_name("qulab_test_exchange")
    # A bound queue: an event nobody receives is not published (mandatory publishing).
    consumer = await aio_pika.connect(amqp_url, timeout=5)
    channel = await consumer.channel()
    declared = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(declared, routing_key="#")
    relay = await start_relay(url, broker=broker, outbox_exchange=exchange)
    seen: list[str] = []

    async def statuses() -> set[str]:
        return {event.status for event in await all_events(db)}

    try:
        await emit_events(db, 3)

        async def published() -> bool:
            return await statuses() == {EventStatus.PUBLISHED.value}

        await eventually(published, "every event to be published", timeout=30)
        proxy.cut()
        await emit_events(db, 3)
        await read_line_containing(relay, "broker unavailable, events stay pending", seen)
        code = await stop(relay, seen)
    finally:
        if relay.returncode is None:
            relay.kill()
            await relay.wait()
        await proxy.close()
        await db.dispose()
        async with consumer:
            await queue.delete(if_unused=False, if_empty=False)
            await channel.exchange_delete(exchange)
    assert code == 0, "".join(seen)
    assert not any("Traceback" in line or "aiormq" in line for line in seen), "".join(seen)
    logged = [line for line in log_records(seen) if line.startswith(("WARNING", "ERROR"))]
    assert logged and all(line.startswith("WARNING qulab.core.outbox.relay:") for line in logged)
