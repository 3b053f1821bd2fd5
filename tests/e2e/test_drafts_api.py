"""Drafts through the running services: a drafting agency registers a draft over the agency
gRPC API, sends the Front its versions as DOCX and Markdown, and records its submission to the
issuing authority; tracking structures each version, computes the criticism window and the
diff, refuses what it cannot structure naming the line, and announces each fact on
``tracking.drafts``."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from contracts.events import Topic
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.support import kafka
from tests.support.directory import Directory, register
from tests.support.drafts import FIRST, bearer, first_version, in_days, registered
from tests.support.engines import Engines
from tests.support.services import Deployment

SECOND = """\
# NGHỊ ĐỊNH
Quy định mức thu phí sử dụng chợ

## Chương I
QUY ĐỊNH CHUNG

**Điều 1. Phạm vi điều chỉnh**
Nghị định này quy định mức thu phí sử dụng chợ.

**Điều 2. Mức thu**
1. Mức thu đối với hộ kinh doanh cố định:
a) Chợ hạng 1: 250.000 đồng/tháng;
b) Chợ hạng 2: 200.000 đồng/tháng.
2. Mức thu đối với hộ kinh doanh không cố định là 10.000 đồng/ngày.

**Điều 3. Miễn, giảm**
Hộ nghèo được miễn phí.
"""


def status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            assert isinstance(value, bytes)
            return status_pb2.Status.FromString(value)
    raise AssertionError("no google.rpc.Status in the trailers")


def detail(status: status_pb2.Status, kind: type[error_details_pb2.ErrorInfo]) -> Any:
    for packed in status.details:
        found = kind()
        if packed.Unpack(found):
            return found
    raise AssertionError(f"no {kind.__name__} in {status}")


@pytest.fixture
async def agency(deployment: Deployment) -> AsyncIterator[pb_grpc.AgencyServiceStub]:
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        yield pb_grpc.AgencyServiceStub(channel)


@pytest.fixture
async def drafting(deployment: Deployment) -> Directory:
    return await register(deployment)


async def test_a_draft_from_its_first_version_to_its_submission_to_the_issuing_authority(
    engines: Engines, agency: pb_grpc.AgencyServiceStub, drafting: Directory
) -> None:
    token = bearer(drafting.agency_token)
    draft = await registered(agency, drafting)
    again = await agency.RegisterDraft(
        pb.RegisterDraftRequest(
            request_id="same", type=pb.DRAFT_TYPE_DECREE, title="x", issuing_authority="y"
        ),
        metadata=token,
    )
    assert (
        await agency.RegisterDraft(
            pb.RegisterDraftRequest(
                request_id="same", type=pb.DRAFT_TYPE_LAW, title="z", issuing_authority="w"
            ),
            metadata=token,
        )
    ).draft_id == again.draft_id, "a retry returns the draft first registered"
    assert draft.agency_id == drafting.agency_id
    assert draft.type == pb.DRAFT_TYPE_DECREE

    # Version 1, in Word, 20 days ahead of its planned submission: a full window.
    request = first_version(draft, request_id="v1", planned_in=20)
    version = await agency.AddDraftVersion(request, metadata=token)
    assert version.number == 1
    assert version.format == pb.DRAFT_FORMAT_DOCX
    assert len(version.sha256) == 64
    assert list(version.preamble) == FIRST[:2]
    parts = {p.id: p for p in version.parts}
    assert list(parts) == [
        "chuong-1",
        "dieu-1",
        "dieu-2",
        "dieu-2.khoan-1",
        "dieu-2.khoan-1.diem-a",
        "dieu-2.khoan-1.diem-b",
        "dieu-2.khoan-2",
    ]
    point = parts["dieu-2.khoan-1.diem-a"]
    assert point.kind == pb.PART_KIND_POINT
    assert point.parent_id == "dieu-2.khoan-1"
    assert point.citation == "điểm a khoản 1 Điều 2"
    assert point.title == "Chợ hạng 1: 300.000 đồng/tháng;"
    assert version.window.days_given == 20
    assert version.window.minimum_days == 15
    assert not version.window.sent_late
    assert not version.changes
    retried = await agency.AddDraftVersion(request, metadata=token)
    assert retried == version, "a retry returns the version first registered"

    # Another version that follows 0 lost the race to version 1.
    with pytest.raises(grpc.aio.AioRpcError) as raced:
        await agency.AddDraftVersion(
            first_version(draft, request_id="v1-bis", planned_in=20), metadata=token
        )
    assert raced.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = detail(status_of(raced.value), error_details_pb2.ErrorInfo)
    assert info.reason == "VERSION_MISMATCH"
    assert info.metadata["current_version"] == "1"

    # Version 2, in Markdown, five days before the planned submission: sent late.
    second = await agency.AddDraftVersion(
        pb.AddDraftVersionRequest(
            draft_id=draft.draft_id,
            request_id="v2",
            follows_version=1,
            format=pb.DRAFT_FORMAT_TEXT,
            file_name="du-thao-lan-2.md",
            file=SECOND.encode(),
            planned_submission_date=in_days(5),
        ),
        metadata=token,
    )
    assert second.number == 2
    assert second.window.sent_late
    assert second.window.days_given == 5
    assert "ít hơn 15 ngày luật định" in second.window.explanation
    assert [(c.part_id, c.change) for c in second.changes] == [
        ("dieu-2.khoan-1.diem-a", pb.TEXT_CHANGE_CHANGED),
        ("dieu-3", pb.TEXT_CHANGE_ADDED),
    ]

    # Sent to the Government with a text other than version 2: changed without a new version.
    changed = SECOND.replace("Hộ nghèo được miễn phí.", "Hộ nghèo được giảm 50%.")
    sent = await agency.RecordSubmissionToAuthority(
        pb.RecordSubmissionToAuthorityRequest(
            draft_id=draft.draft_id,
            request_id="sent",
            format=pb.DRAFT_FORMAT_TEXT,
            file=changed.encode(),
        ),
        metadata=token,
    )
    submission = sent.sent_to_authority
    assert submission.version == 2
    assert submission.sent_on == in_days(0)
    assert submission.changed_without_new_version
    assert [(c.part_id, c.change) for c in submission.changes] == [
        ("dieu-3", pb.TEXT_CHANGE_CHANGED)
    ]
    assert submission.window.days_given == 0
    assert submission.window.sent_late
    assert [v.number for v in sent.versions] == [1, 2]

    for late in (
        agency.RecordSubmissionToAuthority(
            pb.RecordSubmissionToAuthorityRequest(
                draft_id=draft.draft_id,
                request_id="sent-again",
                format=pb.DRAFT_FORMAT_TEXT,
                file=SECOND.encode(),
            ),
            metadata=token,
        ),
        agency.AddDraftVersion(
            pb.AddDraftVersionRequest(
                draft_id=draft.draft_id,
                request_id="v3",
                follows_version=2,
                format=pb.DRAFT_FORMAT_TEXT,
                file_name="du-thao-lan-3.md",
                file=changed.encode(),
                planned_submission_date=in_days(30),
            ),
            metadata=token,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await late
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert detail(status_of(refused.value), error_details_pb2.ErrorInfo).reason == (
            "SENT_TO_AUTHORITY"
        )

    # What the agency reads back is what it was told; the list leaves the texts out.
    fetched = await agency.GetDraft(pb.GetDraftRequest(draft_id=draft.draft_id), metadata=token)
    assert fetched == sent
    listed = await agency.ListDrafts(pb.ListDraftsRequest(page_size=1), metadata=token)
    assert [d.draft_id for d in listed.drafts] == [again.draft_id], "newest first"
    assert not listed.drafts[0].versions
    rest = await agency.ListDrafts(
        pb.ListDraftsRequest(page_token=listed.next_page_token), metadata=token
    )
    assert [d.draft_id for d in rest.drafts] == [draft.draft_id]
    assert [v.number for v in rest.drafts[0].versions] == [1, 2]
    assert not rest.drafts[0].versions[0].parts
    assert rest.drafts[0].versions[1].window == second.window
    assert rest.drafts[0].sent_to_authority.changed_without_new_version
    assert not rest.next_page_token

    # Each fact went out on tracking.drafts, keyed by the draft, in order.
    def announced(records: list[Any]) -> list[str]:
        return [
            dict(r.headers)["ce_type"].decode() for r in records if r.key == draft.draft_id.encode()
        ]

    records = await kafka.read(
        engines.kafka_bootstrap,
        Topic.DRAFTS,
        until=lambda rs: len(announced(rs)) == 4,
    )
    assert announced(records) == [
        "vn.mttq.supervision.draft.registered.v1",
        "vn.mttq.supervision.draft.version_registered.v1",
        "vn.mttq.supervision.draft.version_registered.v1",
        "vn.mttq.supervision.draft.sent_to_authority.v1",
    ]
    last = next(
        json.loads(r.value)
        for r in records
        if r.key == draft.draft_id.encode()
        and dict(r.headers)["ce_type"] == b"vn.mttq.supervision.draft.sent_to_authority.v1"
    )
    assert last["changes"] == [{"part_id": "dieu-3", "change": "changed"}]


async def test_a_file_that_cannot_be_structured_is_refused_naming_the_line(
    agency: pb_grpc.AgencyServiceStub, drafting: Directory
) -> None:
    token = bearer(drafting.agency_token)
    draft = await registered(agency, drafting)
    skipping = "NGHỊ ĐỊNH\nĐiều 1. Phạm vi\n1. Một.\n3. Ba.\n"
    for file, format, expected in (
        (skipping.encode(), pb.DRAFT_FORMAT_TEXT, "line 4"),
        (b"\xff\xfe not UTF-8", pb.DRAFT_FORMAT_TEXT, "UTF-8"),
        (b"PK not a zip", pb.DRAFT_FORMAT_DOCX, "DOCX"),
        (b"", pb.DRAFT_FORMAT_TEXT, "empty"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await agency.AddDraftVersion(
                pb.AddDraftVersionRequest(
                    draft_id=draft.draft_id,
                    request_id=str(uuid.uuid4()),
                    format=format,
                    file_name="du-thao.txt",
                    file=file,
                    planned_submission_date=in_days(20),
                ),
                metadata=token,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad = detail(status_of(refused.value), error_details_pb2.BadRequest)
        assert [v.field for v in bad.field_violations] == ["file"]
        assert expected in bad.field_violations[0].description, bad

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await agency.AddDraftVersion(
            pb.AddDraftVersionRequest(draft_id="not-a-uuid", planned_submission_date="soon"),
            metadata=token,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {
        v.field
        for v in detail(status_of(refused.value), error_details_pb2.BadRequest).field_violations
    }
    assert fields == {"draft_id", "request_id", "format", "planned_submission_date"}

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await agency.AddDraftVersion(
            first_version(draft, request_id="past", planned_in=0), metadata=token
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = detail(status_of(refused.value), error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["planned_submission_date"]

    fetched = await agency.GetDraft(pb.GetDraftRequest(draft_id=draft.draft_id), metadata=token)
    assert not fetched.versions, "nothing refused was kept"


async def test_another_agencys_draft_is_not_found(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub, drafting: Directory
) -> None:
    draft = await registered(agency, drafting)
    other = await register(deployment)
    for call in (
        agency.GetDraft(
            pb.GetDraftRequest(draft_id=draft.draft_id), metadata=bearer(other.agency_token)
        ),
        agency.AddDraftVersion(
            first_version(draft, request_id="theirs", planned_in=20),
            metadata=bearer(other.agency_token),
        ),
        agency.GetDraft(
            pb.GetDraftRequest(draft_id=str(uuid.uuid4())), metadata=bearer(other.agency_token)
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await agency.ListDrafts(pb.ListDraftsRequest(), metadata=bearer(other.agency_token))
    assert not listed.drafts


async def test_a_social_criticism_cites_clauses_and_the_next_version_takes_it_in(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub, drafting: Directory
) -> None:
    """Submission checks each point's cited parts against the version it heard of from
    tracking and shows their text; tracking opens the case with the same citations."""
    token = bearer(drafting.agency_token)
    draft = await registered(agency, drafting)
    await agency.AddDraftVersion(
        first_version(draft, request_id="v1", planned_in=20), metadata=token
    )
    critique: dict[str, Any] = {
        "agency_id": drafting.agency_id,
        "kind": "social_criticism",
        "title": "Phản biện dự thảo Nghị định về phí chợ",
        "draft_version": {"draft_id": draft.draft_id, "version": 1},
        "points": [
            {
                "number": 1,
                "text": "Mức thu chợ hạng 1 quá cao so với thu nhập của tiểu thương.",
                "cites": ["dieu-2.khoan-1.diem-a"],
            },
            {"number": 2, "text": "Cần quy định miễn, giảm cho hộ nghèo.", "cites": ["dieu-2"]},
        ],
    }
    headers = {"Authorization": f"Bearer {drafting.organisation_token}"}
    async with deployment.http_client(base_url=deployment.submission_url) as http:
        async with asyncio.timeout(60):
            while True:  # until submission has heard of the version from tracking
                created = await http.post("/v1/critiques", json=critique, headers=headers)
                fields = [e["field"] for e in created.json().get("errors", [])]
                if created.status_code != 422 or fields != ["draft_version"]:
                    break
                await asyncio.sleep(0.2)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["draft_version"] == {"draft_id": draft.draft_id, "version": 1}
        assert body["draft"]["title"] == "Dự thảo Nghị định quy định mức thu phí sử dụng chợ"
        assert [p["cites"] for p in body["points"]] == [["dieu-2.khoan-1.diem-a"], ["dieu-2"]]
        first, second = body["cited"]
        assert first == {
            "point_number": 1,
            "parts": [
                {
                    "id": "dieu-2.khoan-1.diem-a",
                    "citation": "điểm a khoản 1 Điều 2",
                    "text": "Chợ hạng 1: 300.000 đồng/tháng;",
                }
            ],
        }
        assert second["point_number"] == 2
        assert second["parts"][0]["citation"] == "Điều 2"
        assert second["parts"][0]["text"].splitlines() == [
            "Mức thu",
            "1. Mức thu đối với hộ kinh doanh cố định:",
            "a) Chợ hạng 1: 300.000 đồng/tháng;",
            "b) Chợ hạng 2: 200.000 đồng/tháng.",
            "2. Mức thu đối với hộ kinh doanh không cố định là 10.000 đồng/ngày.",
        ]
        read = (await http.get(f"/v1/critiques/{body['id']}", headers=headers)).json()
        assert (read["points"], read["cited"]) == (body["points"], body["cited"])

        unknown = {**critique, "points": [{**critique["points"][0], "cites": ["dieu-9"]}]}
        refused = await http.post("/v1/critiques", json=unknown, headers=headers)
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["errors"]
        assert error["field"] == "points[0].cites"
        assert "dieu-9" in error["message"]

        other = await register(deployment)
        elsewhere = await http.post(
            "/v1/critiques",
            json={**critique, "agency_id": other.agency_id},
            headers={"Authorization": f"Bearer {other.organisation_token}"},
        )
        assert elsewhere.status_code == 422, elsewhere.text
        assert [e["field"] for e in elsewhere.json()["errors"]] == ["agency_id"]

        unnamed = {key: value for key, value in critique.items() if key != "draft_version"}
        unnamed["draft"] = {"title": "Dự thảo", "drafting_agency": "Sở", "version": "1"}
        loose = await http.post("/v1/critiques", json=unnamed, headers=headers)
        assert loose.status_code == 422, loose.text
        assert [e["field"] for e in loose.json()["errors"]] == [
            "points[0].cites",
            "points[1].cites",
        ]

    async with asyncio.timeout(60):
        while True:
            listed = await agency.ListCases(pb.ListCasesRequest(), metadata=token)
            cases = [c for c in listed.cases if c.critique_id == body["id"]]
            if cases:
                break
            await asyncio.sleep(0.2)
    [case] = cases
    assert case.draft_version.draft_id == draft.draft_id
    assert case.draft_version.version == 1
    assert [list(p.cites) for p in case.points] == [["dieu-2.khoan-1.diem-a"], ["dieu-2"]]

    # The agency answers: point 1 taken in, point 2 not.
    answered = await agency.SubmitAnswer(
        pb.SubmitAnswerRequest(
            case_id=case.case_id,
            request_id="answer",
            version=case.version,
            answers=[
                pb.PointAnswer(point_number=1, disposition=pb.DISPOSITION_ACCEPTED),
                pb.PointAnswer(
                    point_number=2,
                    disposition=pb.DISPOSITION_NOT_ACCEPTED,
                    explanation="Chính sách miễn, giảm đã có trong Điều 3.",
                ),
            ],
        ),
        metadata=token,
    )
    assert answered.case.status == pb.CASE_STATUS_ANSWERED

    def second_version(*links: pb.UptakeLink) -> pb.AddDraftVersionRequest:
        return pb.AddDraftVersionRequest(
            draft_id=draft.draft_id,
            request_id=str(uuid.uuid4()),
            follows_version=1,
            format=pb.DRAFT_FORMAT_TEXT,
            file_name="du-thao-lan-2.md",
            file=SECOND.encode(),
            planned_submission_date=in_days(20),
            links=links,
        )

    # A change cannot be linked to a point not taken in, nor to a point never answered.
    for link, field in (
        (pb.UptakeLink(case_id=case.case_id, point_number=2, part_ids=["dieu-3"]), "links"),
        (
            pb.UptakeLink(case_id=str(uuid.uuid4()), point_number=1, part_ids=["dieu-3"]),
            "links[0]",
        ),
        (pb.UptakeLink(case_id=case.case_id, point_number=1, part_ids=["dieu-9"]), "links"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as unlinkable:
            await agency.AddDraftVersion(second_version(link), metadata=token)
        assert unlinkable.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad = detail(status_of(unlinkable.value), error_details_pb2.BadRequest)
        assert [v.field for v in bad.field_violations] == [field], bad

    # Version 2 lowers the fee point 1 asked about, and adds Điều 3 that nobody asked for.
    second = await agency.AddDraftVersion(
        second_version(
            pb.UptakeLink(case_id=case.case_id, point_number=1, part_ids=["dieu-2.khoan-1.diem-a"])
        ),
        metadata=token,
    )
    assert second.number == 2
    [link] = second.links
    assert (link.critique_id, link.point_number) == (body["id"], 1)
    assert list(link.part_ids) == ["dieu-2.khoan-1.diem-a"]
    assert not second.accepted_unchanged
    assert list(second.changed_unasked) == ["dieu-3"]

    # The points read go back as they are in an amendment (refused by now, as answered: the
    # content itself is valid).
    async with deployment.http_client(base_url=deployment.submission_url) as http:
        amended = await http.put(
            f"/v1/critiques/{body['id']}",
            json={
                "title": read["title"],
                "points": read["points"],
                "draft_version": read["draft_version"],
            },
            headers=headers,
        )
    assert amended.status_code in {202, 409}, amended.text
