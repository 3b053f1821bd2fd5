from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from contracts.events import CaseAnswered, Disposition, PointAnswer, Topic
from services.platform.cloudevents import Envelope, UndecodableEvent, decode, header_map, source


def answered() -> CaseAnswered:
    return CaseAnswered(
        critique_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        agency_id="bo-tu-phap",
        answered_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        late=False,
        answers=(PointAnswer(point_number=1, disposition=Disposition.ACCEPTED),),
    )


def envelope(event: CaseAnswered) -> Envelope:
    return Envelope(
        id=uuid.uuid4(),
        type=event.ce_type,
        source="urn:test",
        time=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        subject=str(event.critique_id),
    )


def test_an_event_survives_the_trip_through_kafka_headers_and_body() -> None:
    event = answered()
    sent = envelope(event)
    headers = header_map(sent.headers({"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}))

    received, decoded = decode(headers, event.model_dump_json().encode())

    assert received == sent
    assert decoded == event
    assert headers["ce_specversion"] == "1.0"
    assert headers["content-type"] == "application/json"
    assert headers["traceparent"].startswith("00-aaaa")


def test_readers_ignore_fields_they_do_not_know() -> None:
    event = answered()
    body = event.model_dump_json()[:-1] + ', "added_in_a_later_minor_version": 1}'
    _, decoded = decode(header_map(envelope(event).headers({})), body.encode())
    assert decoded == event


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        (lambda h: h.pop("ce_specversion"), "envelope"),
        (lambda h: h.pop("ce_id"), "envelope"),
        (lambda h: h.update(ce_id="not-a-uuid"), "envelope"),
        (lambda h: h.update(ce_time="yesterday"), "envelope"),
        (lambda h: h.update(ce_type="vn.mttq.supervision.case.answered.v9"), "unknown_version"),
        (lambda h: h.update(ce_type="vn.mttq.supervision.case.answered.v0"), "unknown_version"),
        (lambda h: h.update(ce_type="vn.mttq.supervision.case.answered"), "unknown_type"),
        (lambda h: h.update(ce_type="vn.mttq.supervision.case.teleported.v1"), "unknown_type"),
        (lambda h: h.update(ce_type=".v1"), "unknown_type"),
    ],
)
def test_a_bad_envelope_is_refused_with_its_kind(mutate: object, kind: str) -> None:
    event = answered()
    headers = header_map(envelope(event).headers({}))
    mutate(headers)  # type: ignore[operator]
    with pytest.raises(UndecodableEvent) as refused:
        decode(headers, event.model_dump_json().encode())
    assert refused.value.kind == kind


@pytest.mark.parametrize("body", [None, b"", b"{}", b"\xff\xfe", b'{"critique_id": 7}'])
def test_a_payload_that_breaks_the_contract_is_refused(body: bytes | None) -> None:
    headers = header_map(envelope(answered()).headers({}))
    with pytest.raises(UndecodableEvent) as refused:
        decode(headers, body)
    assert refused.value.kind == "payload"


def test_on_one_of_the_streams_only_that_streams_events_are_read() -> None:
    event = answered()
    headers = header_map(envelope(event).headers({}))
    body = event.model_dump_json().encode()
    assert decode(headers, body, topic=Topic.CASES)[1] == event
    assert decode(headers, body, topic="test.elsewhere")[1] == event  # not a stream of ours
    with pytest.raises(UndecodableEvent) as refused:
        decode(headers, body, topic=Topic.CRITIQUES)
    assert refused.value.kind == "unknown_type"
    assert "only tracking.cases carries it" in str(refused.value)


def test_undecodable_header_bytes_are_skipped_not_fatal() -> None:
    assert header_map([("ce_id", b"\xff"), ("ce_type", b"x")]) == {"ce_type": "x"}


def test_an_unknown_version_names_the_versions_the_reader_knows() -> None:
    event = answered()
    headers = header_map(envelope(event).headers({}))
    headers["ce_type"] = "vn.mttq.supervision.case.answered.v2"
    with pytest.raises(UndecodableEvent) as refused:
        decode(headers, event.model_dump_json().encode())
    assert str(refused.value) == (
        "unknown version v2 of vn.mttq.supervision.case.answered: this reader knows v1"
    )


def test_an_event_type_retired_for_being_decided_by_the_wrong_service_says_why() -> None:
    event = answered()
    headers = header_map(envelope(event).headers({}))
    headers["ce_type"] = "vn.mttq.supervision.critique.amended.v1"
    with pytest.raises(UndecodableEvent) as refused:
        decode(headers, b'{"critique_id": "x"}')
    assert refused.value.kind == "unknown_type"
    assert "retired event type" in str(refused.value)
    assert "decided by tracking (case.amended.v1" in str(refused.value)


def test_a_source_is_the_service_owning_the_topic() -> None:
    assert source(Topic.CASES.owner) == "urn:vn:mttq:supervision:tracking"
    assert source(Topic.CRITIQUES.owner) == "urn:vn:mttq:supervision:submission"
    assert source(Topic.CHECKPOINTS.owner) == "urn:vn:mttq:supervision:disclosure"
