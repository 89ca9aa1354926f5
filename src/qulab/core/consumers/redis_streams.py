"""Redis Streams source: a consumer group on each aggregate type's stream.

Members of one group share the work; each process is its own member (``host-pid``). New
entries come with ``XREADGROUP … >``; an entry a member read but never acknowledged (it
crashed) is taken over with ``XAUTOCLAIM`` once it has been pending longer than
``claim_idle`` seconds. ``XACK`` follows the commit. The group starts at the beginning of the
stream (id 0), so events published before the first consumer started are not skipped.

On a Redis Cluster (``redis+cluster://``) the streams of different aggregate types live on
different masters, and one XREADGROUP may only name keys of one slot: a fetch reads each
stream without waiting first, and only when all are empty waits on each in turn, a share of
the wait apiece.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from redis import exceptions as redis_errors

from qulab.core.consumers.delivery import (
    Decoder,
    Delivery,
    as_text,
    from_fields,
    from_structured,
)
from qulab.core.consumers.source import Lag
from qulab.core.errors import BrokerUnavailable
from qulab.core.outbox.cloudevents import STRUCTURED_CONTENT_TYPE
from qulab.core.outbox.redis_streams import stream_name
from qulab.core.redis_cluster import UNREACHABLE, redis_client
from qulab.core.urls import is_redis_cluster, redact_text, redact_url

log = logging.getLogger(__name__)

ERRORS = UNREACHABLE


class Entry(NamedTuple):
    """One stream entry as read: its stream, its id, its raw fields."""

    stream: str
    entry_id: Any
    fields: Any
    redelivered: bool

    def delivery(self) -> Delivery:
        fields = {as_text(k): v for k, v in (self.fields or {}).items()}
        token = (self.stream, self.entry_id)
        if as_text(fields.get("content-type", "")) == STRUCTURED_CONTENT_TYPE:
            return from_structured(fields.get("body", b""), token, self.redelivered)
        return from_fields(fields, token, self.redelivered)

    def describe(self) -> str:
        return f"entry {as_text(self.entry_id)} on {self.stream}"


class RedisStreamsSource:
    def __init__(
        self,
        url: str,
        *,
        group: str,
        member: str,
        aggregate_types: Sequence[str],
        prefix: str = "",
        claim_idle: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.group = group
        self.member = member
        self.streams = [stream_name(kind, prefix) for kind in aggregate_types]
        self.claim_idle = claim_idle
        self.client = redis_client(url, socket_timeout=None, socket_connect_timeout=timeout)
        self.clustered = is_redis_cluster(url)
        self._where = redact_url(url)
        self._next_claim = 0.0
        self.decode = Decoder(Entry.delivery, Entry.describe, self._drop)

    @property
    def dropped(self) -> int:
        return self.decode.skipped

    @property
    def description(self) -> str:
        return f"{self._where} streams {', '.join(self.streams)} group {self.group}"

    def _unavailable(self, error: BaseException) -> BrokerUnavailable:
        return BrokerUnavailable(f"Redis at {self._where}: {redact_text(str(error), self.url)}")

    async def start(self) -> None:
        for stream in self.streams:
            try:
                await self.client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except redis_errors.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise self._unavailable(error) from error
            except ERRORS as error:
                raise self._unavailable(error) from error

    async def fetch(self, limit: int, wait: float) -> list[Delivery]:
        try:
            claimed = await self._claim_abandoned(limit)
            if claimed:
                return claimed
            reply = await self._read(limit, wait)
        except ERRORS as error:
            raise self._unavailable(error) from error
        deliveries: list[Delivery] = []
        rows: list[Any] = list(reply or [])
        for stream, entries in rows:
            deliveries += await self.decode(
                Entry(as_text(stream), entry_id, raw, False) for entry_id, raw in entries
            )
        return deliveries

    async def _read(self, limit: int, wait: float) -> Any:
        """New entries: one XREADGROUP over every stream, or on a cluster one per stream."""
        if not self.clustered or len(self.streams) == 1:
            return await self._read_group(self.streams, limit, wait)
        for stream in self.streams:
            reply = await self._read_group([stream], limit, None)
            if reply:
                return reply
        for stream in self.streams:
            reply = await self._read_group([stream], limit, wait / len(self.streams))
            if reply:
                return reply
        return []

    async def _read_group(self, streams: list[str], limit: int, wait: float | None) -> Any:
        return await self.client.xreadgroup(
            self.group,
            self.member,
            dict.fromkeys(streams, ">"),
            count=limit,
            block=None if wait is None else max(1, int(wait * 1000)),
        )

    async def _claim_abandoned(self, limit: int) -> list[Delivery]:
        """Entries other members left pending longer than ``claim_idle`` (checked at most
        twice per ``claim_idle``)."""
        now = time.monotonic()
        if now < self._next_claim:
            return []
        self._next_claim = now + self.claim_idle / 2
        deliveries: list[Delivery] = []
        for stream in self.streams:
            reply = await self.client.xautoclaim(
                stream,
                self.group,
                self.member,
                min_idle_time=int(self.claim_idle * 1000),
                start_id="0-0",
                count=limit,
            )
            entries = [entry for entry in reply[1] if entry and entry[1]]
            deliveries += await self.decode(Entry(stream, id_, raw, True) for id_, raw in entries)
        if deliveries:
            self._next_claim = now  # there may be more: look again at the next fetch
            log.info("claimed %d entries left pending by another consumer", len(deliveries))
        return deliveries

    async def _drop(self, entry: Entry) -> None:
        await self.client.xack(entry.stream, self.group, entry.entry_id)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        by_stream: dict[str, list[Any]] = {}
        for delivery in deliveries:
            stream, entry_id = delivery.token
            by_stream.setdefault(stream, []).append(entry_id)
        try:
            for stream, ids in by_stream.items():
                await self.client.xack(stream, self.group, *ids)
        except ERRORS as error:
            raise self._unavailable(error) from error

    async def lag(self) -> Lag:
        undelivered = unacked = 0
        known = True
        try:
            for stream in self.streams:
                try:
                    groups = await self.client.xinfo_groups(stream)
                except redis_errors.ResponseError:  # no such stream yet: nothing waits there
                    continue
                mine = [g for g in groups if as_text(g.get("name")) == self.group]
                if not mine:
                    undelivered += int(await self.client.xlen(stream))
                    continue
                if mine[0].get("lag") is None:
                    known = False
                undelivered += int(mine[0].get("lag") or 0)
                unacked += int(mine[0].get("pending") or 0)
        except ERRORS as error:
            raise self._unavailable(error) from error
        return Lag(undelivered if known else None, unacked)

    async def close(self) -> None:
        await self.client.aclose()
