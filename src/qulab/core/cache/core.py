"""The read-through cache: lookups, stores guarded by generations, single-flight, invalidation
after commit, fail-open behind a circuit breaker, statistics and a status readout.

A read never fails because of the cache: when the backend cannot be reached (or the breaker is
open) the value comes from the database and the outcome says BYPASS. An entry that is unusable
(another Redis type, above the size limit) is a miss for its key alone. Invalidations that
could not be delivered are retried by a background task until the backend takes them.

A hit costs one backend call (the entry and its generation read together), a miss two (that
lookup and a store guarded by the generation). Concurrent readers of one key share lookups, each
sent after its readers arrived, and one database load per generation (single flight): a stampede
costs one load and a few calls, and no reader is handed a value loaded before an invalidation
it had already seen.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from time import perf_counter
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel

from qulab.core import consistency, tracing
from qulab.core.bus import MessageBus
from qulab.core.cache import codec
from qulab.core.cache.backends import CacheBackend, Lookup, MemoryBackend
from qulab.core.cache.breaker import BreakerState, CircuitBreaker
from qulab.core.cache.sharing import ABANDONED, Abandoned, Shared
from qulab.core.cache.stats import FamilyRecorder, StatsSnapshot, summarise
from qulab.core.cache.traced import TracedBackend
from qulab.core.config import Settings
from qulab.core.errors import CacheUnavailable
from qulab.core.events import Event
from qulab.core.recorders import NO_CACHE_METRICS, CacheRecorder

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
FLIGHT_LINGER_SECONDS = 1.0
RETRY_TASK_NAME = "qulab cache: retry deferred invalidations"
DECODED_MEMO_SIZE = 4096


class Outcome(StrEnum):
    HIT = "HIT"
    MISS = "MISS"
    BYPASS = "BYPASS"  # the cache was unavailable; the database answered


Stale = Callable[[Any], Iterable[str]]
"""Given an event, the idents of a family's entries it makes stale."""


