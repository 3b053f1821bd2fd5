"""OpenTelemetry set-up from the standard ``OTEL_*`` variables, and the project's span attributes.

Exporters are chosen by ``OTEL_TRACES_EXPORTER`` (comma-separated) and loaded through the SDK's
``opentelemetry_traces_exporter`` entry points: ``otlp_proto_http`` (OTLP/HTTP, for production),
``zipkin_json``, ``console`` and ``none`` work as everywhere (``otlp`` needs the gRPC exporter,
which is not installed). This project adds ``otlp_json_file``: one OTLP/JSON
``ExportTraceServiceRequest`` per line, the format of the OpenTelemetry Collector's file
exporter, written to the path in ``SUPERVISION_OTEL_JSON_FILE`` (``{service}`` in it is replaced
by the service name).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Final

from google.protobuf.json_format import MessageToDict
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from services.platform import metrics

log = logging.getLogger(__name__)

# Span attributes, named once. Never personal data: ids, levels and kinds only.
ATTR_CRITIQUE_ID: Final = "supervision.critique.id"
ATTR_CASE_ID: Final = "supervision.case.id"
ATTR_AGENCY_ID: Final = "supervision.agency.id"
ATTR_ORGANISATION_ID: Final = "supervision.organisation.id"
ATTR_EVENT_TYPE: Final = "cloudevents.event_type"
ATTR_EVENT_ID: Final = "cloudevents.event_id"

FILE_PATH_VARIABLE: Final = "SUPERVISION_OTEL_JSON_FILE"


class OtlpJsonFileSpanExporter(SpanExporter):
    """Appends spans as OTLP/JSON lines to a file; each process should have its own file."""

    def __init__(self, path: str | None = None) -> None:
        configured = path or os.environ.get(FILE_PATH_VARIABLE)
        if not configured:
            raise ValueError(f"set {FILE_PATH_VARIABLE} to use the otlp_json_file exporter")
        service = os.environ.get("OTEL_SERVICE_NAME", "unknown")
        self._path = Path(configured.replace("{service}", service))
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        document = _hex_ids(MessageToDict(encode_spans(spans), use_integers_for_enums=True))
        line = json.dumps(document, separators=(",", ":"))
        with self._lock, self._path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


_ID_FIELDS: Final = frozenset({"traceId", "spanId", "parentSpanId"})


def _hex_ids(value: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping has base64."""
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in _ID_FIELDS else _hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value


def _exporters() -> list[SpanExporter]:
    names = [
        name.strip()
        for name in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",")
        if name.strip() and name.strip() != "none"
    ]
    exporters: list[SpanExporter] = []
    for name in names:
        found = entry_points(group="opentelemetry_traces_exporter", name=name)
        if not found:
            raise SystemExit(f"OTEL_TRACES_EXPORTER names {name!r}, which is not installed")
        exporter_type = next(iter(found)).load()
        exporters.append(exporter_type())
    return exporters


def setup(service_name: str) -> TracerProvider:
    """Install the global tracer and meter providers for this process; call once, at start-up."""
    os.environ.setdefault("OTEL_SERVICE_NAME", service_name)
    resource = Resource.create({"service.name": service_name}).merge(
        OTELResourceDetector().detect()
    )
    metrics.setup(resource)
    provider = TracerProvider(resource=resource)
    for exporter in _exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def flush() -> None:
    """Export every span ended so far (a no-op without an SDK tracer provider)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


def inject_current() -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``, ``tracestate``)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(dict(carrier))


@contextmanager
def attached(ctx: otel_context.Context) -> Iterator[None]:
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)
