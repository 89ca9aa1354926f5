"""The Redis backend on a Redis Cluster (``redis+cluster://``): the same scripts and the same
contract as ``redis_backend``, each call sent to the master of its keys' slot.

The cache names an entry and its generation with one hash tag (``{family:ident}``), so the
lookup and the guarded store are one script on one node, as on a single server. An
invalidation of many keys runs the bump script once per slot (concurrently); entries of other
slots are other nodes' business. A node that stops answering fails the calls for its slots
only, as CacheUnavailable: the breaker then sends readers to the database until the node or
its promoted replica answers, and the client learns the new layout on its next call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from qulab.core.cache.backends import Lookup
from qulab.core.cache.lane import Script
from qulab.core.cache.redis_backend import (
    _BUMP_GENERATIONS,
    _FLAWS,
    _LOOKUP,
    _SET_IF_GENERATION,
    RedisBackend,
    _bump_args,
    _ms,
)
from qulab.core.errors import CacheUnavailable
from qulab.core.redis_cluster import by_slot, cluster_client
from qulab.core.urls import redact_text

log = logging.getLogger(__name__)

_BUMP = Script(_BUMP_GENERATIONS)


class RedisClusterBackend(RedisBackend):
    """``RedisBackend`` on a cluster: one RedisCluster client per event loop, no client-side
    retries (the breaker decides), keys hash-tagged by the cache (``hash_tags``)."""

    hash_tags = True

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._cluster: RedisCluster | None = None
        self._cluster_loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> Any:  # a RedisCluster: the same commands, routed by slot
        return self.cluster()

    def cluster(self) -> RedisCluster:
        """The cluster client bound to the running loop (a new loop gets a new client)."""
        loop = asyncio.get_running_loop()
        if self._cluster is None or self._cluster_loop is not loop:
            self._cluster = cluster_client(
                self.url,
                max_connections=self.max_connections,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                retry=Retry(NoBackoff(), 0),
            )
            self._cluster_loop = loop
        return self._cluster

    async def _run(self, what: str, operation: Any) -> Any:
        """Await ``operation`` (a coroutine not started yet) once the client knows the layout.

        The layout is learnt here, by one caller at a time, before any command: redis-py
        learning it inside concurrent commands (the first calls, or the ones after a failover)
        can hand one command a connection another is closing."""
        try:
            await self.cluster().initialize()
            return await operation
        except (RedisError, RedisClusterException, OSError, TimeoutError) as error:
            detail = redact_text(str(error), self.url)
            raise CacheUnavailable(f"redis {self.address} {what}: {detail}") from error
        finally:
            operation.close()  # never started when the layout could not be learnt

    async def get(self, key: str) -> bytes | None:
        await self._run("CLUSTER SLOTS", _nothing())
        return await super().get(key)

    async def _script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """EVALSHA on the master of the keys' slot; EVAL (which also caches the script there)
        when that node does not know it yet, as after a failover."""
        cluster = self.cluster()
        try:
            return await cluster.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await cluster.eval(script.source, len(keys), *keys, *args)

    async def lookup(self, key: str, gen_key: str) -> Lookup:
        script = self._script(_LOOKUP, [key, gen_key], [self.max_value_bytes])
        value, generation = await self._run("EVALSHA", script)
        flaw = None
        if type(value) is int:
            flaw, value = _FLAWS.get(value, "wrong_type"), None
        if type(generation) is int:
            return Lookup(value, None, flaw, True)
        return Lookup(value, generation, flaw)

    async def set_if_generation(
        self, key: str, value: bytes, ttl: float, gen_key: str, generation: bytes | None
    ) -> bool:
        args = [value, generation or b"", _ms(ttl)]
        stored = await self._run("EVALSHA", self._script(_SET_IF_GENERATION, [key, gen_key], args))
        return bool(stored)

    async def bump_generations(
        self,
        gen_keys: Sequence[str],
        drop_keys: Sequence[str],
        gen_ttl: float,
        *,
        floor: int | None = None,
    ) -> None:
        """The bump script once per slot, all slots at once; any that fails fails the call (the
        cache keeps every key pending, and bumping a generation twice is harmless). ``floor``
        is the invalidating commit's WAL position, kept with each new generation."""
        generations, drops = by_slot(list(gen_keys)), by_slot(list(drop_keys))
        plan = []
        for slot in sorted(generations.keys() | drops.keys()):
            bumped, dropped = generations.get(slot, []), drops.get(slot, [])
            plan.append(([*bumped, *dropped], _bump_args(gen_ttl, len(bumped), floor)))
        await self._run("EVALSHA", self._bump_each(plan))

    async def _bump_each(self, plan: list[tuple[list[str], list[Any]]]) -> None:
        await _all([self._script(_BUMP, keys, args) for keys, args in plan])

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        values = await self._run("MGET", self.cluster().mget_nonatomic(list(keys)))
        return list(values)

    async def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        return int(await self._run("DEL", self._delete_each(by_slot(list(keys)))))

    async def _delete_each(self, groups: dict[int, list[str]]) -> int:
        cluster = self.cluster()
        return sum(await _all([cluster.delete(*group) for group in groups.values()]))

    async def add_counters(self, key: str, deltas: Mapping[str, int]) -> None:
        def fill(pipe: Any) -> None:
            for name, delta in deltas.items():
                pipe.hincrby(key, name, delta)

        await self._run("HINCRBY", self._pipelined(fill))

    async def push_samples(self, key: str, samples: Sequence[float], cap: int) -> None:
        if not samples:
            return

        def fill(pipe: Any) -> None:
            pipe.rpush(key, *(f"{s:.9f}" for s in samples))
            pipe.ltrim(key, -cap, -1)

        await self._run("RPUSH", self._pipelined(fill))

    async def _pipelined(self, fill: Callable[[Any], None]) -> list[Any]:
        """One pipeline (commands on one key here, so one node), run inside ``_run``."""
        async with self.cluster().pipeline(transaction=False) as pipe:
            fill(pipe)
            result: list[Any] = await pipe.execute()
            return result

    async def server_info(self) -> dict[str, str]:
        """The version of a node that answers, and the cluster's state (``ok`` when every slot
        is served)."""
        cluster = self.cluster()
        info = await self._run("INFO", cluster.info("server", target_nodes=RedisCluster.RANDOM))
        state = await self._run("CLUSTER INFO", cluster.cluster_info(RedisCluster.RANDOM))
        if isinstance(info, dict) and "redis_version" not in info:
            info = next(iter(info.values()), {})  # keyed by node
        return {
            "version": str(info.get("redis_version", "?")),
            "cluster_state": str(state.get("cluster_state", "?")),
        }

    async def close(self) -> None:
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            try:
                await cluster.aclose()
            except (RedisError, OSError, RuntimeError) as error:
                log.debug("closing the redis cluster client failed: %s", error)
        await super().close()


async def _nothing() -> None:
    return None


async def _all(calls: list[Any]) -> list[Any]:
    """Await every call; the first error is raised once all have ended (none is left running)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
