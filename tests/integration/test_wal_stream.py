"""The replication client against a private PostgreSQL with ``wal_level=logical``: committed
inserts arrive whole and in commit order, the slot moves only when the client confirms, a slot
streams to one client at a time, quiet stretches move the slot past other tables' WAL, and the
three password exchanges (SCRAM-SHA-256, MD5, cleartext) log in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from sqlalchemy import text

from qulab.core.bootstrap import Runtime
from qulab.core.errors import ReplicationRefused, ServiceUnavailable
from qulab.core.outbox import MemoryBroker, WalRelay
from qulab.core.outbox.pgoutput import Transaction
from qulab.core.outbox.wal_repository import MARK_PREFIX, WalRepository
from qulab.core.outbox.wal_stream import WalStream
from qulab.lab.private_postgres import PrivateCluster
from tests.outbox_helpers import emit_events
from tests.waiting import eventually
from tests.wal_helpers import wal_runtime

ROLES = {  # role -> (pg_hba method, password_encryption when its password is set)
    "qulab_scram": ("scram-sha-256", "scram-sha-256"),
    "qulab_md5": ("md5", "md5"),
    "qulab_plain": ("password", "scram-sha-256"),
}
PASSWORD = "s3cret:/@pw"


@pytest.fixture
async def runtime(logical_postgres: PrivateCluster) -> AsyncIterator[Runtime]:
    """A migrated database whose slot and publication a relay pass created (and left)."""
    async with wal_runtime(logical_postgres) as runtime:
        relay = WalRelay(runtime.db, MemoryBroker("wal-stream-setup"), listen=False)
        await relay.publish_pending()
        yield runtime


async def _open(runtime: Runtime, **login: str) -> WalStream:
    slot = runtime.settings.relay.slot
    url = runtime.db.engine.url
    if login:
        url = url.set(username=login["user"], password=login["password"])
    return await WalStream.connect(url, slot, slot, "domain_events", within=5)


async def _mark(runtime: Runtime, token: str) -> None:
    async with runtime.db.engine.begin() as conn:
        await WalRepository(conn, runtime.settings.relay.slot).mark(token)


async def _read_to_mark(stream: WalStream, token: str) -> list[Transaction]:
    """Everything the stream sends up to (and with) the mark ``token``."""
    got: list[Transaction] = []

    async def seen() -> bool:
        await stream.wait(0.2)
        taken, marks = stream.take(10_000)
        got.extend(taken)
        return any(m.prefix == MARK_PREFIX and m.content == token.encode() for m in marks)

    await eventually(seen, f"the mark {token} on the stream")
    return got


async def _confirmed(runtime: Runtime) -> int:
    async with runtime.db.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::bigint "
                "FROM pg_replication_slots WHERE slot_name = :slot"
            ),
            {"slot": runtime.settings.relay.slot},
        )
    return int(found)


def _ids(transactions: list[Transaction]) -> list[str]:
    return [str(row["id"]) for t in transactions for row in t.rows]


async def test_commits_arrive_whole_in_order_and_the_slot_moves_only_when_confirmed(
    runtime: Runtime,
) -> None:
    stream = await _open(runtime)
    try:
        before = await _confirmed(runtime)
        first = await emit_events(runtime.db, 3, per_transaction=2)
        await _mark(runtime, "one")
        got = await _read_to_mark(stream, "one")
        assert _ids(got) == first
        assert [len(t.rows) for t in got if t.rows] == [2, 1]
        assert await _confirmed(runtime) == before  # received is not confirmed
    finally:
        await stream.close()
    stream = await _open(runtime)  # unconfirmed: sent again from the slot's position
    try:
        await _mark(runtime, "two")
        again = await _read_to_mark(stream, "two")
        assert _ids(again) == first
        end = max(t.end_lsn for t in again if t.rows)
        stream.confirm(end)
        await eventually(lambda: _at_least(runtime, end), "the slot confirmed to the batch")
    finally:
        await stream.close()
    stream = await _open(runtime)  # confirmed: not sent again
    try:
        await _mark(runtime, "three")
        assert _ids(await _read_to_mark(stream, "three")) == []
    finally:
        await stream.close()


async def _at_least(runtime: Runtime, lsn: int) -> bool:
    return await _confirmed(runtime) >= lsn


async def test_a_slot_streams_to_one_client_at_a_time(runtime: Runtime) -> None:
    first = await _open(runtime)
    try:
        with pytest.raises(ReplicationRefused, match="is active for PID") as refused:
            await _open(runtime)
        assert refused.value.slot_busy
    finally:
        await first.close()
    second = await eventually(lambda: _open_when_free(runtime), "the slot free again")
    await second.close()


async def _open_when_free(runtime: Runtime) -> WalStream | None:
    try:
        return await _open(runtime)
    except ReplicationRefused as error:
        if error.slot_busy:
            return None
        raise


async def test_writes_to_other_tables_move_the_slot_while_the_outbox_is_quiet(
    runtime: Runtime,
) -> None:
    stream = await _open(runtime)
    try:
        await emit_events(runtime.db, 1)
        await _mark(runtime, "caught-up")
        got = await _read_to_mark(stream, "caught-up")
        stream.confirm(max(t.end_lsn for t in got))
        async with runtime.db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE quiet_neighbour (n int)"))
            await conn.execute(text("INSERT INTO quiet_neighbour SELECT generate_series(1, 500)"))
        async with runtime.db.connect() as conn:  # past the commit just written
            lsn = "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"
            after = int(await conn.scalar(text(lsn)))
        await eventually(lambda: _at_least(runtime, after), "the slot past the other table's WAL")
    finally:
        await stream.close()


async def test_a_taken_batch_holds_the_slot_back_through_keepalives(runtime: Runtime) -> None:
    stream = await _open(runtime)
    try:
        await emit_events(runtime.db, 1)
        await _mark(runtime, "taken")
        got = await _read_to_mark(stream, "taken")  # taken, never confirmed
        heard = stream.keepalives
        async with runtime.db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE busy_neighbour (n int)"))
        await eventually(lambda: stream.keepalives > heard, "a keepalive after the write")
        end = max(t.end_lsn for t in got if t.rows)
        assert await _confirmed(runtime) < end
    finally:
        await stream.close()


@pytest.fixture
def password_roles(logical_postgres: PrivateCluster) -> Iterator[PrivateCluster]:
    """Three roles that log in with a password, each through its own pg_hba method (the lines
    go first, for these roles only, and are taken out afterwards)."""
    import asyncio

    hba = logical_postgres.primary.data_dir / "pg_hba.conf"
    original = hba.read_text()
    lines = "".join(
        f"host all {role} 127.0.0.1/32 {method}\n" for role, (method, _) in ROLES.items()
    )
    hba.write_text(lines + original)

    async def setup(drop: bool) -> None:
        conn = await asyncpg.connect(logical_postgres.primary.dsn())
        try:
            for role, (_, encryption) in ROLES.items():
                await conn.execute(f"DROP ROLE IF EXISTS {role}")
                if not drop:
                    await conn.execute(f"SET password_encryption = '{encryption}'")
                    await conn.execute(
                        f"CREATE ROLE {role} LOGIN REPLICATION PASSWORD '{PASSWORD}'"
                    )
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    asyncio.run(setup(drop=False))
    try:
        yield logical_postgres
    finally:
        hba.write_text(original)
        asyncio.run(setup(drop=True))


@pytest.mark.parametrize("role", sorted(ROLES))
async def test_each_password_exchange_logs_in_and_streams(
    role: str, password_roles: PrivateCluster, runtime: Runtime
) -> None:
    stream = await _open(runtime, user=role, password=PASSWORD)
    try:
        ids = await emit_events(runtime.db, 2)
        await _mark(runtime, role)
        assert _ids(await _read_to_mark(stream, role)) == ids
        assert stream.backend_pid > 0
    finally:
        await stream.close()


async def test_a_wrong_password_is_a_clear_refusal(
    password_roles: PrivateCluster, runtime: Runtime
) -> None:
    with pytest.raises(
        ServiceUnavailable, match='password authentication failed for user "qulab_scram"'
    ):
        await _open(runtime, user="qulab_scram", password="wrong")
