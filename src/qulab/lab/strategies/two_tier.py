"""A two-tier cache: an in-process L1 in front of a shared L2 (Redis), kept coherent by
broadcasting every invalidation to every client.

A read tries L1, then L2, then loads (single-flight) and stores under the generation it read
first. L1 entries are tagged with the L2 generation they were read under. An invalidation
bumps the generation in L2, drops the entry, and broadcasts ``(key, new generation)``: every
client drops an older L1 copy and remembers the generation, so a fill that started before the
invalidation but finishes after it is refused. While the channel is down L1 is emptied and
not filled (reads go to L2), and it is emptied again when the channel is back, since
messages sent meanwhile are lost. Propagation latencies (send to receive) are kept for
inspection.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel

from qulab.core import CacheBackend
from qulab.core.cache import codec
from qulab.lab.strategies.channel import Invalidation, InvalidationChannel
from qulab.lab.strategies.flight import SingleFlight
from qulab.lab.strategies.keys import row_part

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class Tier(StrEnum):
    L1 = "L1"
    L2 = "L2"
    DATABASE = "DB"


@dataclass(frozen=True)
class TierRead(Generic[M]):
    value: M | None
    tier: Tier


@dataclass(frozen=True)
class _Local(Generic[M]):
    expires: float
    generation: int
    value: M


class TwoTierCache(Generic[M]):
    def __init__(
        self,
        backend: CacheBackend,
        channel: InvalidationChannel,
        model: type[M],
        *,
        prefix: str,
        ttl: float,
        l1_ttl: float | None = None,
        l1_max: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.channel = channel
        self.model = model
        self.prefix = prefix
        self.ttl = ttl
        self.l1_ttl = ttl if l1_ttl is None else l1_ttl
        self.l1_max = l1_max
        self.generation_ttl = max(86_400.0, 4 * ttl)
        self.latencies: deque[float] = deque(maxlen=10_000)
        self.dropped = 0
        self.listeners: list[Callable[[Invalidation], None]] = []  # told of each one heard
        self._clock = clock
        self._l1: OrderedDict[str, _Local[M]] = OrderedDict()
        self._floors: OrderedDict[str, int] = OrderedDict()
        self._epoch = 0
        self._flights: SingleFlight[M | None] = SingleFlight()

    def key(self, ident: str) -> str:
        return f"{self.prefix}{row_part(self.backend, ident)}"

    def generation_key(self, key: str) -> str:
        return f"{self.prefix}gen:{key.removeprefix(self.prefix)}"

    async def start(self) -> None:
        await self.channel.start(self._heard, self._reset)

    def local_keys(self) -> list[str]:
        return list(self._l1)

    # -- reads ------------------------------------------------------------------------------

    async def get(self, ident: str, load: Callable[[], Awaitable[M | None]]) -> TierRead[M]:
        key = self.key(ident)
        local = self._l1.get(key)
        if local is not None and local.expires > self._clock():
            self._l1.move_to_end(key)
            return TierRead(local.value, Tier.L1)
        epoch = self._epoch
        raw, generation = await self._entry_and_generation(key)
        if raw is not None:
            state, value = codec.decode(self.model, raw)
            if state is codec.Decoded.VALUE and value is not None:
                self._keep(key, generation, value, epoch)
                return TierRead(value, Tier.L2)
        value, _ = await self._flights.run(key, lambda: self._load(key, generation, epoch, load))
        return TierRead(value, Tier.DATABASE)

    async def _entry_and_generation(self, key: str) -> tuple[bytes | None, bytes | None]:
        gen_key = self.generation_key(key)
        if self.backend.shared:
            raw, generation = await self.backend.get_many([key, gen_key])  # one MGET
            return raw, generation
        return await self.backend.get(key), await self.backend.get_generation(gen_key)

    async def _load(
        self,
        key: str,
        generation: bytes | None,
        epoch: int,
        load: Callable[[], Awaitable[M | None]],
    ) -> M | None:
        # A reader that missed just before another flight stored the entry finds it here.
        again = await self.backend.get(key)
        if again is not None:
            state, stored = codec.decode(self.model, again)
            if state is codec.Decoded.VALUE and stored is not None:
                return stored
        value = await load()
        if value is None:
            return None
        raw = codec.encode(self.model, value)
        gen_key = self.generation_key(key)
        if await self.backend.set_if_generation(key, raw, self.ttl, gen_key, generation):
            self._keep(key, generation, value, epoch)
        return value

    def _keep(self, key: str, generation: bytes | None, value: M, epoch: int) -> None:
        """Copy into L1, unless the channel is down, was reset since the read began, or an
        invalidation to a newer generation has been heard."""
        number = _number(generation)
        if not self.channel.connected or epoch != self._epoch:
            return
        if number < self._floors.get(key, -1):
            return
        self._l1[key] = _Local(self._clock() + self.l1_ttl, number, value)
        self._l1.move_to_end(key)
        while len(self._l1) > self.l1_max:
            self._l1.popitem(last=False)

    # -- invalidation -----------------------------------------------------------------------

    async def invalidate(self, ident: str) -> None:
        """Move the generation on in L2, drop the entry there and here, tell every client."""
        key = self.key(ident)
        gen_key = self.generation_key(key)
        self._flights.forget(key)
        await self.backend.bump_generations([gen_key], [key], self.generation_ttl)
        generation = _number(await self.backend.get_generation(gen_key))
        self._drop(key, generation)
        await self.channel.publish(key, generation)

    def _heard(self, message: Invalidation) -> None:
        self.latencies.append(max(0, time.time_ns() - message.sent_ns) / 1e9)
        self._drop(message.key, message.generation)
        for listener in self.listeners:
            listener(message)

    def _drop(self, key: str, generation: int) -> None:
        self._floors[key] = max(generation, self._floors.get(key, -1))
        self._floors.move_to_end(key)
        while len(self._floors) > self.l1_max:
            self._floors.popitem(last=False)
        local = self._l1.get(key)
        if local is not None and local.generation < generation:
            del self._l1[key]
            self.dropped += 1

    def _reset(self) -> None:
        self._epoch += 1
        self._l1.clear()

    async def drop_local(self, ident: str) -> None:
        self._l1.pop(self.key(ident), None)

    async def close(self) -> None:
        await self.channel.close()
        await self.backend.close()


def _number(generation: bytes | None) -> int:
    try:
        return int(generation) if generation else 0
    except ValueError:
        return 0
