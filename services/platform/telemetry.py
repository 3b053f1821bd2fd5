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
import math
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

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
        line = json.dumps(otlp_json(spans), separators=(",", ":"))
        with self._lock, self._path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """``spans`` as one OTLP/JSON ``ExportTraceServiceRequest``: what protobuf's JSON mapping
    makes of the SDK's OTLP encoding (``MessageToDict(encode_spans(spans),
    use_integers_for_enums=True)``: 64-bit integers as strings, defaults left out), but with trace
    and span ids in hex as OTLP/JSON has them. Built directly from the spans: going through
    protobuf messages took most of the exporter's time, in the exporter's thread, which holds the
    interpreter lock that the service's event loop waits for."""
    grouped: dict[Resource, dict[InstrumentationScope | None, list[dict[str, Any]]]] = {}
    for span in spans:
        scopes = grouped.setdefault(span.resource, {})
        scopes.setdefault(span.instrumentation_scope or None, []).append(_span_json(span))
    resource_spans = []
    for resource, scopes in grouped.items():
        scope_spans = []
        for scope, encoded in scopes.items():
            entry: dict[str, Any] = {"scope": _scope_json(scope), "spans": encoded}
            if scope is not None and scope.schema_url:
                entry["schemaUrl"] = scope.schema_url
            scope_spans.append(entry)
        found: dict[str, Any] = {"resource": _attributes_holder(resource.attributes)}
        found["scopeSpans"] = scope_spans
        if resource.schema_url:
            found["schemaUrl"] = resource.schema_url
        resource_spans.append(found)
    return {"resourceSpans": resource_spans} if resource_spans else {}


_SPAN_KINDS: Final = {
    trace.SpanKind.INTERNAL: 1,
    trace.SpanKind.SERVER: 2,
    trace.SpanKind.CLIENT: 3,
    trace.SpanKind.PRODUCER: 4,
    trace.SpanKind.CONSUMER: 5,
}
_HAS_IS_REMOTE: Final = 0x100
_IS_REMOTE: Final = 0x200


def _flags(parent: trace.SpanContext | None) -> int:
    return _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)


def _span_json(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    found: dict[str, Any] = {
        "traceId": f"{context.trace_id:032x}",
        "spanId": f"{context.span_id:016x}",
    }
    if context.trace_state:
        found["traceState"] = ",".join(f"{k}={v}" for k, v in context.trace_state.items())
    if span.parent is not None:
        found["parentSpanId"] = f"{span.parent.span_id:016x}"
    if span.name:
        found["name"] = span.name
    found["kind"] = _SPAN_KINDS[span.kind]
    if span.start_time:
        found["startTimeUnixNano"] = str(span.start_time)
    if span.end_time:
        found["endTimeUnixNano"] = str(span.end_time)
    if span.attributes:
        found["attributes"] = _attributes_json(span.attributes)
    if span.dropped_attributes:
        found["droppedAttributesCount"] = span.dropped_attributes
    if span.events:
        found["events"] = [_event_json(event) for event in span.events]
    if span.dropped_events:
        found["droppedEventsCount"] = span.dropped_events
    if span.links:
        found["links"] = [_link_json(link) for link in span.links]
    if span.dropped_links:
        found["droppedLinksCount"] = span.dropped_links
    status: dict[str, Any] = {}
    if span.status.description:
        status["message"] = span.status.description
    if span.status.status_code.value:
        status["code"] = span.status.status_code.value
    found["status"] = status
    found["flags"] = _flags(span.parent)
    return found


def _event_json(event: Event) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if event.name:
        found["name"] = event.name
    if event.timestamp:
        found["timeUnixNano"] = str(event.timestamp)
    if event.attributes:
        found["attributes"] = _attributes_json(event.attributes)
    if event.dropped_attributes:
        found["droppedAttributesCount"] = event.dropped_attributes
    return found


def _link_json(link: trace.Link) -> dict[str, Any]:
    found: dict[str, Any] = {
        "traceId": f"{link.context.trace_id:032x}",
        "spanId": f"{link.context.span_id:016x}",
    }
    if link.attributes:
        found["attributes"] = _attributes_json(link.attributes)
    if link.dropped_attributes:
        found["droppedAttributesCount"] = link.dropped_attributes
    found["flags"] = _flags(link.context)
    return found


def _scope_json(scope: InstrumentationScope | None) -> dict[str, Any]:
    if scope is None:
        return {}
    found: dict[str, Any] = {}
    if scope.name:
        found["name"] = scope.name
    if scope.version:
        found["version"] = scope.version
    if scope.attributes:
        found["attributes"] = _attributes_json(scope.attributes)
    return found


def _attributes_holder(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"attributes": _attributes_json(attributes)} if attributes else {}


def _attributes_json(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = []
    for key, value in attributes.items():
        try:
            found.append({"key": key, "value": _value_json(value)})
        except TypeError:
            log.exception("span attribute %s cannot be exported", key)
    return found


def _value_json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"doubleValue": "NaN"}
        if math.isinf(value):
            return {"doubleValue": "Infinity" if value > 0 else "-Infinity"}
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, Sequence):
        values = [_value_json(item) for item in value]
        return {"arrayValue": {"values": values} if values else {}}
    if isinstance(value, Mapping):
        pairs = [{"key": str(k), "value": _value_json(v)} for k, v in value.items()]
        return {"kvlistValue": {"values": pairs} if pairs else {}}
    raise TypeError(f"a span attribute cannot be a {type(value).__name__}")


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
    # Here, not at the top: the spans' helpers below are imported by every module that records
    # an event, the command line's too, and need none of the Prometheus machinery.
    from services.platform import metrics

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
