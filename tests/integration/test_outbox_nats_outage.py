"""NATS going away under a running relay process: one line from the relay, no library
traceback, nothing lost."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from qulab.core.config import Settings
from qulab.core.db import Database
from qulab.core.models import DomainEvent, EventStatus
from qulab.platform import migrate
from tests import services
from tests.outbox_helpers import all_events, emit_events
from tests.relay_process import log_records, read_line_containing, start_relay, stop
from tests.tcp_proxy import TcpProxy
from tests.waiting import eventually


async def test_a_dropped_nats_connection_is_one_relay_line_and_no_traceback(
    tmp_path: Path,
    nats_url: str,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
    db = Database(Settings().replace(database_url=url))
    await migrate.upgrade(db)
    target = urlsplit(nats_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 4222).start()
    prefix = services.unique_name("qt") + "_"
    relay = await start_relay(
        url, broker=f"nats://127.0.0.1:{proxy.port}", outbox_stream_prefix=prefix
    )
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
        await services.delete_nats_streams(prefix)
    assert code == 0, "".join(seen)
    assert not any("Traceback" in line for line in seen), "".join(seen)
    logged = [line for line in log_records(seen) if line.startswith(("WARNING", "ERROR"))]
    assert logged and all(line.startswith("WARNING qulab.core.outbox.relay:") for line in logged), (
        "".join(seen)
    )
    pending = [e for e in await _events(url) if e.status == EventStatus.PENDING.value]
    assert len(pending) == 3


async def _events(url: str) -> list[DomainEvent]:
    db = Database(Settings().replace(database_url=url))
    try:
        return await all_events(db)
    finally:
        await db.dispose()
