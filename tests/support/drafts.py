"""Drafts for tests: a decree's first version in Word, registered by a drafting agency over
the agency gRPC API."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import docx
import grpc
import httpx

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from contracts.vocabulary import VIETNAM
from tests.support.directory import Directory, register
from tests.support.journeys import case_of, eventually
from tests.support.services import Deployment


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


FIRST = [
    "NGHỊ ĐỊNH",
    "Quy định mức thu phí sử dụng chợ",
    "Chương I",
    "QUY ĐỊNH CHUNG",
    "Điều 1. Phạm vi điều chỉnh",
    "Nghị định này quy định mức thu phí sử dụng chợ.",
    "Điều 2. Mức thu",
    "1. Mức thu đối với hộ kinh doanh cố định:",
    "a) Chợ hạng 1: 300.000 đồng/tháng;",
    "b) Chợ hạng 2: 200.000 đồng/tháng.",
    "2. Mức thu đối với hộ kinh doanh không cố định là 10.000 đồng/ngày.",
]


def a_docx(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def in_days(days: int) -> str:
    return (datetime.now(VIETNAM).date() + timedelta(days=days)).isoformat()


async def registered(agency: pb_grpc.AgencyServiceStub, directory: Directory) -> pb.Draft:
    draft: pb.Draft = await agency.RegisterDraft(
        pb.RegisterDraftRequest(
            request_id=str(uuid.uuid4()),
            type=pb.DRAFT_TYPE_DECREE,
            title="Dự thảo Nghị định quy định mức thu phí sử dụng chợ",
            issuing_authority="Chính phủ",
        ),
        metadata=bearer(directory.agency_token),
    )
    return draft


def first_version(
    draft: pb.Draft, *, request_id: str, planned_in: int
) -> pb.AddDraftVersionRequest:
    return pb.AddDraftVersionRequest(
        draft_id=draft.draft_id,
        request_id=request_id,
        follows_version=0,
        format=pb.DRAFT_FORMAT_DOCX,
        file_name="du-thao-lan-1.docx",
        file=a_docx(FIRST),
        planned_submission_date=in_days(planned_in),
    )


SECOND = """\
NGHỊ ĐỊNH
Quy định mức thu phí sử dụng chợ
Chương I
QUY ĐỊNH CHUNG
Điều 1. Phạm vi điều chỉnh
Nghị định này quy định mức thu phí sử dụng chợ.
Điều 2. Mức thu
1. Mức thu đối với hộ kinh doanh cố định:
a) Chợ hạng 1: 250.000 đồng/tháng;
b) Chợ hạng 2: 200.000 đồng/tháng.
2. Mức thu đối với hộ kinh doanh không cố định là 10.000 đồng/ngày.
Điều 3. Miễn, giảm
Hộ nghèo được miễn phí.
"""
"""Version 2 of the decree: point a's fee lowered, Điều 3 added."""


@dataclass(frozen=True)
class Followed:
    """One draft followed from its first version to the next, as :func:`followed` makes it."""

    office: Directory
    draft: pb.Draft
    critique_id: str


async def followed(deployment: Deployment) -> Followed:
    """A commune People's Committee registers a decree's first version five days before its
    planned submission (late); its Front committee criticises two of its clauses; the agency
    takes in point 1, partly point 2, and registers version 2 linking point 1 to the clause it
    changed."""
    office = await register(deployment)
    token = bearer(office.agency_token)
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        draft = await registered(agency, office)
        # Five days before its planned submission: the Front received it late.
        await agency.AddDraftVersion(
            first_version(draft, request_id="v1", planned_in=5), metadata=token
        )
        critique: dict[str, Any] = {
            "agency_id": office.agency_id,
            "kind": "social_criticism",
            "title": "Phản biện dự thảo Nghị định về phí chợ",
            "draft_version": {"draft_id": draft.draft_id, "version": 1},
            "points": [
                {
                    "number": 1,
                    "text": "Mức thu chợ hạng 1 quá cao.",
                    "cites": ["dieu-2.khoan-1.diem-a"],
                },
                {
                    "number": 2,
                    "text": "Mức thu ngày với hộ không cố định cần giảm.",
                    "cites": ["dieu-2.khoan-2"],
                },
            ],
        }
        headers = {"Authorization": f"Bearer {office.organisation_token}"}
        async with httpx.AsyncClient(base_url=deployment.submission_url) as http:

            async def submitted() -> str | None:
                created = await http.post("/v1/critiques", json=critique, headers=headers)
                if created.status_code == 422:  # submission has not heard of the version yet
                    return None
                assert created.status_code == 201, created.text
                return str(created.json()["id"])

            critique_id = await eventually(submitted)
        case = await case_of(deployment, office, critique_id)
        await agency.SubmitAnswer(
            pb.SubmitAnswerRequest(
                case_id=case.case_id,
                request_id="answer",
                version=case.version,
                answers=[
                    pb.PointAnswer(point_number=1, disposition=pb.DISPOSITION_ACCEPTED),
                    pb.PointAnswer(
                        point_number=2,
                        disposition=pb.DISPOSITION_PARTLY_ACCEPTED,
                        explanation="Sẽ xem xét khi sửa đổi Nghị định.",
                    ),
                ],
            ),
            metadata=token,
        )
        await agency.AddDraftVersion(
            pb.AddDraftVersionRequest(
                draft_id=draft.draft_id,
                request_id="v2",
                follows_version=1,
                format=pb.DRAFT_FORMAT_TEXT,
                file_name="du-thao-lan-2.txt",
                file=SECOND.encode(),
                planned_submission_date=in_days(30),
                links=[
                    pb.UptakeLink(
                        case_id=case.case_id, point_number=1, part_ids=["dieu-2.khoan-1.diem-a"]
                    )
                ],
            ),
            metadata=token,
        )

    return Followed(office, draft, critique_id)
