"""The submission API's rules, through the running services on the real engines: what a Front
office may submit, how it follows, amends and withdraws it, and what it is refused."""

from __future__ import annotations

import asyncio
import hashlib
import json
import unicodedata
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.support.directory import Directory, register
from tests.support.engines import Engines
from tests.support.services import Deployment, deployed

RATE_PER_SECOND, BURST = 5, 40


@pytest.fixture(scope="module")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    """The services with a tight rate limit, so that a flood can be shown to be contained."""
    async with deployed(
        engines,
        "submission",
        extra_env={
            "SUPERVISION_SUBMISSION_RATE_PER_SECOND": str(RATE_PER_SECOND),
            "SUPERVISION_SUBMISSION_RATE_BURST": str(BURST),
        },
    ) as running:
        yield running


@pytest.fixture
async def office(deployment: Deployment) -> Directory:
    return await register(deployment)


@pytest.fixture
async def http(deployment: Deployment, office: Directory) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=deployment.submission_url,
        headers={"Authorization": f"Bearer {office.organisation_token}"},
    ) as client:
        yield client


def critique(office: Directory, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agency_id": office.agency_id,
        "kind": "social_criticism",
        "title": "Phản biện dự thảo Nghị quyết về quy hoạch sử dụng đất",
        "draft": {
            "title": "Dự thảo Nghị quyết của HĐND xã về quy hoạch sử dụng đất",
            "drafting_agency": "Ủy ban nhân dân xã Hòa Bình",
            "version": "Dự thảo lần 2",
        },
        "legal_basis": "Điều 33 Luật Mặt trận Tổ quốc Việt Nam",
        "points": [
            {"number": 1, "text": "Cần công khai bản đồ quy hoạch.", "citation": "Điều 5, khoản 2"},
            {"number": 2, "text": "Bổ sung quỹ đất cho trường mầm non."},
        ],
    }
    body.update(changes)
    return body


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return [violation["field"] for violation in response.json()["errors"]]


async def acknowledge(deployment: Deployment, office: Directory, critique_id: str) -> None:
    """The agency confirms receipt over gRPC, and submission hears of it."""
    metadata = (("authorization", f"Bearer {office.agency_token}"),)
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        async with asyncio.timeout(60):
            while True:
                cases = await agency.ListCases(pb.ListCasesRequest(), metadata=metadata)
                case = next((c for c in cases.cases if c.critique_id == critique_id), None)
                if case is not None:
                    break
                await asyncio.sleep(0.2)
        await agency.AcknowledgeCase(
            pb.AcknowledgeCaseRequest(case_id=case.case_id), metadata=metadata
        )


async def status_becomes(http: httpx.AsyncClient, critique_id: str, status: str) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            current: dict[str, Any] = (await http.get(f"/v1/critiques/{critique_id}")).json()
            if current["status"] == status:
                return current
            await asyncio.sleep(0.3)


async def test_each_kind_is_accepted_and_vietnamese_text_round_trips_in_nfc(
    http: httpx.AsyncClient, office: Directory
) -> None:
    decomposed = unicodedata.normalize("NFD", "Kiến nghị về đường giao thông nông thôn")
    for kind, extra in (
        ("social_criticism", {}),
        ("supervision_recommendation", {"draft": None}),
        ("government_building_opinion", {"draft": None}),
    ):
        created = await http.post(
            "/v1/critiques", json=critique(office, kind=kind, title=decomposed, **extra)
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["kind"] == kind
        assert body["title"] == unicodedata.normalize("NFC", decomposed)
        assert body["points"][0]["citation"] == "Điều 5, khoản 2"
        fetched = (await http.get(f"/v1/critiques/{body['id']}")).json()
        assert fetched == body


async def test_social_criticism_must_name_its_draft(
    http: httpx.AsyncClient, office: Directory
) -> None:
    refused = await http.post("/v1/critiques", json=critique(office, draft=None))
    assert refused.status_code == 422
    assert problem_fields(refused) == ["draft"]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"kind": "petition"}, ["kind"]),
        ({"agency_id": "Bộ Tư pháp"}, ["agency_id"]),
        ({"title": "x" * 501}, ["title"]),
        ({"points": []}, ["points"]),
        ({"points": [{"number": 1, "text": ""}]}, ["points[0].text"]),
        ({"points": [{"number": 0, "text": "a"}]}, ["points[0].number"]),
        (
            {"points": [{"number": 1, "text": "a"}, {"number": 1, "text": "b"}]},
            ["points[0].number", "points[1].number"],
        ),
        ({"unexpected": True}, ["unexpected"]),
    ],
)
async def test_bad_submissions_are_refused_naming_the_field(
    http: httpx.AsyncClient, office: Directory, changes: dict[str, Any], fields: list[str]
) -> None:
    refused = await http.post("/v1/critiques", json=critique(office, **changes))
    assert refused.status_code == 422, refused.text
    assert problem_fields(refused) == fields
    assert (await http.get("/v1/critiques")).json()["items"] == []


