"""The name of a row inside a strategy's keys.

A strategy's script touches a row's entry together with its floor or its generation. On a
Redis Cluster those keys must share a hash slot, so there the row's name is a hash tag
(``{row:42}``) and every key of the row carries it; on one server or in process it is
``row:42``, as it always was.
"""

from __future__ import annotations

from qulab.core import CacheBackend


def row_part(backend: CacheBackend, ident: str) -> str:
    """``row:{ident}``, or ``{row:ident}`` (a hash tag) on a backend that needs one."""
    if getattr(backend, "hash_tags", False):
        return f"{{row:{ident}}}"
    return f"row:{ident}"
