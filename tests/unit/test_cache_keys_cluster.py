"""Keys on a Redis Cluster: an entry and its generation carry one hash tag, so they share a
slot; on a single server the keys stay exactly ``{prefix}{family}:{id}``."""

from __future__ import annotations

import pytest

from qulab.core.cache import Cache, MemoryBackend
from qulab.core.cache.redis_backend import RedisBackend, redis_backend
from qulab.core.cache.redis_cluster_backend import RedisClusterBackend
from qulab.core.redis_cluster import by_slot, slot_of
from qulab.platform.cache import user_family
from tests.cache_support import FAMILIES

CLUSTER_URL = "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"


def test_a_cluster_url_gets_the_cluster_backend_and_a_plain_one_the_single_server_backend() -> None:
    assert type(redis_backend(CLUSTER_URL)) is RedisClusterBackend
    assert type(redis_backend("redis://127.0.0.1:6379/0")) is RedisBackend


def test_single_server_keys_are_unchanged() -> None:
    cache = Cache(RedisBackend("redis://127.0.0.1:6379/0"), families=FAMILIES, prefix="qulab:")
    key = cache.key(user_family(cache), "42")
    assert (key, cache.generation_key(key)) == ("qulab:user:42", "qulab:gen:user:42")
    assert cache.keys_of("42") == ["qulab:user:42", "qulab:latest_airscore:42"]


@pytest.mark.parametrize("ident", ["42", "a}b", "{x}", "ünï"])
def test_on_a_cluster_an_entry_and_its_generation_share_a_slot(ident: str) -> None:
    cache = Cache(RedisClusterBackend(CLUSTER_URL), families=FAMILIES, prefix="qulab:")
    key = cache.key(user_family(cache), ident)
    assert key == f"qulab:{{user:{ident}}}"
    assert cache.generation_key(key) == f"qulab:gen:{{user:{ident}}}"
    assert slot_of(key) == slot_of(cache.generation_key(key))


def test_a_cluster_refuses_a_prefix_with_braces() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        Cache(RedisClusterBackend(CLUSTER_URL), families=FAMILIES, prefix="{app}:")
    single = Cache(MemoryBackend(10), families=FAMILIES, prefix="{app}:")
    assert single.key(user_family(single), "1") == "{app}:user:1"


def test_keys_are_grouped_by_slot_in_their_order() -> None:
    keys = ["q:{user:1}", "q:gen:{user:1}", "q:{user:2}", "q:{latest_airscore:1}"]
    groups = by_slot(keys)
    assert groups[slot_of("q:{user:1}")] == ["q:{user:1}", "q:gen:{user:1}"]
    assert sorted(key for group in groups.values() for key in group) == sorted(keys)
    assert slot_of("foo") == slot_of("{foo}bar") == 12182  # as CLUSTER KEYSLOT says
