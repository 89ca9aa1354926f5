"""An in-memory span exporter for tests: ``traced`` turns QuLab's tracing on for one test and
hands back what it exported."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from qulab.core import tracing


@lru_cache(maxsize=1)
def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    """One provider per test process (never the global one, which can be set only once)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
def traced() -> Iterator[InMemorySpanExporter]:
    provider, exporter = _provider()
    exporter.clear()
    tracing.activate(provider)
    try:
        yield exporter
    finally:
        tracing.deactivate()
        exporter.clear()


def named(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def attribute(span: ReadableSpan, name: str) -> object:
    return (span.attributes or {}).get(name)
