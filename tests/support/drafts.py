"""Drafts for tests: a decree's first version in Word, registered by a drafting agency over
the agency gRPC API."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta

import docx

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from contracts.vocabulary import VIETNAM
from tests.support.directory import Directory


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
