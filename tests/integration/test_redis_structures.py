"""What is in Redis: keys made by a real cache read and a real relay publish appear with their
TYPE and encoding, streams with their consumer groups, the invalidation channel with its
subscribers; nothing outside QuLab's prefixes is listed. And the same view of the embedded
default."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from qulab.core.cache.backends import MemoryBackend
from qulab.core.db import Database
from qulab.core.outbox import RedisStreamsPublisher, memory_broker, publish_pending
from qulab.lab.redis_structures import memory_view, redis_view
from qulab.platform.cache import invalidate_user, read_user_cached
from tests import services
from tests.cache_support import delete_prefix, make_cache, new_prefix
from tests.service_calls import create_user


@pytest.fixture
async def prefixes(redis_url: str) -> AsyncIterator[tuple[str, str, str]]:
    """A cache prefix, a stream prefix and a prefix QuLab is not told about; all removed."""
    made = (new_prefix(), new_prefix(), new_prefix())
    yield made
    for prefix in made:
        await delete_prefix(redis_url, prefix)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_cache_entries_generations_streams_groups_and_channel_on_real_redis(
    db: Database, prefixes: tuple[str, str, str]
) -> None:
    cache_prefix, stream_prefix, foreign = prefixes
    cache = make_cache("redis", cache_prefix)
    user = await create_user(db, email="ada@example.com", name="Ada")
    client = Redis.from_url(services.REDIS_URL, decode_responses=True)
    listener = client.pubsub()
    try:
        await read_user_cached(db, cache, user.id)  # miss: stores user:{id}
        await invalidate_user(cache, user.id)  # bumps gen:user:{id}
        await read_user_cached(db, cache, user.id)  # stored again
        await cache.flush_stats()
        sender = RedisStreamsPublisher(services.REDIS_URL, prefix=stream_prefix, timeout=2.0)
        try:
            result = await publish_pending(db, sender)
        finally:
            await sender.close()
        assert result.published >= 1
        stream = f"{stream_prefix}outbox.event.User"
        await client.xgroup_create(stream, "score-summary", id="0")
        await client.set(f"{foreign}user:{user.id}", "not QuLab's")
        await listener.subscribe(f"{cache_prefix}two-tier:invalidations")

        view = await redis_view(services.REDIS_URL, cache_prefix, stream_prefix)
    finally:
        await listener.aclose()
        await client.aclose()
        await cache.close()

    by_key = {thing.key: thing for thing in view.things}
    entry = by_key[f"{cache_prefix}user:{user.id}"]
    assert (entry.role, entry.redis_type) == ("entry", "string")
    assert entry.encoding in {"embstr", "raw"}
    assert entry.ttl_s is not None and 0 < entry.ttl_s <= 2 * 3600
    assert entry.memory_bytes is not None and entry.memory_bytes > 0
    generation = by_key[f"{cache_prefix}gen:user:{user.id}"]
    assert (generation.role, generation.redis_type, generation.encoding) == (
        "generation",
        "string",
        "int",
    )
    counters = [t for t in view.of_role("counters")]
    assert counters and all(t.redis_type == "hash" for t in counters)
    assert all(t.redis_type == "list" for t in view.of_role("samples"))
    streamed = by_key[stream]
    assert (streamed.role, streamed.redis_type, streamed.encoding) == ("stream", "stream", "stream")
    assert streamed.length == result.published
    assert [(g.name, g.consumers) for g in streamed.groups] == [("score-summary", 0)]
    channel = by_key[f"{cache_prefix}two-tier:invalidations"]
    assert (channel.redis_type, channel.subscribers) == ("pub/sub channel", 1)
    assert all(key.startswith((cache_prefix, stream_prefix)) for key in by_key)
    assert not any(key.startswith(foreign) for key in by_key)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_scan_is_bounded(db: Database, prefixes: tuple[str, str, str]) -> None:
    cache_prefix, stream_prefix, _ = prefixes
    client = Redis.from_url(services.REDIS_URL)
    try:
        await client.mset({f"{cache_prefix}user:{n}": b"{}" for n in range(12)})
        view = await redis_view(services.REDIS_URL, cache_prefix, stream_prefix, limit=5)
    finally:
        await client.aclose()
    assert view.truncated
    assert len(view.of_role("entry")) == 5


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_embedded_default_says_which_redis_structure_each_thing_would_be(
    db: Database,
) -> None:
    cache = make_cache("memory", "qulab:")
    backend = cache.backend
    assert isinstance(backend, MemoryBackend)
    user = await create_user(db, email="grace@example.com", name="Grace")
    broker = memory_broker(services.unique_name("structures"))
    await read_user_cached(db, cache, user.id)
    await invalidate_user(cache, user.id)
    await read_user_cached(db, cache, user.id)
    result = await publish_pending(db, broker)

    view = memory_view(backend, broker, "qulab:")

    assert view.backend == "in-process"
    by_key = {thing.key: thing for thing in view.things}
    entry = by_key[f"qulab:user:{user.id}"]
    assert (entry.role, entry.redis_type) == ("entry", "string")
    assert entry.ttl_s is not None and entry.ttl_s > 0
    assert by_key[f"qulab:gen:user:{user.id}"].redis_type == "string"
    stream = by_key["outbox.event.User"]
    assert (stream.redis_type, stream.length) == ("stream", result.published)
    assert by_key["qulab:two-tier:invalidations"].redis_type == "pub/sub channel"
