"""The read-through cache: lookups, stores guarded by generations, single-flight, invalidation
after commit, fail-open behind a circuit breaker, statistics and a status readout.

A read never fails because of the cache: when the backend cannot be reached (or the breaker is
open) the value comes from the database and the outcome says BYPASS. An entry that is unusable
(another Redis type, above the size limit) is a miss for its key alone. Invalidations that
could not be delivered are retried by a background task until the backend takes them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from qulab.adapters.cache import codec
from qulab.adapters.cache.backends import CacheBackend, MemoryBackend, RedisBackend
from qulab.adapters.cache.breaker import BreakerState, CircuitBreaker
from qulab.adapters.cache.stats import FamilyRecorder, StatsSnapshot, summarise
from qulab.adapters.recorders import NO_CACHE_METRICS, CacheRecorder
from qulab.config import Settings
from qulab.domain.bus import MessageBus
from qulab.domain.errors import CacheUnavailable, UnusableEntry
from qulab.domain.events import Event
from qulab.domain.schemas import ScoreRead, UserRead

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
FLIGHT_LINGER_SECONDS = 1.0
RETRY_TASK_NAME = "qulab cache: retry deferred invalidations"


class Outcome(StrEnum):
    HIT = "HIT"
    MISS = "MISS"
    BYPASS = "BYPASS"  # the cache was unavailable; the database answered


@dataclass(frozen=True)
class Family(Generic[M]):
    """A kind of cached value: ``user:{id}`` or ``latest_airscore:{user_id}``."""

    name: str
    model: type[M]
    ttl: float


@dataclass(frozen=True)
class CacheResult(Generic[M]):
    value: M | None
    outcome: Outcome
    seconds: float
    key: str


@dataclass(frozen=True)
class CacheStatus:
    backend: str
    address: str
    prefix: str
    connected: bool
    server_version: str | None
    breaker_state: str
    consecutive_failures: int
    last_error: str | None
    shared_stats: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Cache:
    def __init__(
        self,
        backend: CacheBackend,
        *,
        prefix: str = "qulab:",
        user_ttl: float = 3600,
        score_ttl: float = 300,
        jitter: float = 0.1,
        negative_ttl: float = 0,
        breaker: CircuitBreaker | None = None,
        rng: random.Random | None = None,
        metrics: CacheRecorder | None = None,
    ) -> None:
        if not prefix:
            raise ValueError("the cache prefix must not be empty")
        self.backend = backend
        self.prefix = prefix
        self.jitter = jitter
        self.negative_ttl = negative_ttl
        self.breaker = breaker or CircuitBreaker(f"cache {backend.kind}")
        # Where reads, errors and invalidations are reported for metrics (nowhere by default).
        self.metrics: CacheRecorder = metrics or NO_CACHE_METRICS
        self.users: Family[UserRead] = Family("user", UserRead, user_ttl)
        self.scores: Family[ScoreRead] = Family("latest_airscore", ScoreRead, score_ttl)
        self.families: tuple[Family[Any], ...] = (self.users, self.scores)
        # Generations must outlive every value written under them (see backends).
        self.generation_ttl = max(86_400.0, 4 * max(user_ttl, score_ttl))
        self._rng = rng or random.Random()
        self._recorders = {family.name: FamilyRecorder() for family in self.families}
        self._flights: dict[str, dict[bytes | None, asyncio.Future[Any]]] = {}
        self._pending_invalidation: set[str] = set()
        self._retry_task: asyncio.Task[None] | None = None

    # -- keys ---------------------------------------------------------------------------------

    def key(self, family: Family[Any], ident: str) -> str:
        return f"{self.prefix}{family.name}:{ident}"

    def generation_key(self, key: str) -> str:
        return f"{self.prefix}gen:{key.removeprefix(self.prefix)}"

    def user_keys(self, user_id: str) -> list[str]:
        return [self.key(family, user_id) for family in self.families]

    def _family_of(self, key: str) -> str:
        name = key.removeprefix(self.prefix).removeprefix("gen:").partition(":")[0]
        return name if name in self._recorders else self.users.name

    # -- reads --------------------------------------------------------------------------------

    async def read_through(
        self, family: Family[M], ident: str, load: Callable[[], Awaitable[M | None]]
    ) -> CacheResult[M]:
        """Serve ``family:ident`` from the cache, or load it once from the database and store it
        if no invalidation happened meanwhile."""
        started = time.perf_counter()
        recorder = self._recorders[family.name]
        key, gen_key = self.key(family, ident), self.generation_key(self.key(family, ident))
        available, raw, unusable = await self._call(self.backend.get, key)
        if raw is not None:
            state, value = codec.decode(family.model, raw)
            if state is not codec.Decoded.INVALID:
                if state is codec.Decoded.ABSENT:
                    recorder.count("negative_hits")
                elapsed = time.perf_counter() - started
                recorder.hit(elapsed)
                self.metrics.read(family.name, Outcome.HIT, elapsed)
                return CacheResult(value, Outcome.HIT, elapsed, key)
            recorder.count("corrupt")
        generation = None
        if available:
            # Read before the database load: an invalidation after this point moves it on.
            available, generation, broken = await self._call(self.backend.get_generation, gen_key)
            if broken:
                available, generation, _ = await self._call(self._reset_generation, gen_key)
        if not available:
            recorder.count("bypassed")
        # Looking again at an entry known to be unusable would only fetch it a second time.
        recheck = available and not unusable
        value = await self._load_once(family, key, gen_key, generation, available, recheck, load)
        elapsed = time.perf_counter() - started
        recorder.miss(elapsed)
        outcome = Outcome.MISS if available else Outcome.BYPASS
        self.metrics.read(family.name, outcome, elapsed)
        return CacheResult(value, outcome, elapsed, key)

    async def _call(
        self, operation: Callable[[str], Awaitable[bytes | None]], key: str
    ) -> tuple[bool, bytes | None, bool]:
        """One read through the breaker, deferred invalidations first: (reachable, value,
        unusable). An unusable entry is this key's problem, not the backend's: it reads as a
        miss, is counted under its reason, and is no breaker failure."""
        if not self.breaker.allow():
            return False, None, False
        try:
            if self._pending_invalidation:
                await self._replay_invalidations()
            value = await operation(key)
        except CacheUnavailable as error:
            self._failed(key, error)
            return False, None, False
        except UnusableEntry as unusable:
            self._recorders[self._family_of(key)].count(unusable.reason)
            log.debug("cache entry unusable, read as a miss: %s", unusable)
            self.breaker.record_success()
            return True, None, True
        self.breaker.record_success()
        return True, value, False

    async def _reset_generation(self, gen_key: str) -> bytes | None:
        """Replace a generation key that is not a counter (as an invalidation of its key would)
        and return the new generation, so this load can be stored."""
        key = self.prefix + gen_key.removeprefix(self.prefix).removeprefix("gen:")
        await self.backend.bump_generations([gen_key], [key], self.generation_ttl)
        return await self.backend.get_generation(gen_key)

    async def _load_once(
        self,
        family: Family[M],
        key: str,
        gen_key: str,
        generation: bytes | None,
        available: bool,
        recheck: bool,
        load: Callable[[], Awaitable[M | None]],
    ) -> M | None:
        """Single-flight: concurrent misses of one key (and generation) in this process share one
        database load. An invalidation drops the flight, so later readers load afresh."""
        while True:
            flights = self._flights.setdefault(key, {})
            running = flights.get(generation)
            if running is None:
                break
            self._recorders[family.name].count("coalesced")
            try:
                result: M | None = await asyncio.shield(running)
                return result
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # we were cancelled, not the loader: retry only in the latter case
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        future.add_done_callback(_retrieve)
        flights[generation] = future
        try:
            found, value = await self._recheck(family, key) if recheck else (False, None)
            if found:
                # Another flight stored it between this reader's lookup and now.
                future.set_result(value)
                self._end_flight(key, generation, future)
                return value
            value = await load()
        except BaseException as error:
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(error)
            self._end_flight(key, generation, future)
            raise
        future.set_result(value)
        cacheable = value is not None or self.negative_ttl > 0
        if not (available and cacheable):
            self._end_flight(key, generation, future)
            return value
        # A reader whose lookup missed just before the store lands may ask for the generation
        # after it: it joins this finished flight (same key, same generation, so as good as the
        # stored entry) instead of loading again. An invalidation drops the flight at once.
        loop.call_later(FLIGHT_LINGER_SECONDS, self._end_flight, key, generation, future)
        await self._store(family, key, gen_key, generation, value)
        return value

    async def _recheck(self, family: Family[M], key: str) -> tuple[bool, M | None]:
        """Look once more before loading: a reader that missed just before another flight's
        store landed (and after that flight ended) finds the fresh entry instead of loading."""
        available, raw, _ = await self._call(self.backend.get, key)
        if not available or raw is None:
            return False, None
        state, value = codec.decode(family.model, raw)
        if state is codec.Decoded.INVALID:
            return False, None
        return True, value

    def _end_flight(self, key: str, generation: bytes | None, future: asyncio.Future[Any]) -> None:
        flights = self._flights.get(key)
        if flights is not None and flights.get(generation) is future:
            del flights[generation]
            if not flights:
                del self._flights[key]

    async def _store(
        self,
        family: Family[M],
        key: str,
        gen_key: str,
        generation: bytes | None,
        value: M | None,
    ) -> None:
        ttl = family.ttl if value is not None else self.negative_ttl
        ttl *= self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        raw = codec.encode(family.model, value)
        too_large = len(raw) > self.backend.max_value_bytes
        if not self.breaker.allow():
            return
        try:
            if too_large:
                # Not cached; drop whatever is there so no reader keeps fetching an oversize entry.
                self._recorders[family.name].count("too_large")
                await self.backend.delete([key])
                stored = False
            else:
                stored = await self.backend.set_if_generation(key, raw, ttl, gen_key, generation)
        except CacheUnavailable as error:
            self._failed(key, error)
            return
        self.breaker.record_success()
        if stored:
            self._recorders[family.name].count("sets")
        elif not too_large:
            log.debug("not storing %s: invalidated while it was loaded", key)

    # -- invalidation -------------------------------------------------------------------------

    @property
    def pending_invalidations(self) -> frozenset[str]:
        """Keys whose invalidation has not reached the backend yet (it was unreachable)."""
        return frozenset(self._pending_invalidation)

    async def invalidate_user(self, user_id: str) -> None:
        await self.invalidate_users([user_id])

    async def invalidate_users(self, user_ids: Iterable[str]) -> None:
        """Bump the generations of every key of these users and drop the entries. When the
        backend is unreachable the keys are remembered and invalidated before the next read
        that reaches it."""
        keys = [key for user_id in sorted(set(user_ids)) for key in self.user_keys(user_id)]
        if not keys:
            return
        for key in keys:
            self._flights.pop(key, None)
            self._recorders[self._family_of(key)].count("invalidations")
        self._pending_invalidation.update(keys)
        if self.breaker.allow():
            try:
                await self._replay_invalidations()
            except CacheUnavailable as error:
                self._failed(keys[0], error)
            else:
                self.breaker.record_success()
        if self._pending_invalidation:
            log.warning(
                "cache unreachable: invalidation of %d key(s) deferred until it answers",
                len(self._pending_invalidation),
            )
            self._schedule_retry()

    def _schedule_retry(self) -> None:
        """Keep one task on the running loop retrying deferred invalidations, so a process that
        never reads again still delivers them once the backend answers."""
        loop = asyncio.get_running_loop()
        task = self._retry_task
        if task is None or task.done() or task.get_loop() is not loop:
            self._retry_task = loop.create_task(self._retry_invalidations(), name=RETRY_TASK_NAME)

    async def _retry_invalidations(self) -> None:
        """Retry on the breaker's schedule: as soon as it lets a trial call through when open,
        every reset period while it is still closed. Ends when nothing is pending."""
        while self._pending_invalidation:
            await asyncio.sleep(self._retry_delay())
            if not self._pending_invalidation or not self.breaker.allow():
                continue
            try:
                await self._replay_invalidations()
            except CacheUnavailable as error:
                self._failed(min(self._pending_invalidation, default=""), error)
            else:
                self.breaker.record_success()
                log.info("deferred cache invalidations delivered")

    def _retry_delay(self) -> float:
        if self.breaker.state is BreakerState.CLOSED:
            return self.breaker.reset_seconds
        return max(self.breaker.seconds_until_probe(), 0.01)

    async def _replay_invalidations(self) -> None:
        keys = sorted(self._pending_invalidation)
        gen_keys = [self.generation_key(key) for key in keys]
        started = time.perf_counter()
        await self.backend.bump_generations(gen_keys, keys, self.generation_ttl)
        self.metrics.invalidation(len(keys), time.perf_counter() - started)
        self._pending_invalidation.difference_update(keys)

    async def invalidate_events(self, events: Sequence[Event]) -> None:
        """The bus handler: invalidate every user these events affect, in one round. It is
        idempotent (a generation bump), so the relay may apply it again to what it publishes."""
        await self.invalidate_users(user for event in events for user in event.affected_users)

    def subscribe(self, bus: MessageBus) -> None:
        """Invalidate after every commit on ``bus`` (never on rollback). A shared cache is also
        repaired by the relay after each published batch; an in-process one only ever holds this
        process's reads, which its own commits already invalidated."""
        bus.subscribe(Event, self.invalidate_events, durable=self.backend.shared)

    def unsubscribe(self, bus: MessageBus) -> None:
        bus.unsubscribe(self.invalidate_events)

    # -- failures, status, statistics ---------------------------------------------------------

    def _failed(self, key: str, error: CacheUnavailable) -> None:
        family = self._family_of(key)
        self._recorders[family].count("errors")
        self.metrics.error(family)
        self.breaker.record_failure(error)
        log.debug("cache call failed: %s", error)

    async def status(self) -> CacheStatus:
        """Probe the backend now (not through the breaker) and describe it."""
        version: str | None = None
        connected = True
        try:
            version = (await self.backend.server_info()).get("version")
        except CacheUnavailable as error:
            connected = False
            log.debug("cache status probe failed: %s", error)
        return CacheStatus(
            backend=self.backend.kind,
            address=self.backend.address,
            prefix=self.prefix,
            connected=connected,
            server_version=version,
            breaker_state=str(self.breaker.state),
            consecutive_failures=self.breaker.consecutive_failures,
            last_error=self.breaker.last_error,
            shared_stats=self.backend.shared,
        )

    def _stats_key(self, family: str, part: str = "") -> str:
        return f"{self.prefix}stats:{family}{part}"

    async def flush_stats(self) -> bool:
        """Push this process's new counts and samples to the backend; False if unreachable
        (they are kept and pushed next time)."""
        for name, recorder in self._recorders.items():
            counters, hits, misses = recorder.take_pending()
            try:
                if counters:
                    await self.backend.add_counters(self._stats_key(name), counters)
                await self.backend.push_samples(self._stats_key(name, ":hit_s"), hits, 2048)
                await self.backend.push_samples(self._stats_key(name, ":miss_s"), misses, 2048)
            except CacheUnavailable as error:
                for counter, n in counters.items():
                    recorder.pending[counter] = recorder.pending.get(counter, 0) + n
                recorder.pending_hits[:0] = hits
                recorder.pending_misses[:0] = misses
                log.debug("cache statistics not flushed: %s", error)
                return False
        return True

    async def stats(self) -> StatsSnapshot:
        """Shared statistics (every process, from Redis) when the backend is shared and
        reachable; otherwise this process's own."""
        if self.backend.shared and await self.flush_stats():
            try:
                families = {
                    name: summarise(
                        name,
                        await self.backend.read_counters(self._stats_key(name)),
                        await self.backend.read_samples(self._stats_key(name, ":hit_s")),
                        await self.backend.read_samples(self._stats_key(name, ":miss_s")),
                    )
                    for name in self._recorders
                }
                return self._snapshot(f"shared ({self.backend.address})", families)
            except CacheUnavailable as error:
                log.debug("shared statistics unavailable: %s", error)
        families = {
            name: summarise(name, rec.counters, rec.hit_seconds, rec.miss_seconds)
            for name, rec in self._recorders.items()
        }
        return self._snapshot("this process only", families)

    def _snapshot(self, scope: str, families: dict[str, Any]) -> StatsSnapshot:
        return StatsSnapshot(scope, families, str(self.breaker.state), self.breaker.rejected)

    async def reset_stats(self) -> None:
        for recorder in self._recorders.values():
            recorder.reset()
        keys = [
            self._stats_key(name, part)
            for name in self._recorders
            for part in ("", ":hit_s", ":miss_s")
        ]
        try:
            await self.backend.clear_stats(keys)
        except CacheUnavailable as error:
            log.debug("shared statistics not reset: %s", error)

    async def close(self) -> None:
        task, self._retry_task = self._retry_task, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            await asyncio.wait([task])
        if self.backend.shared and self.breaker.allow():
            await self.flush_stats()
        if self._pending_invalidation:
            log.warning(
                "closing with %d cache key(s) not invalidated (backend unreachable); "
                "they expire within their TTL",
                len(self._pending_invalidation),
            )
        await self.backend.close()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a flight's exception as seen: the followers (if any) re-raise it themselves."""
    if not future.cancelled():
        future.exception()


def build_cache(settings: Settings) -> Cache:
    """Redis when ``QULAB_REDIS_URL`` is set, the in-process store otherwise."""
    config = settings.cache
    backend: CacheBackend
    if config.redis_url:
        backend = RedisBackend(
            config.redis_url,
            socket_timeout=config.socket_timeout,
            max_value_bytes=config.max_value_bytes,
        )
    else:
        backend = MemoryBackend(config.max_entries, max_value_bytes=config.max_value_bytes)
    return Cache(
        backend,
        prefix=config.prefix,
        user_ttl=config.user_ttl,
        score_ttl=config.score_ttl,
        jitter=config.ttl_jitter,
        negative_ttl=config.negative_ttl,
        breaker=CircuitBreaker(
            f"cache {backend.kind}",
            failure_threshold=config.breaker_failure_threshold,
            reset_seconds=config.breaker_reset_seconds,
        ),
    )
