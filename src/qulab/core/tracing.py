"""OpenTelemetry spans along write → outbox → broker → consumer, only when tracing is on.

Tracing is off unless ``QULAB_TRACING_EXPORTER`` names an exporter (or a program hands its own
tracer provider to :func:`activate`); while it is off every helper here is a no-op and
``opentelemetry`` is never imported, so a process without the ``otel`` extra runs the same.

The context travels as a W3C carrier (``traceparent`` and, when set, ``tracestate``): the unit
of work stores the outbox write's carrier with each event, the publisher sends the publish
span's carrier with the message, and the consumer's span continues it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal

from qulab.core.errors import ConfigurationError

if TYPE_CHECKING:
    from qulab.core.settings_groups import TracingSettings

Carrier = dict[str, str]
Kind = Literal["internal", "client", "producer", "consumer"]
CONTEXT_FIELDS = ("traceparent", "tracestate")
"""The W3C trace context's fields, as message fields or headers of the same names."""
INSTRUMENTATION = "qulab"

_tracer: Any = None


def enabled() -> bool:
    return _tracer is not None


def configure(settings: TracingSettings) -> None:
    """Turn tracing on as ``settings`` say, once per process; ``exporter`` none changes
    nothing (a tracer activated by the program stays)."""
    if settings.exporter == "none" or _tracer is not None:
        return
    try:
        from qulab.core import _otel  # opentelemetry-sdk, from the otel extra
    except ImportError as error:
        raise ConfigurationError(
            f"QULAB_TRACING_EXPORTER={settings.exporter} needs the otel extra "
            "(pip install 'qulab[otel]')"
        ) from error
    activate(_otel.provider(settings))


def activate(provider: Any = None) -> None:
    """Trace through ``provider`` (an opentelemetry TracerProvider; the global one if None)."""
    from opentelemetry import trace

    global _tracer
    _tracer = (provider or trace.get_tracer_provider()).get_tracer(INSTRUMENTATION)


def deactivate() -> None:
    global _tracer
    _tracer = None


def carrier_from(fields: Mapping[str, object]) -> Carrier | None:
    """The trace context among a message's fields or headers (text or bytes), if any."""
    found: Carrier = {}
    for name in CONTEXT_FIELDS:
        value = fields.get(name)
        if value:
            found[name] = value.decode() if isinstance(value, bytes) else str(value)
    return found if "traceparent" in found else None


def current() -> Carrier | None:
    """The current span's context as a carrier (None while tracing is off or outside spans)."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    found = trace.get_current_span()
    return _inject(found) if found.get_span_context().is_valid else None


class Span:
    """A started span that is not the current one (a publish, ended when the broker has
    answered). ``carrier`` is its context for the message; None while tracing is off."""

    def __init__(self, span: Any = None) -> None:
        self._span = span
        self.carrier: Carrier | None = _inject(span) if span is not None else None

    def end(self, error: BaseException | str | None = None) -> None:
        if self._span is None:
            return
        if error is not None:
            _mark_failed(self._span, error)
        self._span.end()


def start(
    name: str,
    *,
    kind: Kind = "internal",
    parent: Mapping[str, str] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Span:
    """Start a span under ``parent`` (a carrier; the current span if None), not made current."""
    if _tracer is None:
        return Span()
    return Span(
        _tracer.start_span(
            name, context=_extract(parent), kind=_kind(kind), attributes=dict(attributes or {})
        )
    )


def span(
    name: str,
    *,
    kind: Kind = "internal",
    parent: Mapping[str, str] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> AbstractContextManager[Carrier | None]:
    """A span that is current inside the block, under ``parent`` (a carrier) or the current
    span; yields its carrier (None while tracing is off). An exception marks it failed."""
    if _tracer is None:
        return _OFF
    return _current(name, kind, parent, attributes)


_OFF: AbstractContextManager[None] = contextlib.nullcontext()


@contextlib.contextmanager
def _current(
    name: str,
    kind: Kind,
    parent: Mapping[str, str] | None,
    attributes: Mapping[str, Any] | None,
) -> Iterator[Carrier | None]:
    with _tracer.start_as_current_span(
        name, context=_extract(parent), kind=_kind(kind), attributes=dict(attributes or {})
    ) as current:
        yield _inject(current)


def _kind(kind: Kind) -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind[kind.upper()]


def _propagator() -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator()


def _extract(parent: Mapping[str, str] | None) -> Any:
    """The context ``parent`` names, or None (the current context) without one."""
    if not parent:
        return None
    return _propagator().extract(dict(parent))


def _inject(current: Any) -> Carrier | None:
    from opentelemetry import trace

    found: Carrier = {}
    _propagator().inject(found, context=trace.set_span_in_context(current))
    return found or None


def _mark_failed(current: Any, error: BaseException | str) -> None:
    from opentelemetry.trace import Status, StatusCode

    if isinstance(error, BaseException):
        current.record_exception(error)
        error = f"{type(error).__name__}: {error}"
    current.set_status(Status(StatusCode.ERROR, error))
