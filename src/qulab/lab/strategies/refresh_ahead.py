"""``refresh-ahead``: read-through with probabilistic early recomputation (XFetch).

Each entry remembers how long its load took (``delta``) and when it expires. A reader that
finds it recomputes early when ``now - delta * beta * ln(rand()) >= expiry`` (Vattani et al.,
VLDB 2015): the closer to expiry and the slower the load, the likelier, so a hot key is
normally reloaded by one reader shortly before it expires instead of by all of them after.
While one refresh runs, other readers keep getting the cached value. Writes invalidate after
commit (generation bump), and loads store only under the generation they started with.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from qulab.core import CacheBackend
from qulab.core.cache import codec
from qulab.lab.strategies.base import Read
from qulab.lab.strategies.flight import SingleFlight
from qulab.lab.strategies.keys import row_part
from qulab.lab.strategies.rows import RowRead, ScratchRows


class RefreshAhead:
    name = "refresh-ahead"

    def __init__(
        self,
        backend: CacheBackend,
        rows: ScratchRows,
        prefix: str,
        ttl: float,
        *,
        beta: float = 1.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.rows = rows
        self.prefix = prefix
        self.ttl = ttl
        self.beta = beta
        self.early_refreshes = 0
        self._rng = rng or random.Random()
        self._clock = clock
        self._flights: SingleFlight[RowRead | None] = SingleFlight()
        self.generation_ttl = max(86_400.0, 4 * ttl)

    def key(self, ident: str) -> str:
        return f"{self.prefix}{row_part(self.backend, ident)}"

    def generation_key(self, ident: str) -> str:
        return f"{self.prefix}gen:{row_part(self.backend, ident)}"

    async def read(self, ident: str) -> Read:
        raw = await self.backend.get(self.key(ident))
        entry = None if raw is None else _decode(raw)
        if entry is None:
            value, _ = await self._flights.run(ident, lambda: self._load(ident, recheck=True))
            return Read(value, False)
        delta, expiry, row = entry
        if self._due(delta, expiry) and not self._flights.running(ident):
            self.early_refreshes += 1
            value, _ = await self._flights.run(ident, lambda: self._load(ident, recheck=False))
            return Read(value, False)
        return Read(row, True)

    def _due(self, delta: float, expiry: float) -> bool:
        draw = 1.0 - self._rng.random()  # in (0, 1]: ln() is finite
        return self._clock() - delta * self.beta * math.log(draw) >= expiry

    async def _load(self, ident: str, *, recheck: bool) -> RowRead | None:
        generation = await self.backend.get_generation(self.generation_key(ident))
        if recheck:
            raw = await self.backend.get(self.key(ident))
            entry = None if raw is None else _decode(raw)
            if entry is not None:
                return entry[2]
        started = time.perf_counter()
        row = await self.rows.load(ident)
        delta = time.perf_counter() - started
        if row is not None:
            raw = _encode(row, delta, self._clock() + self.ttl)
            await self.backend.set_if_generation(
                self.key(ident), raw, self.ttl, self.generation_key(ident), generation
            )
        return row

    async def write(self, ident: str, version: int) -> None:
        await self.rows.write(ident, version)
        self._flights.forget(ident)
        await self.backend.bump_generations(
            [self.generation_key(ident)], [self.key(ident)], self.generation_ttl
        )

    async def expire(self, ident: str) -> None:
        await self.backend.delete([self.key(ident)])

    async def close(self) -> None:
        await self.backend.close()


def _encode(row: RowRead, delta: float, expiry: float) -> bytes:
    return b"%.6f %.6f|" % (delta, expiry) + codec.encode(RowRead, row)


def _decode(raw: bytes) -> tuple[float, float, RowRead] | None:
    head, separator, body = raw.partition(b"|")
    if not separator:
        return None
    try:
        delta_text, expiry_text = head.split(b" ")
        delta, expiry = float(delta_text), float(expiry_text)
    except ValueError:
        return None
    state, row = codec.decode(RowRead, body)
    if state is not codec.Decoded.VALUE or row is None:
        return None
    return delta, expiry, row
