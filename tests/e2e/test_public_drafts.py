"""A person follows one draft on the public side, through the running services: its first
version as the drafting agency sent it, the Front's critique citing its clauses, the agency's
answers beside those clauses, and the next version with what it took in and what it did not.
Every draft document is a leaf of the transparency log."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import httpx

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.support.directory import register
from tests.support.drafts import bearer, first_version, in_days, registered
from tests.support.journeys import case_of, eventually
from tests.support.services import Deployment

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


async def test_one_draft_from_its_first_version_through_the_critique_to_the_next_version(
    deployment: Deployment,
) -> None:
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

    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as public:

        async def both_versions() -> dict[str, Any] | None:
            reply = await public.get(f"/v1/drafts/{draft.draft_id}")
            body: dict[str, Any] = reply.json()
            return body if reply.status_code == 200 and len(body["versions"]) == 2 else None

        published = await eventually(both_versions)
        first, second = published["versions"]
        assert published["sent_late"]
        assert first["window"]["sent_late"]
        assert not second["window"]["sent_late"]
        assert published["draft_type_label"] == "Nghị định / Decree"
        assert [c["part_id"] for c in second["changes"]] == ["dieu-2.khoan-1.diem-a", "dieu-3"]
        assert second["changed_unasked"] == ["dieu-3"]
        assert [(a["critique_id"], a["point_number"]) for a in second["accepted_unchanged"]] == [
            (critique_id, 2)
        ]

        async def record_with_text() -> dict[str, Any] | None:
            reply = await public.get(f"/v1/records/{critique_id}")
            if reply.status_code != 200:
                return None
            body: dict[str, Any] = reply.json()
            return body if body["points"][0]["cited"] else None

        record = await eventually(record_with_text)
        assert record["draft_version"] == {"draft_id": draft.draft_id, "version": 1}
        assert record["draft"]["title"] == "Dự thảo Nghị định quy định mức thu phí sử dụng chợ"
        assert record["points"][0]["cited"] == [
            {
                "id": "dieu-2.khoan-1.diem-a",
                "citation": "điểm a khoản 1 Điều 2",
                "text": "Chợ hạng 1: 300.000 đồng/tháng;",
            }
        ]

        listed = (await public.get(f"/v1/drafts/{draft.draft_id}/records")).json()["items"]
        assert [r["critique_id"] for r in listed] == [critique_id]
        assert draft.draft_id in [
            d["draft_id"] for d in (await public.get("/v1/drafts")).json()["items"]
        ]

        # The page: the clause, the point citing it and the answer beside it, what changed.
        page = await public.get(f"/drafts/{draft.draft_id}")
        assert page.status_code == 200
        html = page.text
        row = html[html.index('id="v1-dieu-2.khoan-1.diem-a"') :]
        row = row[: row.index("</tr>")]
        assert "Chợ hạng 1: 300.000 đồng/tháng;" in row
        assert "Mức thu chợ hạng 1 quá cao." in row
        assert "Tiếp thu" in row
        assert "Mặt trận nhận dự thảo muộn" in html
        assert "Đã tiếp thu nhưng không sửa" in html
        assert "Sửa đổi mà không có ý kiến nào đề nghị" in html
        record_page = (await public.get(f"/records/{critique_id}")).text
        assert f'href="/drafts/{draft.draft_id}#version-1"' in record_page
        assert "điểm a khoản 1 Điều 2" in record_page

        # Each draft document published is a leaf of the log, exactly as served.
        leaves = (await public.get(f"/v1/log/drafts/{draft.draft_id}")).json()["leaves"]
        assert len(leaves) >= 2
        last = (await public.get(f"/v1/log/leaves/{leaves[-1]['index']}")).json()
        assert json.loads(base64.b64decode(last["document"])) == published