async def test_an_unknown_agency_is_refused(http: httpx.AsyncClient, office: Directory) -> None:
    refused = await http.post("/v1/critiques", json=critique(office, agency_id="bo-khong-ton-tai"))
    assert refused.status_code == 422
    assert problem_fields(refused) == ["agency_id"]
    assert "GET /v1/agencies" in refused.json()["detail"]


@pytest.mark.parametrize(
    "changes",
    [
        {"classification": "mat"},
        {"classification": "tuyet_mat"},
        {"title": "TỐI MẬT - Báo cáo về quốc phòng"},
        {"points": [{"number": 1, "text": "Tài liệu TUYỆT MẬT đính kèm."}]},
    ],
)
async def test_classified_material_is_refused_and_not_stored(
    http: httpx.AsyncClient, office: Directory, changes: dict[str, Any]
) -> None:
    refused = await http.post("/v1/critiques", json=critique(office, **changes))
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/classified-material-refused")
    assert problem_fields(refused) == ["classification"]
    assert (await http.get("/v1/critiques")).json()["items"] == []


async def test_malformed_and_oversized_bodies_get_problems_not_500s(
    http: httpx.AsyncClient,
) -> None:
    for content, status in ((b"{not json", 422), (b"[]", 422), (b" " * (1024 * 1024 + 1), 413)):
        refused = await http.post(
            "/v1/critiques", content=content, headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_requests_without_a_live_token_are_unauthenticated(
    deployment: Deployment, office: Directory
) -> None:
    async with httpx.AsyncClient(base_url=deployment.submission_url) as anonymous:
        for headers in (
            {},
            {"Authorization": "Bearer sv_org_forged"},
            {"Authorization": "Basic x"},
        ):
            refused = await anonymous.post("/v1/critiques", json=critique(office), headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")


async def test_a_retried_post_with_the_same_idempotency_key_returns_the_first_critique(
    http: httpx.AsyncClient, office: Directory
) -> None:
    key = str(uuid.uuid4())
    attempts = await asyncio.gather(
        *(
            http.post("/v1/critiques", json=critique(office), headers={"Idempotency-Key": key})
            for _ in range(5)
        )
    )
    assert {r.status_code for r in attempts} == {201}
    assert len({r.json()["id"] for r in attempts}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in attempts) == 4
    assert len((await http.get("/v1/critiques")).json()["items"]) == 1

    reused = await http.post(
        "/v1/critiques", json=critique(office, title="Khác"), headers={"Idempotency-Key": key}
    )
    assert reused.status_code == 422
    assert problem_fields(reused) == ["Idempotency-Key"]


async def decided(http: httpx.AsyncClient, asked: httpx.Response) -> dict[str, Any]:
    """A request tracking decides, followed at its Location until it is decided."""
    async with asyncio.timeout(60):
        while True:
            request: dict[str, Any] = (await http.get(asked.headers["location"])).json()
            if request["status"] != "pending":
                return request
            await asyncio.sleep(0.2)


async def test_an_amendment_is_pending_until_tracking_accepts_it_and_the_history_says_so(
    deployment: Deployment, http: httpx.AsyncClient, office: Directory
) -> None:
    created = (await http.post("/v1/critiques", json=critique(office))).json()
    amended_content = critique(office)
    del amended_content["agency_id"], amended_content["kind"]
    amended_content["points"].append({"number": 3, "text": "Lấy ý kiến người dân bị ảnh hưởng."})

    asked = await http.put(
        f"/v1/critiques/{created['id']}", json=amended_content, headers={"If-Match": '"1"'}
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "pending"
    assert asked.json()["expected_version"] == 1
    pending = (await http.get(f"/v1/critiques/{created['id']}")).json()
    assert [r["id"] for r in pending["pending_requests"]] in ([asked.json()["id"]], [])
    accepted = await decided(http, asked)
    assert (accepted["status"], accepted["version"]) == ("accepted", 2)
    amended = await http.get(f"/v1/critiques/{created['id']}")
    assert amended.headers["etag"] == '"2"'
    assert len(amended.json()["points"]) == 3
    assert amended.json()["pending_requests"] == []

    stale = await http.put(
        f"/v1/critiques/{created['id']}", json=amended_content, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412

    await acknowledge(deployment, office, created["id"])
    acknowledged = await status_becomes(http, created["id"], "acknowledged")
    assert not acknowledged["changeable"]
    assert len(acknowledged["points"]) == 3

    for locked in (
        await http.put(f"/v1/critiques/{created['id']}", json=amended_content),
        await http.post(f"/v1/critiques/{created['id']}/withdrawal", json={"reason": "nhầm"}),
    ):
        assert locked.status_code == 409
        assert "acknowledged" in locked.json()["detail"]

    history = (await http.get(f"/v1/critiques/{created['id']}/history")).json()
    steps = [entry["step"] for entry in history]
    assert steps[0] == "submitted"
    assert steps[-1] == "acknowledged"
    assert steps.index("amendment_requested") < steps.index("amended")
    assert steps.index("case_opened") < steps.index("amended")  # tracking decides amendments
    amendment = next(entry for entry in history if entry["step"] == "amended")
    assert len(amendment["detail"]["content"]["points"]) == 3
    assert amendment["detail"]["request_id"] == asked.json()["id"]
    assert amendment["version"] == 2


async def test_a_request_tracking_refuses_is_refused_with_its_reason_in_the_api_and_history(
    deployment: Deployment, http: httpx.AsyncClient, office: Directory
) -> None:
    created = (await http.post("/v1/critiques", json=critique(office))).json()
    await status_becomes(http, created["id"], "awaiting_reply")
    content = critique(office, title="Sửa đổi sau khi cơ quan đã tiếp nhận")
    del content["agency_id"], content["kind"]
    # The agency acknowledges; the organisation, not yet told, asks to amend: tracking decides.
    await acknowledge(deployment, office, created["id"])
    asked = await http.put(f"/v1/critiques/{created['id']}", json=content)
    if asked.status_code == 409:  # submission had heard of the acknowledgement already
        assert "acknowledged" in asked.json()["detail"]
        return
    assert asked.status_code == 202, asked.text
    refused = await decided(http, asked)
    assert refused["status"] == "refused"
    assert refused["refusal"]["reason"] == "acknowledged"
    assert "acknowledged" in refused["refusal"]["detail"]
    current = (await http.get(f"/v1/critiques/{created['id']}")).json()
    assert (current["version"], current["title"]) == (1, created["title"])
    steps = [
        entry["step"] for entry in (await http.get(f"/v1/critiques/{created['id']}/history")).json()
    ]
    assert "amendment_refused" in steps
    assert "amended" not in steps


async def test_a_withdrawn_critique_stays_withdrawn_and_tracking_hears_of_it(
    deployment: Deployment, http: httpx.AsyncClient, office: Directory
) -> None:
    created = (await http.post("/v1/critiques", json=critique(office))).json()
    asked = await http.post(
        f"/v1/critiques/{created['id']}/withdrawal", json={"reason": "Đã thống nhất với cơ quan"}
    )
    assert asked.status_code == 202
    assert asked.json()["status"] == "pending"
    pending_again = await http.post(f"/v1/critiques/{created['id']}/withdrawal", json={})
    assert pending_again.json()["id"] == asked.json()["id"]  # the same request, still pending
    assert (await decided(http, asked))["status"] == "accepted"
    withdrawn = await status_becomes(http, created["id"], "withdrawn")
    assert not withdrawn["changeable"]
    again = await http.post(f"/v1/critiques/{created['id']}/withdrawal", json={})
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["status"]) == (asked.json()["id"], "accepted")
    amend = await http.put(f"/v1/critiques/{created['id']}", json={"title": "x", "points": []})
    assert amend.status_code in (409, 422)

    metadata = (("authorization", f"Bearer {office.agency_token}"),)
    async with (
        grpc.aio.insecure_channel(deployment.tracking_address) as channel,
        asyncio.timeout(60),
    ):
        agency = pb_grpc.AgencyServiceStub(channel)
        while True:
            cases = await agency.ListCases(pb.ListCasesRequest(), metadata=metadata)
            case = next((c for c in cases.cases if c.critique_id == created["id"]), None)
            if case is not None and case.status == pb.CASE_STATUS_WITHDRAWN:
                break
            await asyncio.sleep(0.2)


async def test_a_pdf_attachment_is_kept_with_its_hash_and_served_back(
    http: httpx.AsyncClient, office: Directory
) -> None:
    created = (await http.post("/v1/critiques", json=critique(office))).json()
    signed = "% Văn bản phản biện có chữ ký\n".encode()
    pdf = b"%PDF-1.4\n" + signed + bytes(range(256)) * 40 + b"\n%%EOF\n"
    uploaded = await http.post(
        f"/v1/critiques/{created['id']}/attachments",
        params={"filename": "văn bản phản biện.pdf"},
        content=pdf,
        headers={"Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()
    assert attachment["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert attachment["size"] == len(pdf)

    served = await http.get(f"/v1/critiques/{created['id']}/attachments/{attachment['id']}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/pdf"
    assert served.content == pdf
    disposition = served.headers["content-disposition"]
    assert (
        "filename*=UTF-8''v%C4%83n%20b%E1%BA%A3n%20ph%E1%BA%A3n%20bi%E1%BB%87n.pdf" in disposition
    )
    listed = (await http.get(f"/v1/critiques/{created['id']}/attachments")).json()
    assert [a["id"] for a in listed] == [attachment["id"]]

    for content, content_type, status in (
        (b"GIF89a", "application/pdf", 422),
        (pdf, "image/png", 415),
        (b"%PDF-" + b"0" * (20 * 1024 * 1024), "application/pdf", 413),
    ):
        refused = await http.post(
            f"/v1/critiques/{created['id']}/attachments",
            params={"filename": "x.pdf"},
            content=content,
            headers={"Content-Type": content_type},
        )
        assert refused.status_code == status


async def test_an_attachment_is_served_to_save_as_a_pdf_under_a_safe_name_whatever_its_name(
    http: httpx.AsyncClient, office: Directory
) -> None:
    created = (await http.post("/v1/critiques", json=critique(office))).json()
    pdf = b"%PDF-1.4\n<html><script>alert(1)</script></html>\n%%EOF\n"
    names = {
        "Biên bản họp Đảng đoàn.pdf": (
            "Bien ban hop Dang doan.pdf",
            "Bi%C3%AAn%20b%E1%BA%A3n%20h%E1%BB%8Dp%20%C4%90%E1%BA%A3ng%20%C4%91o%C3%A0n.pdf",
        ),
        'x"\r\nSet-Cookie: a=b\r\n\r\n<b>.html': (
            "x___Set-Cookie_ a_b_____b_.html",
            "x%22__Set-Cookie%3A%20a%3Db____%3Cb%3E.html",
        ),
        "..\\..\\Windows\\win.ini": ("_.._Windows_win.ini", "_.._Windows_win.ini"),
    }
    for uploaded, (fallback, encoded) in names.items():
        attached = await http.post(
            f"/v1/critiques/{created['id']}/attachments",
            params={"filename": uploaded},
            content=pdf,
            headers={"Content-Type": "application/pdf"},
        )
        assert attached.status_code == 201, attached.text
        served = await http.get(
            f"/v1/critiques/{created['id']}/attachments/{attached.json()['id']}"
        )
        assert served.status_code == 200, uploaded
        assert served.content == pdf
        assert served.headers["content-type"] == "application/pdf"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["cache-control"] == "no-store"
        assert served.headers["content-disposition"] == (
            f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
        )
        assert "set-cookie" not in served.headers


async def test_another_organisation_cannot_see_a_critique(
    deployment: Deployment, http: httpx.AsyncClient, office: Directory
) -> None:
    created = (await http.post("/v1/critiques", json=critique(office))).json()
    stranger = await register(deployment)
    async with httpx.AsyncClient(
        base_url=deployment.submission_url,
        headers={"Authorization": f"Bearer {stranger.organisation_token}"},
    ) as other:
        for response in (
            await other.get(f"/v1/critiques/{created['id']}"),
            await other.get(f"/v1/critiques/{created['id']}/history"),
            await other.post(f"/v1/critiques/{created['id']}/withdrawal", json={}),
        ):
            assert response.status_code == 404


async def test_critiques_are_listed_newest_first_page_by_page(
    http: httpx.AsyncClient, office: Directory
) -> None:
    ids = [(await http.post("/v1/critiques", json=critique(office))).json()["id"] for _ in range(5)]
    first = (await http.get("/v1/critiques", params={"limit": 3})).json()
    page_two = {"limit": 3, "cursor": first["next_cursor"]}
    second = (await http.get("/v1/critiques", params=page_two)).json()
    assert [c["id"] for c in first["items"] + second["items"]] == list(reversed(ids))
    assert second["next_cursor"] is None
    bad = await http.get("/v1/critiques", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
    assert problem_fields(bad) == ["cursor"]


async def test_one_organisations_flood_is_limited_without_starving_another(
    deployment: Deployment, http: httpx.AsyncClient, office: Directory
) -> None:
    flood = await asyncio.gather(*(http.get("/v1/me") for _ in range(BURST + 20)))
    statuses = [r.status_code for r in flood]
    assert statuses.count(200) <= BURST + RATE_PER_SECOND * 2
    limited = [r for r in flood if r.status_code == 429]
    assert limited
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
    assert limited[0].headers["content-type"].startswith("application/problem+json")

    neighbour = await register(deployment)
    async with httpx.AsyncClient(
        base_url=deployment.submission_url,
        headers={"Authorization": f"Bearer {neighbour.organisation_token}"},
    ) as other:
        served = await other.post("/v1/critiques", json=critique(neighbour))
    assert served.status_code == 201


async def test_the_largest_critique_accepted_travels_on_to_the_agency(
    deployment: Deployment, http: httpx.AsyncClient, office: Directory
) -> None:
    # Close to the 1 MiB request limit: the event is as large, and must still reach tracking
    # rather than stop the outbox behind it.
    text = ("Đề nghị rà soát lại quy hoạch sử dụng đất của xã. " * 200)[:5000]
    points: list[dict[str, Any]] = [{"number": n, "text": text} for n in range(1, 148)]
    body = critique(office, points=points)

    def encoded() -> bytes:
        return json.dumps(body, ensure_ascii=False).encode()

    while len(encoded()) > 1024 * 1024 - 200:
        points[-1]["text"] = points[-1]["text"][:-20]
    assert len(encoded()) > 1024 * 1024 - 400
    created = await http.post(
        "/v1/critiques", content=encoded(), headers={"Content-Type": "application/json"}
    )
    assert created.status_code == 201, created.text[:500]

    metadata = (("authorization", f"Bearer {office.agency_token}"),)
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        async with asyncio.timeout(60):
            while True:
                listed = await agency.ListCases(pb.ListCasesRequest(), metadata=metadata)
                if any(c.critique_id == created.json()["id"] for c in listed.cases):
                    break
                await asyncio.sleep(0.3)
    later = await http.post("/v1/critiques", json=critique(office))
    assert later.status_code == 201
