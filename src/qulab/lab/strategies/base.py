"""What every caching strategy offers: one read/write interface over the scratch rows.

A strategy reads a row through its cache (``read``), writes a new version of it (``write``)
and, for the experiments, can drop one cached entry as if it had expired (``expire``). Every
strategy lives under its own key prefix, so several can run over the same rows side by side.
A write counts as done when ``write`` returns: after the database commit and the cache step
(for write-behind, once the cache and the flush queue hold it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qulab.lab.strategies.rows import RowRead


@dataclass(frozen=True)
class Read:
    value: RowRead | None
    hit: bool


class Strategy(Protocol):
    name: str

    async def read(self, ident: str) -> Read: ...

    async def write(self, ident: str, version: int) -> None: ...

    async def expire(self, ident: str) -> None: ...

    async def close(self) -> None: ...
