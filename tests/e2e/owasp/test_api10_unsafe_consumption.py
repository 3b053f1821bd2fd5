"""API10:2023 Unsafe Consumption of APIs.

The services consume each other's events from Kafka and trust them no more than a request:
an event is held to its contract (the pydantic models of ``contracts/events.py``, the channels
of ``contracts/asyncapi.json``) before anything is applied. One that breaks it, an oversized or
malformed field, a decision of tracking's put on submission's topic, an agency tracking does not
know, is dead-lettered with the reason, applied nowhere, and never shown on the public site;
the consumers carry on with the next event. What is applied is shown as text, never as markup
or a spreadsheet formula.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import ConsumerRecord

from contracts.events import (
    MAX_POINTS,
    CaseAnswered,
    CritiqueSubmitted,
    Disposition,
    PointAnswer,
    Topic,
)
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.platform import db, deadletters
from services.platform.cloudevents import header_map
from tests.e2e.owasp.conftest import AgencyChannel
from tests.support import kafka
from tests.support.directory import Directory, register
from tests.support.engines import Engines
from tests.support.journeys import answer, case_of, eventually, public_record, submit
from tests.support.services import Deployment

CONSUMERS_OF_CRITIQUES = {"tracking", "disclosure"}


@pytest.fixture(scope="module")
async def office(deployment: Deployment) -> Directory:
    return await register(deployment)


async def dead_letters(
    engines: Engines, topic: Topic, key: str, until: int
) -> list[deadletters.Stamp]:
    """The dead letters of ``topic`` with Kafka key ``key``, once there are ``until``."""

    def of_key(records: Iterable[ConsumerRecord[bytes, bytes]]) -> list[deadletters.Stamp]:
        return [
            deadletters.Stamp.read(header_map(r.headers)) for r in records if r.key == key.encode()
        ]

    found = await kafka.read(
        engines.kafka_bootstrap,
        deadletters.topic_for(topic),
        until=lambda records: len(of_key(records)) >= until,
        timeout=60,
    )
    return of_key(found)


async def test_submissions_breaking_their_contract_are_dead_lettered_and_the_next_is_applied(
    deployment: Deployment, engines: Engines, office: Directory, agency_channel: AgencyChannel
) -> None:
    critique_id = uuid.uuid4()
    genuine = kafka.critique_submitted(
        office, "Kiến nghị về chợ tạm", "Di dời chợ tạm khỏi lòng đường.", critique_id
    )
    broken = {
        "title": genuine.model_copy(update={"title": "Giả mạo " * 100}),
        "legal_basis": genuine.model_copy(update={"legal_basis": "Điều 1. " * 20_000}),
        "redact_names": genuine.model_copy(
            update={"redact_names": tuple(f"Nguyễn Văn {i}" for i in range(10_000))}
        ),
        "points": genuine.model_copy(update={"points": genuine.points * (MAX_POINTS + 1)}),
        "organisation.name": genuine.model_copy(
            update={"organisation": genuine.organisation.model_copy(update={"name": "\x00"})}
        ),
    }
    await kafka.produce(
        engines.kafka_bootstrap,
        Topic.CRITIQUES,
        [
            *(kafka.event_record(event, uuid.uuid4()) for event in broken.values()),
            kafka.event_record(genuine, uuid.uuid4()),
        ],
    )
    letters = await dead_letters(
        engines, Topic.CRITIQUES, str(critique_id), len(broken) * len(CONSUMERS_OF_CRITIQUES)
    )
    assert {letter.consumer for letter in letters} == CONSUMERS_OF_CRITIQUES
    assert {letter.error_kind for letter in letters} == {"payload"}, letters
    for consumer in CONSUMERS_OF_CRITIQUES:
        reasons = [letter.error for letter in letters if letter.consumer == consumer]
        for field in broken:
            assert sum(field in reason for reason in reasons) == 1, (consumer, field, reasons)
    # Tracking carried on: the genuine submission after them opened its case, as it was sent.
    async with agency_channel() as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        auth = (("authorization", f"Bearer {office.agency_token}"),)

        async def opened() -> pb.Case | None:
            listed = await agency.ListCases(pb.ListCasesRequest(page_size=500), metadata=auth)
            return next((c for c in listed.cases if c.critique_id == str(critique_id)), None)

        case = await eventually(opened, timeout=30)
    assert case.title == genuine.title
    assert [p.text for p in case.points] == [p.text for p in genuine.points]


async def test_an_answer_put_on_the_organisations_topic_is_dead_lettered_never_published(
    deployment: Deployment,
    engines: Engines,
    office: Directory,
    disclosure_client: httpx.AsyncClient,
) -> None:
    """Only tracking writes decisions, on tracking.cases: an answer arriving on
    submission.critiques (from whoever can write there) is no answer."""
    critique_id = await submit(
        deployment, office, title='=HYPERLINK("http://gia-mao.example","Bấm vào đây")'
    )
    case = await case_of(deployment, office, critique_id)
    forged = CaseAnswered(
        critique_id=uuid.UUID(critique_id),
        case_id=uuid.UUID(case.case_id),
        agency_id=office.agency_id,
        answered_at=datetime.now(UTC),
        late=False,
        version=case.version,
        answers=tuple(
            PointAnswer(
                point_number=p.number,
                disposition=Disposition.ACCEPTED,
                explanation="Câu trả lời giả mạo",
            )
            for p in case.points
        ),
    )
    await kafka.produce(
        engines.kafka_bootstrap, Topic.CRITIQUES, [kafka.event_record(forged, uuid.uuid4())]
    )
    letters = await dead_letters(engines, Topic.CRITIQUES, critique_id, 2)
    assert {letter.consumer for letter in letters} == CONSUMERS_OF_CRITIQUES
    for letter in letters:
        assert letter.error_kind == "unknown_type", letter
        assert Topic.CASES.value in letter.error, letter
    assert (await disclosure_client.get(f"/v1/records/{critique_id}")).status_code == 404

    # The agency's own answer is published, as text: markup and formulas from the events are
    # shown, never run.
    markup = "<script>alert('giả mạo')</script> Tiếp thu."
    await answer(deployment, office, case, explanation=markup)
    record = await eventually(lambda: public_record(deployment, critique_id), timeout=30)
    explanations = [point["explanation"] for point in record["points"]]
    assert markup in explanations
    assert "Câu trả lời giả mạo" not in str(record)
    page = await disclosure_client.get(f"/records/{critique_id}")
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text
    exported = await disclosure_client.get(
        "/exports/records.csv", params={"agency": office.agency_id}
    )
    assert exported.status_code == 200
    assert "'=HYPERLINK" in exported.text
    assert ",=HYPERLINK" not in exported.text
    assert ',"=HYPERLINK' not in exported.text


async def test_a_submission_to_an_agency_tracking_does_not_know_opens_no_case(
    deployment: Deployment, engines: Engines, office: Directory
) -> None:
    critique_id = uuid.uuid4()
    nobody = kafka.critique_submitted(office, "Kiến nghị", "Một điểm.", critique_id).model_copy(
        update={"agency_id": f"khong-ton-tai-{uuid.uuid4().hex[:6]}"}
    )
    assert isinstance(nobody, CritiqueSubmitted)
    await kafka.produce(
        engines.kafka_bootstrap, Topic.CRITIQUES, [kafka.event_record(nobody, uuid.uuid4())]
    )
    (letter,) = [
        letter
        for letter in await dead_letters(engines, Topic.CRITIQUES, str(critique_id), 1)
        if letter.consumer == "tracking"
    ]
    assert letter.error_kind == "handler", letter
    assert f"no agency {nobody.agency_id!r}" in letter.error, letter
    pool = await db.create_pool(deployment.database_urls["tracking"], min_size=1, max_size=1)
    try:
        cases = await pool.fetchval(
            "SELECT count(*) FROM cases WHERE critique_id = $1", critique_id
        )
    finally:
        await pool.close()
    assert cases == 0
