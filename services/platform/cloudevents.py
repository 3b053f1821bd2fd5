"""CloudEvents 1.0 over Kafka, binary content mode.

The envelope travels in ``ce_*`` headers, the payload as the JSON body; the W3C trace context
travels in ``traceparent``/``tracestate`` headers beside it (the CloudEvents distributed-tracing
extension uses the same names).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import ValidationError

from contracts.events import EVENT_TYPES, Event

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

KafkaHeaders = Sequence[tuple[str, bytes]]


class UndecodableEvent(ValueError):
    """A Kafka message that is not one of our events: bad envelope, unknown type, bad payload."""

    def __init__(self, reason: str, *, kind: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class Envelope:
    """The CloudEvents attributes of one event."""

    id: UUID
    type: str
    source: str
    time: datetime
    subject: str

    def headers(self, trace_headers: dict[str, str]) -> list[tuple[str, bytes]]:
        headers = [
            ("ce_specversion", SPEC_VERSION),
            ("ce_id", str(self.id)),
            ("ce_type", self.type),
            ("ce_source", self.source),
            ("ce_time", self.time.isoformat()),
            ("ce_subject", self.subject),
            ("content-type", CONTENT_TYPE),
            *sorted(trace_headers.items()),
        ]
        return [(name, value.encode()) for name, value in headers]


def header_map(headers: KafkaHeaders | None) -> dict[str, str]:
    """Kafka headers as text; the last value wins for a repeated name."""
    result = {}
    for name, value in headers or ():
        try:
            result[name] = value.decode() if value is not None else ""
        except UnicodeDecodeError:
            continue
    return result


def decode(headers: dict[str, str], body: bytes | None) -> tuple[Envelope, Event]:
    """Read one event from its Kafka headers and body, or say precisely why it is not one."""
    if headers.get("ce_specversion") != SPEC_VERSION:
        raise UndecodableEvent(
            f"ce_specversion is {headers.get('ce_specversion')!r}, expected {SPEC_VERSION!r}",
            kind="envelope",
        )
    missing = [name for name in ("ce_id", "ce_type", "ce_source", "ce_time") if name not in headers]
    if missing:
        raise UndecodableEvent(
            f"missing CloudEvents headers: {', '.join(missing)}", kind="envelope"
        )
    try:
        envelope = Envelope(
            id=UUID(headers["ce_id"]),
            type=headers["ce_type"],
            source=headers["ce_source"],
            time=datetime.fromisoformat(headers["ce_time"]),
            subject=headers.get("ce_subject", ""),
        )
    except ValueError as error:
        raise UndecodableEvent(f"bad CloudEvents header: {error}", kind="envelope") from error
    model = EVENT_TYPES.get(envelope.type)
    if model is None:
        raise UndecodableEvent(f"unknown event type {envelope.type!r}", kind="unknown_type")
    if body is None:
        raise UndecodableEvent("empty body", kind="payload")
    try:
        event = model.model_validate_json(body)
    except ValidationError as error:
        raise UndecodableEvent(
            f"{envelope.type} payload is invalid: {error}", kind="payload"
        ) from error
    return envelope, event
