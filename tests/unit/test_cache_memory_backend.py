from __future__ import annotations

from qulab.core.cache import MemoryBackend
from tests.cache_support import ManualClock


async def test_entries_expire_after_their_own_ttl() -> None:
    clock = ManualClock()
    backend = MemoryBackend(10, clock=clock)
    await backend.set("short", b"1", 5)
    await backend.set("long", b"2", 50)
    clock.advance(6)
    assert await backend.get_many(["short", "long"]) == [None, b"2"]


async def test_least_recently_used_entry_is_evicted_beyond_max_entries() -> None:
    backend = MemoryBackend(2)
    await backend.set("a", b"a", 60)
    await backend.set("b", b"b", 60)
    await backend.get_many(["a"])  # a is now more recent than b
    await backend.set("c", b"c", 60)
    assert await backend.get_many(["a", "b", "c"]) == [b"a", None, b"c"]
    assert len(backend) == 2


async def test_store_is_refused_once_the_generation_moved() -> None:
    backend = MemoryBackend(10)
    seen = await backend.get_generation("gen:k")
    await backend.bump_generations(["gen:k"], ["k"], 60)
    assert not await backend.set_if_generation("k", b"old", 60, "gen:k", seen)
    assert await backend.get_many(["k"]) == [None]


async def test_evicted_generation_cannot_let_a_stale_store_through() -> None:
    backend = MemoryBackend(2)
    seen = await backend.get_generation("gen:k")  # never bumped: None
    await backend.bump_generations(["gen:k"], [], 60)
    await backend.bump_generations(["gen:x", "gen:y"], [], 60)  # evicts gen:k
    assert not await backend.set_if_generation("k", b"old", 60, "gen:k", seen)
