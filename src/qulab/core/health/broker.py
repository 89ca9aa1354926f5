"""The cache's and the broker's lines: reachable, server version, and for RabbitMQ whether any
queue is bound to the outbox exchange.

AMQP itself cannot list bindings, so that part asks RabbitMQ's management API (port 15672,
the URL's credentials); when it does not answer, the line says the bindings are unknown. NATS
is checked without a client library: a TCP connection and the server's ``INFO`` greeting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from qulab.core.cache.redis_backend import redis_backend
from qulab.core.errors import BrokerUnavailable
from qulab.core.health.check import Check, Status
from qulab.core.redis_cluster import REDIS_SCHEMES
from qulab.core.settings_groups import BrokerSettings, CacheSettings
from qulab.core.urls import redact_text, redact_url

MANAGEMENT_PORT = 15672
NATS_PORT = 4222


async def check_cache(config: CacheSettings) -> Check:
    if config.redis_url is None:
        detail = "in-process cache (each process its own; QULAB_REDIS_URL shares one)"
        return Check("cache", Status.OK, detail)
    version, address = await _redis_version(config.redis_url, config.socket_timeout)
    if "cluster_state" in version and "cluster_state ok" not in version:
        detail = f"Redis {version} at {address}: some hash slots are not served"
        return Check("cache", Status.WARN, detail)
    return Check("cache", Status.OK, f"Redis {version} at {address}")


async def check_broker(
    config: BrokerSettings, within: float, *, management_port: int = MANAGEMENT_PORT
) -> Check:
    url = config.url or "memory://"
    if url.startswith("memory://"):
        detail = (
            "memory:// lives in each process: events a relay publishes are seen by nothing "
            "outside it; set QULAB_BROKER_URL to a real broker"
        )
        return Check("broker", Status.WARN, detail)
    if url.startswith("stdout://"):
        return Check("broker", Status.OK, "stdout://: the relay prints each event")
    if url.startswith(REDIS_SCHEMES):
        version, address = await _redis_version(url, within)
        return Check("broker", Status.OK, f"Redis Streams on Redis {version} at {address}")
    if url.startswith(("amqp://", "amqps://")):
        return await check_rabbitmq(url, config.exchange, within, management_port)
    if url.startswith("nats://"):
        return await check_nats(url, within)
    scheme = url.partition("://")[0] if "://" in url else url
    return Check("broker", Status.MISCONFIGURED, f"unknown broker scheme {scheme!r}")


async def _redis_version(url: str, within: float) -> tuple[str, str]:
    backend = redis_backend(url, socket_timeout=within)
    try:
        info = await backend.server_info()
    finally:
        await backend.close()
    version = info.get("version", "?")
    if "cluster_state" in info:
        version += f" (cluster_state {info['cluster_state']})"
    return version, backend.address


async def check_rabbitmq(
    url: str, exchange: str, within: float, management_port: int = MANAGEMENT_PORT
) -> Check:
    from aiormq import exceptions as amqp_errors

    from qulab.core.amqp import connect_rabbitmq

    where = redact_url(url)
    try:
        connection = await connect_rabbitmq(url, within)
    except (TimeoutError, amqp_errors.AMQPError, OSError) as error:
        raise BrokerUnavailable(f"RabbitMQ at {where}: {redact_text(repr(error), url)}") from None
    try:
        version = f"RabbitMQ {_server_version(connection)}"
        channel = await connection.channel()
        try:
            await channel.get_exchange(exchange, ensure=True)
        except amqp_errors.ChannelNotFoundEntity:
            detail = f"exchange {exchange} does not exist yet, so no queue is bound to it"
            return Check("broker", Status.WARN, f"{version} at {where}; {detail}")
    finally:
        await connection.close()
    bound = await asyncio.to_thread(_bound_queues, url, exchange, within, management_port)
    if bound is None:
        note = f"queue bindings unknown (the management API on port {management_port} is closed)"
        return Check("broker", Status.OK, f"{version} at {where}; {note}")
    if not bound:
        note = f"no queue is bound to exchange {exchange}: events would come back unroutable"
        return Check("broker", Status.WARN, f"{version} at {where}; {note}")
    note = f"{len(bound)} queue(s) bound to {exchange}"
    return Check("broker", Status.OK, f"{version} at {where}; {note}")


def _server_version(connection: Any) -> str:
    transport = connection.transport
    properties = transport.connection.server_properties if transport is not None else {}
    version = properties.get("version", "?")
    return version.decode() if isinstance(version, bytes) else str(version)


def _bound_queues(url: str, exchange: str, within: float, port: int) -> list[str] | None:
    """The queues bound to ``exchange``, from the management API; None if it cannot tell."""
    parts = urlsplit(url)
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    scheme = "https" if parts.scheme == "amqps" else "http"
    api = (
        f"{scheme}://{parts.hostname or 'localhost'}:{port}/api/exchanges/"
        f"{quote(vhost, safe='')}/{quote(exchange, safe='')}/bindings/source"
    )
    login = f"{unquote(parts.username or 'guest')}:{unquote(parts.password or 'guest')}"
    request = urllib.request.Request(  # noqa: S310 - http(s) only, built above
        api, headers={"Authorization": "Basic " + base64.b64encode(login.encode()).decode()}
    )
    try:
        with urllib.request.urlopen(request, timeout=within) as response:  # noqa: S310
            bindings: list[dict[str, Any]] = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return [b["destination"] for b in bindings if b.get("destination_type") == "queue"]


async def check_nats(url: str, within: float) -> Check:
    """A TCP connection and the server's first line, ``INFO {json}``: no client library."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or NATS_PORT
    where = redact_url(url)
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as error:
        raise BrokerUnavailable(f"NATS at {where}: {error.strerror or error!r}") from None
    try:
        async with asyncio.timeout(within):
            line = await reader.readline()
    except (OSError, TimeoutError) as error:
        raise BrokerUnavailable(f"NATS at {where}: no INFO greeting: {error!r}") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    try:
        info = json.loads(line.removeprefix(b"INFO ")) if line.startswith(b"INFO ") else None
    except ValueError:
        info = None
    if not isinstance(info, dict):
        raise BrokerUnavailable(f"NATS at {where}: the server did not greet with INFO")
    streams = "JetStream on" if info.get("jetstream") else "JetStream off"
    return Check("broker", Status.OK, f"NATS {info.get('version', '?')} at {where} ({streams})")
