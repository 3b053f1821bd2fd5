"""The otlp_json_file exporter builds OTLP/JSON directly from the spans: the same document as
protobuf's JSON mapping of the SDK's own OTLP encoding, with hex ids."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from services.platform import telemetry

_IDS = {"traceId", "spanId", "parentSpanId"}


def _hex_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in _IDS else _hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value


def reference(spans: list[ReadableSpan]) -> Any:
    """What the exporter wrote before: through protobuf, then ids from base64 to hex."""
    return _hex_ids(MessageToDict(encode_spans(spans), use_integers_for_enums=True))


def recorded() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "test", "n": 3}, schema_url="https://x/1")
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    versioned = provider.get_tracer("versioned", "1.2.3")
    bare = provider.get_tracer("bare")
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("vendor", "value"), ("other", "x")]),
    )
    with versioned.start_as_current_span(
        "POST /v1/critiques",
        context=trace.set_span_in_context(trace.NonRecordingSpan(remote)),
        kind=SpanKind.SERVER,
        attributes={
            "text": "Kiến nghị",
            "empty": "",
            "yes": True,
            "no": False,
            "count": 3,
            "zero": 0,
            "big": 2**40,
            "negative": -7,
            "ratio": 0.5,
            "whole": 2.0,
            "texts": ("a", "b"),
            "flags": (True, False),
            "numbers": (1, 2),
            "reals": (1.5,),
            "nothing": (),
        },
        links=[Link(remote, {"link.kind": "agency call"}), Link(remote)],
    ) as server:
        server.add_event("retry", {"attempt": 2})
        server.add_event("plain")
        with bare.start_as_current_span("INSERT", kind=SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.ERROR, "deadlock detected"))
        with bare.start_as_current_span("send", kind=SpanKind.PRODUCER):
            pass
        with versioned.start_as_current_span("process", kind=SpanKind.CONSUMER) as ok:
            ok.set_status(Status(StatusCode.OK))
    with bare.start_as_current_span("internal"):
        pass
    return list(memory.get_finished_spans())


def test_the_document_is_the_one_protobuf_makes() -> None:
    spans = recorded()
    assert telemetry.otlp_json(spans) == reference(spans)
    for span in spans:  # one at a time too (a single scope and resource)
        assert telemetry.otlp_json([span]) == reference([span])
    assert telemetry.otlp_json([]) == reference([])


def test_the_exporter_writes_one_line_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "submission")
    exporter = telemetry.OtlpJsonFileSpanExporter(str(tmp_path / "{service}.jsonl"))
    spans = recorded()
    exporter.export(spans[:2])
    exporter.export(spans[2:])
    lines = (tmp_path / "submission.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [reference(spans[:2]), reference(spans[2:])]
