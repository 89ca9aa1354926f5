"""The OpenTelemetry SDK pieces ``QULAB_TRACING_*`` asks for: imported only when tracing is on
(it needs the ``otel`` extra)."""

from __future__ import annotations

import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from qulab.core.errors import ConfigurationError
from qulab.core.settings_groups import TracingSettings


def provider(settings: TracingSettings) -> TracerProvider:
    """A tracer provider exporting as ``settings`` say, made the process's global one (so
    libraries that trace on their own join the same traces)."""
    built = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if settings.exporter == "console":  # stderr: stdout is the command's output
        built.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    else:
        built.add_span_processor(BatchSpanProcessor(_otlp(settings)))
    trace.set_tracer_provider(built)
    return built


def _otlp(settings: TracingSettings) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as error:
        raise ConfigurationError(
            "QULAB_TRACING_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http "
            "(pip install 'qulab[otel]')"
        ) from error
    if settings.endpoint is None:
        return OTLPSpanExporter()  # OTEL_EXPORTER_OTLP_* or the collector on localhost
    return OTLPSpanExporter(endpoint=settings.endpoint)