@dataclass(frozen=True)
class Family(Generic[M]):
    """A kind of cached value, stored under ``{prefix}{name}:{ident}``: a frozen read model,
    how long an entry lives, and which events make which entries stale.

    ``invalidated_by`` maps an event class (its subclasses match too) to a function naming the
    idents that event invalidates; after each commit, and again after the relay publishes, the
    cache invalidates them all in one round. ``removed_by`` names, the same way, the idents an
    event removes for good (a deleted row): their generations need not outlive a load, so
    they expire with the entries they guard (``ttl``) rather than living for a day.
    """

    name: str
    model: type[M]
    ttl: float
    invalidated_by: Mapping[type[Event], Stale] = field(default_factory=dict)
    removed_by: Mapping[type[Event], Stale] = field(default_factory=dict)

    def stale(self, event: Event) -> Iterable[str]:
        """The idents of this family ``event`` makes stale (none when no class matches)."""
        for kind, idents in self.invalidated_by.items():
            if isinstance(event, kind):
                yield from idents(event)

    def removed(self, event: Event) -> Iterable[str]:
        """The idents of this family ``event`` removes for good."""
        for kind, idents in self.removed_by.items():
            if isinstance(event, kind):
                yield from idents(event)


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
        families: Sequence[Family[Any]] = (),
        prefix: str = "qulab:",
        jitter: float = 0.1,
        negative_ttl: float = 0,
        breaker: CircuitBreaker | None = None,
        rng: random.Random | None = None,
        metrics: CacheRecorder | None = None,
    ) -> None:
        if not prefix:
            raise ValueError("the cache prefix must not be empty")
        # On a Redis Cluster an entry and its generation carry one hash tag, ``{family:ident}``,
        # so the scripts that read or guard them touch one slot; a brace in the prefix would
        # become the tag instead (or split it), so it is refused there.
        self.hash_tags = bool(getattr(backend, "hash_tags", False))
        if self.hash_tags and ("{" in prefix or "}" in prefix):
            raise ValueError("on a Redis Cluster the cache prefix must not contain { or }")
        self.backend = backend
        self.prefix = prefix
        self.jitter = jitter
        self.negative_ttl = negative_ttl
        self.breaker = breaker or CircuitBreaker(f"cache {backend.kind}")
        # Where reads, errors and invalidations are reported for metrics (nowhere by default).
        self.metrics: CacheRecorder = metrics or NO_CACHE_METRICS
        names = [family.name for family in families]
        if len(set(names)) != len(names):
            raise ValueError(f"two cache families share a name: {sorted(names)}")
        self.families: tuple[Family[Any], ...] = tuple(families)
        # Generations must outlive every value written under them (see backends).
        self.generation_ttl = max(86_400.0, 4 * max((f.ttl for f in families), default=0.0))
        self._rng = rng or random.Random()
        self._recorders = {family.name: FamilyRecorder() for family in self.families}
        self._flights: dict[str, dict[bytes | None, Shared[Any]]] = {}
        self._reads: dict[str, _Reading] = {}
        self._follow_ups: set[asyncio.Task[None]] = set()
        self._decoded: dict[str, tuple[bytes, Any]] = {}
        # Keys whose invalidation has not reached the backend, with their generations' TTL,
        # and the consistency floor (a WAL position) each invalidation carries, if any.
        self._pending_invalidation: dict[str, float] = {}
        self._pending_floor: dict[str, int] = {}
        self._retry_task: asyncio.Task[None] | None = None

    # -- keys ---------------------------------------------------------------------------------

    def family(self, name: str, model: type[M]) -> Family[M]:
        """The declared family ``name``, whose values are ``model`` read models."""
        for family in self.families:
            if family.name == name:
                if family.model is not model:
                    raise TypeError(f"cache family {name!r} holds {family.model.__name__}")
                return family
        raise KeyError(f"no cache family {name!r} is declared (known: {self._names()})")

    def _names(self) -> str:
        return ", ".join(family.name for family in self.families) or "none"

    def key(self, family: Family[Any], ident: str) -> str:
        """``{prefix}{family}:{ident}``; on a Redis Cluster ``{prefix}{{family}:{ident}}``."""
        if self.hash_tags:
            return f"{self.prefix}{{{family.name}:{ident}}}"
        return f"{self.prefix}{family.name}:{ident}"

    def generation_key(self, key: str) -> str:
        return f"{self.prefix}gen:{key.removeprefix(self.prefix)}"

    def keys_of(self, ident: str) -> list[str]:
        """The key of ``ident`` in every family (for families keyed by the same ids)."""
        return [self.key(family, ident) for family in self.families]

    def _recorder(self, name: str) -> FamilyRecorder:
        recorder = self._recorders.get(name)
        if recorder is None:
            # A family used without being declared: counted from its first use.
            recorder = self._recorders[name] = FamilyRecorder()
        return recorder

    def _family_of(self, key: str) -> str:
        name = key.removeprefix(self.prefix).removeprefix("gen:").partition(":")[0]
        return name.removeprefix("{")

    # -- reads --------------------------------------------------------------------------------

    async def read_through(
        self, family: Family[M], ident: str, load: Callable[[], Awaitable[M | None]]
    ) -> CacheResult[M]:
        """Serve ``family:ident`` from the cache, or load it once from the database and store it
        if no invalidation happened meanwhile."""
        started = perf_counter()
        if self.hash_tags:
            key = f"{self.prefix}{{{family.name}:{ident}}}"
            gen_key = f"{self.prefix}gen:{{{family.name}:{ident}}}"
        else:
            key = f"{self.prefix}{family.name}:{ident}"
            gen_key = f"{self.prefix}gen:{family.name}:{ident}"
        reading = self._reads.get(key)
        if reading is None:
            found = await self._lookup(key, gen_key)
        else:
            shared = await reading.wait_next()
            # The shared lookup was cancelled: look up alone.
            found = await self._lookup(key, gen_key) if shared is ABANDONED else shared
        recorder = self._recorder(family.name)
        generation = None
        if found is not None:
            raw = found.value
            if raw is not None:
                memo = self._decoded.get(key)
                if memo is not None and memo[0] == raw:
                    value: M | None = memo[1]
                else:
                    state, value = codec.decode(family.model, raw)
                    if state is codec.Decoded.INVALID:
                        recorder.count("corrupt")
                        raw = None
                    else:
                        self._remember(family, key, raw, value)
                if raw is not None:
                    if value is None:
                        recorder.count("negative_hits")
                    elapsed = perf_counter() - started
                    recorder.hit(elapsed)
                    self.metrics.read(family.name, Outcome.HIT, elapsed)
                    return CacheResult(value, Outcome.HIT, elapsed, key)
            elif found.flaw is not None:
                # An unusable entry is this key's problem, not the backend's: a miss.
                recorder.count(found.flaw)
            generation = found.generation
            if found.broken_generation:
                recorder.count("wrong_type")
                generation, found = await self._reset_generation(key, gen_key)
        available = found is not None
        if not available:
            recorder.count("bypassed")
        value = await self._load_once(family, key, gen_key, generation, available, load)
        elapsed = perf_counter() - started
        recorder.miss(elapsed)
        outcome = Outcome.MISS if available else Outcome.BYPASS
        self.metrics.read(family.name, outcome, elapsed)
        return CacheResult(value, outcome, elapsed, key)

    def _remember(self, family: Family[M], key: str, raw: bytes, value: M | None) -> None:
        """Keep the decoded value of a read model that can be shared (frozen, no containers):
        the next hit on the same bytes skips decoding."""
        if not codec.shareable(family.model):
            return
        if len(self._decoded) >= DECODED_MEMO_SIZE:
            del self._decoded[next(iter(self._decoded))]
        self._decoded[key] = (raw, value)

    async def _lookup(
        self, key: str, gen_key: str, reading: _Reading | None = None
    ) -> Lookup | None:
        """One lookup of the entry and its generation, or None when the backend cannot be
        reached. Readers of this key that arrive while it is on the wire share the next one,
        which is sent after they arrived: a generation read before a reader arrived could
        predate an invalidation that reader has already seen."""
        if reading is None:
            reading = self._reads[key] = _Reading()
        try:
            return await self._guarded_lookup(key, gen_key)
        finally:
            if self._reads.get(key) is reading:
                del self._reads[key]
            if reading.next is not None:
                self._follow_up(key, gen_key, reading.next)

    def _follow_up(self, key: str, gen_key: str, waiting: Shared[Lookup | None]) -> None:
        # Registered now, so a reader arriving before the task starts waits for it too.
        reading = self._reads[key] = _Reading()

        async def run() -> None:
            try:
                found = await self._lookup(key, gen_key, reading)
            except BaseException as error:
                waiting.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                return
            waiting.set_result(found)

        task = asyncio.get_running_loop().create_task(run())
        self._follow_ups.add(task)
        task.add_done_callback(self._follow_ups.discard)

    async def _guarded_lookup(self, key: str, gen_key: str) -> Lookup | None:
        """The lookup through the breaker, deferred invalidations first."""
        if not self.breaker.allow():
            return None
        try:
            if self._pending_invalidation:
                await self._replay_invalidations()
            found = await self.backend.lookup(key, gen_key)
        except CacheUnavailable as error:
            self._failed(key, error)
            return None
        self.breaker.record_success()
        return found

    async def _reset_generation(self, key: str, gen_key: str) -> tuple[bytes | None, Lookup | None]:
        """Replace a generation key that is not a counter (as an invalidation of its key would)
        and return the new generation, so this load can be stored."""
        if not self.breaker.allow():
            return None, None
        try:
            await self.backend.bump_generations([gen_key], [key], self.generation_ttl)
            found = await self.backend.lookup(key, gen_key)
        except CacheUnavailable as error:
            self._failed(key, error)
            return None, None
        self.breaker.record_success()
        return found.generation, found

    async def _load_once(
        self,
        family: Family[M],
        key: str,
        gen_key: str,
        generation: bytes | None,
        available: bool,
        load: Callable[[], Awaitable[M | None]],
    ) -> M | None:
        """Single-flight: concurrent misses of one key (and generation) in this process share one
        database load. An invalidation drops the flight, so later readers load afresh."""
        while True:
            flights = self._flights.setdefault(key, {})
            running = flights.get(generation)
            if running is None:
                break
            self._recorder(family.name).count("coalesced")
            result: M | Abandoned | None = await running.wait()
            if result is not ABANDONED:
                return result
            # The loader was cancelled, not this reader: load here instead.
        loop = asyncio.get_running_loop()
        future: Shared[Any] = Shared()
        flights[generation] = future
        try:
            with consistency.requiring(_floor(generation)):
                value = await load()
        except BaseException as error:
            future.set_exception(error)
            self._end_flight(key, generation, future)
            raise
        future.set_result(value)
        cacheable = value is not None or self.negative_ttl > 0
        if not (available and cacheable):
            self._end_flight(key, generation, future)
            return value
        # A reader whose lookup missed just before the store lands may come to the flights
        # after it: it joins this finished flight (same key, same generation, so as good as the
        # stored entry) instead of loading again. An invalidation drops the flight at once.
        loop.call_later(FLIGHT_LINGER_SECONDS, self._end_flight, key, generation, future)
        await self._store(family, key, gen_key, generation, value)
        return value

    def _end_flight(self, key: str, generation: bytes | None, future: Shared[Any]) -> None:
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
                self._recorder(family.name).count("too_large")
                await self.backend.delete([key])
                stored = False
            else:
                stored = await self.backend.set_if_generation(key, raw, ttl, gen_key, generation)
        except CacheUnavailable as error:
            self._failed(key, error)
            return
        self.breaker.record_success()
        if stored:
            self._recorder(family.name).count("sets")
        elif not too_large:
            log.debug("not storing %s: invalidated while it was loaded", key)

    # -- invalidation -------------------------------------------------------------------------

    @property
    def pending_invalidations(self) -> frozenset[str]:
        """Keys whose invalidation has not reached the backend yet (it was unreachable)."""
        return frozenset(self._pending_invalidation)

    async def invalidate(self, family: Family[Any], idents: Iterable[str]) -> None:
        """Invalidate these entries of ``family`` (see ``invalidate_keys``)."""
        await self.invalidate_keys(self.key(family, ident) for ident in sorted(set(idents)))

    async def invalidate_keys(
        self, keys: Iterable[str], *, generation_ttl: float | None = None
    ) -> None:
        """Bump the generations of these keys (kept ``generation_ttl`` seconds, a day by
        default) and drop the entries. When the backend is unreachable the keys are remembered
        and invalidated before the next read that reaches it.

        After a commit on a database with read replicas, the new generations record the
        commit's consistency token (this context's latest write): a fill under them is loaded
        only from a source that has replayed it (see ``qulab.core.consistency``)."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return
        ttl = self.generation_ttl if generation_ttl is None else generation_ttl
        written = consistency.last_commit_token()
        for key in keys:
            if written is not None:
                self._pending_floor[key] = max(written.lsn, self._pending_floor.get(key, 0))
            self._flights.pop(key, None)
            self._decoded.pop(key, None)
            self._recorder(self._family_of(key)).count("invalidations")
            self._pending_invalidation[key] = min(ttl, self._pending_invalidation.get(key, ttl))
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
        by_ttl: dict[tuple[float, int], list[str]] = {}
        for key, ttl in sorted(self._pending_invalidation.items()):
            by_ttl.setdefault((ttl, self._pending_floor.get(key, 0)), []).append(key)
        for (ttl, floor), keys in sorted(by_ttl.items()):
            gen_keys = [self.generation_key(key) for key in keys]
            started = perf_counter()
            if floor:
                await self.backend.bump_generations(gen_keys, keys, ttl, floor=floor)
            else:
                await self.backend.bump_generations(gen_keys, keys, ttl)
            self.metrics.invalidation(len(keys), perf_counter() - started)
            for key in keys:
                if self._pending_invalidation.get(key) == ttl:
                    del self._pending_invalidation[key]
                    if self._pending_floor.get(key, 0) == floor:
                        self._pending_floor.pop(key, None)

    async def invalidate_events(self, events: Sequence[Event]) -> None:
        """The bus handler: invalidate every entry these events make stale, as each family
        declares, in one round (two when some are removed for good: their generations expire
        with the family's entries). It is idempotent (a generation bump), so the relay may
        apply it again to what it publishes."""
        removed = {
            self.key(family, ident): family.ttl * (1 + self.jitter)
            for family in self.families
            for ident in sorted({i for event in events for i in family.removed(event)})
        }
        await self.invalidate_keys(
            key
            for family in self.families
            for ident in sorted({i for event in events for i in family.stale(event)})
            if (key := self.key(family, ident)) not in removed
        )
        for ttl in sorted(set(removed.values())):
            await self.invalidate_keys(
                (key for key, kept in removed.items() if kept == ttl), generation_ttl=ttl
            )

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
        self._recorder(family).count("errors")
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
                recorder.give_back(counters, hits, misses)
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


def _floor(generation: bytes | None) -> consistency.Token | None:
    """The consistency token a generation records (``n@lsn``), or None."""
    if generation is None or b"@" not in generation:
        return None
    tail = generation.rpartition(b"@")[2]
    return consistency.Token(int(tail)) if tail.isdigit() else None


class _Reading:
    """A lookup on the wire, and the readers waiting for the one after it."""

    __slots__ = ("next",)

    def __init__(self) -> None:
        self.next: Shared[Lookup | None] | None = None

    async def wait_next(self) -> Lookup | Abandoned | None:
        if self.next is None:
            self.next = Shared()
        return await self.next.wait()


def build_cache(settings: Settings, families: Sequence[Family[Any]] = ()) -> Cache:
    """A cache of ``families``: on Redis when ``QULAB_REDIS_URL`` is set, the in-process store
    otherwise."""
    config = settings.cache
    backend: CacheBackend
    if config.redis_url:
        from qulab.core.cache.redis_backend import redis_backend

        backend = redis_backend(
            config.redis_url,
            socket_timeout=config.socket_timeout,
            max_value_bytes=config.max_value_bytes,
        )
        if tracing.enabled():
            backend = cast(CacheBackend, TracedBackend(backend))
    else:
        backend = MemoryBackend(config.max_entries, max_value_bytes=config.max_value_bytes)
    return Cache(
        backend,
        families=families,
        prefix=config.prefix,
        jitter=config.ttl_jitter,
        negative_ttl=config.negative_ttl,
        breaker=CircuitBreaker(
            f"cache {backend.kind}",
            failure_threshold=config.breaker_failure_threshold,
            reset_seconds=config.breaker_reset_seconds,
        ),
    )
