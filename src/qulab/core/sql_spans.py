"""A span for every SQL statement an engine runs, while tracing is on.

Listeners on the sync engine under the async one (where the statement counter listens too):
the span starts before the cursor executes and ends after it, or with the error. The span holds
the statement text only, never its parameters, which carry user data.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from qulab.core import tracing

_instrumented: weakref.WeakSet[Engine] = weakref.WeakSet()
_SPAN = "_qulab_span"


def instrument_engine(engine: AsyncEngine) -> None:
    """Trace ``engine``'s statements (once per engine; nothing while tracing is off)."""
    target = engine.sync_engine
    if not tracing.enabled() or target in _instrumented:
        return
    _instrumented.add(target)
    system = engine.dialect.name
    event.listen(target, "before_cursor_execute", _starter(system))
    event.listen(target, "after_cursor_execute", _finish)
    event.listen(target, "handle_error", _fail)


def _starter(system: str) -> Any:
    def _start(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, many: bool
    ) -> None:
        if context is None:
            return
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        attributes: dict[str, str | bool] = {
            "db.system.name": system,
            "db.operation.name": operation,
            "db.query.text": statement,
        }
        if many:
            attributes["db.operation.batch"] = True
        setattr(context, _SPAN, tracing.start(operation, kind="client", attributes=attributes))

    return _start


def _finish(
    _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
) -> None:
    span = getattr(context, _SPAN, None)
    if span is not None:
        delattr(context, _SPAN)
        span.end()


def _fail(exception_context: Any) -> None:
    context = exception_context.execution_context
    span = getattr(context, _SPAN, None) if context is not None else None
    if span is not None:
        delattr(context, _SPAN)
        span.end(exception_context.original_exception)
