"""The Redis cache backend with a span per operation, while tracing is on.

``build_cache`` wraps the Redis backend in :class:`TracedBackend` when tracing is on; each
backend call (one command, one script or one pipeline) becomes a client span
``redis {operation}`` under the current span. Keys are left out: they may name users.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from qulab.core import tracing

OPERATIONS = frozenset(
    {
        "get_many",
        "get",
        "get_generation",
        "lookup",
        "set",
        "delete",
        "set_if_generation",
        "bump_generations",
        "add_counters",
        "read_counters",
        "push_samples",
        "read_samples",
        "clear_stats",
        "server_info",
    }
)


class TracedBackend:
    """Everything of ``inner``, its cache operations each in a span."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if name not in OPERATIONS:
            return value
        return _traced(name, value, self.inner.address)


def _traced(
    operation: str, call: Callable[..., Awaitable[Any]], address: str
) -> Callable[..., Awaitable[Any]]:
    attributes = {
        "db.system.name": "redis",
        "db.operation.name": operation,
        "server.address": address,
    }

    async def traced(*args: Any, **kwargs: Any) -> Any:
        with tracing.span(f"redis {operation}", kind="client", attributes=attributes):
            return await call(*args, **kwargs)

    return traced
