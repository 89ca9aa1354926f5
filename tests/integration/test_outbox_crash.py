"""A relay process killed with SIGKILL mid-batch loses nothing; its restart sends the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

from redis.asyncio import Redis

from qulab.core.db import Database
from qulab.core.models import EventStatus
from qulab.core.outbox import stream_name
from qulab.core.outbox.leases import lease_table
from tests import services
from tests.outbox_helpers import all_events, emit_events
from tests.waiting import eventually

# The real relay, with a publisher that stalls right after the batch reached Redis, before
# the relay could mark it: the test kills the process there.
STALLING_RELAY = textwrap.dedent(
    """
    import asyncio
    import sys

    from qulab.core.config import load_settings
    from qulab.core.db import Database
    from qulab.core.outbox import Relay, build_publisher


    class StallAfterPublish:
        def __init__(self, inner):
            self.inner = inner
            self.description = "stalling " + inner.description

        async def publish(self, messages):
            failures = await self.inner.publish(messages)
            print("published", len(messages), flush=True)
            await asyncio.sleep(60)
            return failures

        async def close(self):
            await self.inner.close()


    async def main():
        db = Database(load_settings())
        publisher = StallAfterPublish(build_publisher(settings=db.settings))
        await Relay(db, publisher, batch_size=int(sys.argv[1]), publish_timeout=120).run()


    asyncio.run(main())
    """
)


def _env(db: Database, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "QULAB_DATABASE_URL": db.settings.database.url,
        "QULAB_BROKER_URL": services.REDIS_URL,
        "QULAB_OUTBOX_STREAM_PREFIX": prefix,
        "QULAB_RELAY_INTERVAL": "0.2",
        "QULAB_RELAY_LEASE_SECONDS": "2",
    }


async def _leases_expired(db: Database) -> None:
    """On PostgreSQL the killed relay keeps its partitions until its leases expire."""
    if db.dialect != "postgresql":
        return

    async def expired() -> bool:
        async with db.connect() as conn:
            return not any(lease.live for lease in await lease_table(conn))

    await eventually(expired, "the killed relay's leases to expire", timeout=30, interval=0.1)


async def test_relay_killed_mid_batch_then_restarted_publishes_every_event(
    db: Database, tmp_path: Path, redis_url: str
) -> None:
    prefix = services.unique_name("qulab_test") + ":"
    stream = stream_name("Test", prefix)
    client = Redis.from_url(redis_url, decode_responses=True)
    script = tmp_path / "stalling_relay.py"
    script.write_text(STALLING_RELAY)
    ids = await emit_events(db, 300)
    env = _env(db, prefix)
    try:
        with subprocess.Popen(
            [sys.executable, str(script), "100"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as relay:
            try:
                line = relay.stdout.readline() if relay.stdout else ""
                assert line.strip() == "published 100", relay.stderr.read() if relay.stderr else ""
                os.kill(relay.pid, signal.SIGKILL)
            finally:
                relay.kill()
                relay.wait(10)
        assert relay.returncode == -signal.SIGKILL

        # The killed batch is on the stream but was never marked: still pending.
        assert await client.xlen(stream) == 100
        assert {e.status for e in await all_events(db)} == {EventStatus.PENDING.value}

        await _leases_expired(db)
        restarted = subprocess.run(
            [sys.executable, "-m", "qulab", "outbox", "relay", "--once", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert restarted.returncode == 0, restarted.stderr

        events = await all_events(db)
        assert {e.status for e in events} == {EventStatus.PUBLISHED.value}
        entries = [fields for _, fields in await services.read_stream(stream, redis_url)]
        seen = Counter(entry["id"] for entry in entries)
        assert set(seen) == set(ids)
        duplicated = {event_id for event_id, n in seen.items() if n > 1}
        assert len(duplicated) == 100
        for event_id in duplicated:
            copies = [entry for entry in entries if entry["id"] == event_id]
            assert all(copy == copies[0] for copy in copies)
    finally:
        await client.delete(stream)
        await client.aclose()


async def test_relay_command_exits_zero_on_sigterm(db: Database) -> None:
    env = _env(db, services.unique_name("qulab_test") + ":")
    env["QULAB_BROKER_URL"] = "memory://"
    with subprocess.Popen(
        [sys.executable, "-m", "qulab", "outbox", "relay", "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as relay:
        try:
            banner = relay.stderr.readline() if relay.stderr else ""
            assert banner.startswith("relaying to memory://")
            relay.send_signal(signal.SIGTERM)
            assert relay.wait(20) == 0
        finally:
            relay.kill()
            relay.wait(10)
