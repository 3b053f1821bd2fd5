"""CloudEvents 1.0 over Kafka, binary content mode.

The envelope travels in ``ce_*`` headers, the payload as the JSON body; the W3C trace context
travels in ``traceparent``/``tracestate`` headers beside it (the CloudEvents distributed-tracing
extension uses the same names).

Versions: ``ce_type`` ends in ``.v<N>``, the event's major version. Within a version changes are
additive and readers ignore fields they do not know; a new major version is a new ``ce_type``. A
reader refuses a version it does not know (a newer one, sent before the readers were upgraded, or
a retired one) as ``unknown_version``, naming the versions it reads: the record is dead-lettered,
to be replayed once the consumer has learned it. A name no version of which is known is
``unknown_type``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import ValidationError

from contracts.events import CE_SOURCE_PREFIX, EVENT_TYPES, RETIRED_TYPES, Event, Topic

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

KafkaHeaders = Sequence[tuple[str, bytes]]


def source(service: str) -> str:
    """The ``ce_source`` of the events a service publishes."""
    return f"{CE_SOURCE_PREFIX}:{service}"


_VERSIONED = re.compile(r"^(?P<name>.+)\.v(?P<version>[0-9]+)$")


def _versions() -> dict[str, list[str]]:
    """Each event name (``ce_type`` without its version) and the versions known of it."""
    known: dict[str, list[str]] = {}
    for ce_type in EVENT_TYPES:
        matched = _VERSIONED.match(ce_type)
        assert matched, f"{ce_type} does not end in its version"
        known.setdefault(matched["name"], []).append(f"v{matched['version']}")
    return known


KNOWN_VERSIONS = _versions()


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


_STREAMS = frozenset(Topic)


def decode(
    headers: dict[str, str], body: bytes | None, *, topic: str | None = None
) -> tuple[Envelope, Event]:
    """Read one event from its Kafka headers and body, or say precisely why it is not one.

    Read from ``topic``, one of the system's streams, it must be an event of that stream (as
    the AsyncAPI document's channels say): on ``submission.critiques`` a ``case.answered`` is not
    tracking's answer, whoever could write it there, and is ``unknown_type``."""
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
        versioned = _VERSIONED.match(envelope.type)
        known = KNOWN_VERSIONS.get(versioned["name"]) if versioned else None
        if envelope.type in RETIRED_TYPES:
            raise UndecodableEvent(
                f"retired event type {envelope.type}: {RETIRED_TYPES[envelope.type]}",
                kind="unknown_type",
            )
        if versioned and known:
            raise UndecodableEvent(
                f"unknown version v{versioned['version']} of {versioned['name']}:"
                f" this reader knows {', '.join(known)}",
                kind="unknown_version",
            )
        raise UndecodableEvent(f"unknown event type {envelope.type!r}", kind="unknown_type")
    if topic in _STREAMS and model.topic != topic:
        raise UndecodableEvent(
            f"{envelope.type} is not an event of {topic}: only {model.topic} carries it",
            kind="unknown_type",
        )
    if body is None:
        raise UndecodableEvent("empty body", kind="payload")
    try:
        event = model.model_validate_json(body)
    except ValidationError as error:
        raise UndecodableEvent(
            f"{envelope.type} payload is invalid: {error}", kind="payload"
        ) from error
    return envelope, event
