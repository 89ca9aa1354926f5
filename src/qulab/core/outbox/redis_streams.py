"""``redis://``: one stream per aggregate type, ``{prefix}outbox.event.{aggregate_type}``.

An entry holds the message fields (``id``, ``type``, …, ``payload``, and ``traceparent`` /
``tracestate`` when traced); with ``QULAB_EVENT_FORMAT=cloudevents`` it holds a structured
CloudEvent instead (``content-type``, ``body``).

A batch is one pipelined round trip of XADDs (no MULTI: each entry stands alone). An error
reply for one entry (say, the stream key holds a string) fails that message only; a server
that refuses writes as a whole (out of memory, loading, read-only) is an outage.

On one server the batch's commands are encoded here, straight from the messages, and written
in one piece on a pooled connection of the client's; its replies are read in order. That is
the relays' hot path: redis-py's pipeline builds a command object per entry and encodes its
arguments one by one, which cost twice the round trip itself at batch 500. A connection lost
mid-batch is retried as the client's retry policy says (the whole batch: at least once).

On a Redis Cluster (``redis+cluster://``) each stream is one key on the master of its slot;
redis-py's cluster pipeline sends each XADD there, and a master that does not answer is an
outage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from qulab.core.errors import BrokerUnavailable
from qulab.core.outbox import cloudevents
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.publisher import Failures
from qulab.core.redis_cluster import UNREACHABLE, redis_client
from qulab.core.urls import redact_text, redact_url

STREAM_TEMPLATE = "{prefix}outbox.event.{aggregate_type}"
SERVER_WIDE_ERRORS = (
    "OOM",
    "LOADING",
    "READONLY",
    "MASTERDOWN",
    "BUSY",
    "NOAUTH",
    "TRYAGAIN",
    "CLUSTERDOWN",
)
"""Error replies that refuse every write, not one entry; redis-py turns the ones it knows into
the classes below and drops the code from their text."""
SERVER_WIDE_CLASSES = (
    redis_errors.OutOfMemoryError,
    redis_errors.ReadOnlyError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,  # and MasterDownError
)


def stream_name(aggregate_type: str, prefix: str = "") -> str:
    return STREAM_TEMPLATE.format(prefix=prefix, aggregate_type=aggregate_type)


class RedisStreamsPublisher:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        maxlen: int | None = None,
        timeout: float = 5.0,
        client: Redis | RedisCluster | None = None,
        event_format: str = "qulab",
        event_source: str = "/qulab",
    ) -> None:
        self.url = url
        self.event_format = event_format
        self.event_source = event_source
        self.prefix = prefix
        self.maxlen = maxlen
        # No per-read socket timeout: it costs a timer per reply, and the relay already bounds
        # the whole batch (QULAB_RELAY_PUBLISH_TIMEOUT).
        self.client = client or redis_client(
            url, socket_timeout=None, socket_connect_timeout=min(timeout, 2.0)
        )
        self._where = redact_url(url)
        self._templates: dict[tuple[str, ...], bytes] = {}

    @property
    def description(self) -> str:
        return f"{self._where} streams {stream_name('<aggregate>', self.prefix)}"

    def stream(self, aggregate_type: str) -> str:
        return stream_name(aggregate_type, self.prefix)

    def entry(self, message: OutboxMessage) -> dict[Any, Any]:
        """The stream entry: the message fields, or a structured CloudEvent (Redis Streams have
        no CloudEvents binding) in ``body`` with its ``content-type``."""
        if self.event_format == "cloudevents":
            body = cloudevents.structured(message, self.event_source)
            return {"content-type": cloudevents.STRUCTURED_CONTENT_TYPE, "body": body}
        return message.fields()  # a new dict on every call

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        if not messages:
            return {}
        try:
            if isinstance(self.client, RedisCluster):
                replies = await self._through_pipeline(messages)
            else:
                replies = await self._in_one_write(self.client, messages)
        except UNREACHABLE as error:
            detail = redact_text(str(error), self.url)
            raise BrokerUnavailable(f"Redis at {self._where}: {detail}") from error
        failures: Failures = {}
        for message, reply in zip(messages, replies, strict=True):
            if isinstance(reply, UNREACHABLE):  # a cluster's pipeline returns a node's outage
                detail = redact_text(str(reply), self.url)
                raise BrokerUnavailable(f"Redis at {self._where}: {detail}")
            if isinstance(reply, Exception):
                text = redact_text(str(reply), self.url)
                if isinstance(reply, SERVER_WIDE_CLASSES) or text.startswith(SERVER_WIDE_ERRORS):
                    raise BrokerUnavailable(
                        f"Redis at {self._where} refuses writes: {type(reply).__name__}: {text}"
                    )
                failures[message.id] = f"{type(reply).__name__}: {text}"
        return failures

    async def _through_pipeline(self, messages: Sequence[OutboxMessage]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for message in messages:
            pipe.xadd(self.stream(message.aggregate_type), self.entry(message), maxlen=self.maxlen)
        return list(await pipe.execute(raise_on_error=False))

    async def _in_one_write(self, client: Redis, messages: Sequence[OutboxMessage]) -> list[Any]:
        """The batch's XADDs written at once on a pooled connection; a reply per message, an
        error reply as its ResponseError."""
        data = b"".join([self._xadd(message) for message in messages])
        pool = client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            replies: list[Any] = await connection.retry.call_with_retry(
                lambda: _exchange(connection, data, len(messages)),
                lambda _error: connection.disconnect(),
            )
        finally:
            await pool.release(connection)
        return replies

    def _xadd(self, message: OutboxMessage) -> bytes:
        """``XADD <stream> [MAXLEN ~ n] * field value ...`` in RESP, as redis-py would send it:
        one bytes format per message, its template made once per stream and set of fields."""
        entry = self.entry(message)
        key = (message.aggregate_type, *entry)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._template(message.aggregate_type, list(entry))
        values: list[int | bytes] = []
        for value in entry.values():
            data = value.encode() if isinstance(value, str) else value
            values += (len(data), data)
        return template % tuple(values)

    def _template(self, aggregate_type: str, names: list[str]) -> bytes:
        head = ["XADD", self.stream(aggregate_type)]
        if self.maxlen is not None:
            head += ["MAXLEN", "~", str(self.maxlen)]
        head.append("*")
        fixed = b"*%d\r\n" % (len(head) + 2 * len(names))
        fixed += b"".join([_bulk(part) for part in head])
        pairs = [_bulk(name).replace(b"%", b"%%") + b"$%d\r\n%s\r\n" for name in names]
        return fixed.replace(b"%", b"%%") + b"".join(pairs)

    async def recent(self, aggregate_type: str, count: int) -> list[tuple[str, dict[str, str]]]:
        """The last ``count`` entries of one aggregate type's stream, newest first, as a consumer
        would read them. Raises BrokerUnavailable (naming the server, never its password) when
        Redis does not answer."""
        try:
            entries = await self.client.xrevrange(self.stream(aggregate_type), count=count)
        except (*UNREACHABLE, redis_errors.RedisError, TimeoutError) as error:
            raise BrokerUnavailable(f"{self.description}: {_reason(error, self.url)}") from error
        return [
            (_text(entry_id), {_text(k): _text(v) for k, v in (raw or {}).items()})
            for entry_id, raw in entries or []
        ]

    async def close(self) -> None:
        await self.client.aclose()


async def _exchange(connection: Any, data: bytes, count: int) -> list[Any]:
    await connection.send_packed_command(data)
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(await connection.read_response(disable_decoding=True))
        except redis_errors.ResponseError as error:  # the server's error for this entry
            replies.append(error)
    return replies


def _bulk(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _reason(error: BaseException, url: str) -> str:
    """The first sentence of a client error ("Error 111 connecting to host:port")."""
    text = redact_text(str(error).strip(), url) or type(error).__name__
    return text.split(". ", 1)[0].rstrip(".")
