"""The agency gRPC API through grpcurl, a real third-party client that knows nothing of our
stubs: everything it needs (services, methods, message types, error details) it learns from the
running tracking server's reflection. What an integrator types is what is tested here.

grpcurl prints JSON with the proto field names (``case_id``), enums by name, and leaves out
fields at their zero value. A failed call prints ``ERROR:`` / ``Code: ...`` / ``Message: ...``
and each google.rpc detail as JSON on stderr, and exits with 64 + the status code."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts.vocabulary import VIETNAM
from tests.support.directory import Directory, register
from tests.support.grpcurl import grpcurl
from tests.support.services import Deployment

SERVICE = "supervision.agency.v1.AgencyService"
POINTS = [
    (1, "Mức phí quá cao so với thu nhập của tiểu thương."),
    (2, "Cần lấy ý kiến tiểu thương trước khi ban hành."),
]
INVALID_ARGUMENT, UNAUTHENTICATED = 3, 16


def exit_code(status_code: int) -> int:
    """grpcurl's exit code for a call that ended with this gRPC status code."""
    return 64 + status_code


@dataclass(frozen=True)
class Submitted:
    directory: Directory
    critique_id: str


@pytest.fixture(scope="module")
async def submitted(deployment: Deployment) -> Submitted:
    """A fresh agency and a critique addressed to it, submitted over HTTP by its organisation."""
    directory = await register(deployment)
    async with httpx.AsyncClient() as http:
        created = await http.post(
            f"{deployment.submission_url}/v1/critiques",
            json={
                "agency_id": directory.agency_id,
                "kind": "social_criticism",
                "title": "Phản biện dự thảo nghị quyết về phí chợ",
                "draft": {
                    "title": "Dự thảo Nghị quyết quy định mức thu phí chợ",
                    "drafting_agency": "Sở Tài chính",
                    "version": "Dự thảo lần 2",
                },
                "points": [{"number": n, "text": text} for n, text in POINTS],
            },
            headers={"Authorization": f"Bearer {directory.organisation_token}"},
        )
    assert created.status_code == 201, created.text
    return Submitted(directory, created.json()["id"])


def call(
    deployment: Deployment, method: str, token: str, data: dict[str, Any] | None = None
) -> Any:
    """A successful call's JSON response, as grpcurl printed it."""
    done = grpcurl(deployment.tracking_address, f"{SERVICE}/{method}", token=token, data=data)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def listed_case(
    deployment: Deployment, submitted: Submitted, timeout: float = 60
) -> dict[str, Any]:
    """The critique's case as grpcurl's ListCases shows it, once tracking has opened it."""
    async with asyncio.timeout(timeout):
        while True:
            listed = call(deployment, "ListCases", submitted.directory.agency_token)
            for case in listed.get("cases", []):
                if case["critique_id"] == submitted.critique_id:
                    return dict(case)
            await asyncio.sleep(0.2)


def test_list_shows_the_services_reflection_knows(deployment: Deployment) -> None:
    listed = grpcurl(deployment.tracking_address, "list")

    assert listed.returncode == 0, listed.stderr
    services = listed.stdout.split()
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services
    # grpcio-reflection serves v1alpha only; grpcurl asks for v1 first and falls back.
    assert any(
        s.startswith("grpc.reflection.") and s.endswith(".ServerReflection") for s in services
    ), services


def test_describe_shows_the_agency_rpcs(deployment: Deployment) -> None:
    described = grpcurl(deployment.tracking_address, "describe", SERVICE)

    assert described.returncode == 0, described.stderr
    assert f"{SERVICE} is a service:" in described.stdout
    for rpc, request, response in (
        ("ListCases", "ListCasesRequest", "ListCasesResponse"),
        ("GetCase", "GetCaseRequest", "Case"),
        ("AcknowledgeCase", "AcknowledgeCaseRequest", "Case"),
        ("SubmitAnswer", "SubmitAnswerRequest", "SubmitAnswerResponse"),
        ("RegisterDraft", "RegisterDraftRequest", "Draft"),
        ("AddDraftVersion", "AddDraftVersionRequest", "DraftVersion"),
        ("GetDraft", "GetDraftRequest", "Draft"),
        ("ListDrafts", "ListDraftsRequest", "ListDraftsResponse"),
        ("RecordSubmissionToAuthority", "RecordSubmissionToAuthorityRequest", "Draft"),
    ):
        assert (
            f"rpc {rpc} ( .supervision.agency.v1.{request} )"
            f" returns ( .supervision.agency.v1.{response} );"
        ) in described.stdout


@pytest.mark.parametrize("service", ["", SERVICE], ids=["server", "agency-service"])
def test_health_check_reports_serving(deployment: Deployment, service: str) -> None:
    checked = grpcurl(
        deployment.tracking_address, "grpc.health.v1.Health/Check", data={"service": service}
    )

    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout) == {"status": "SERVING"}


async def test_list_cases_returns_the_case_of_a_critique_just_submitted(
    deployment: Deployment, submitted: Submitted
) -> None:
    case = await listed_case(deployment, submitted)

    assert case["agency_id"] == submitted.directory.agency_id
    assert case["organisation_id"] == submitted.directory.organisation_id
    assert case["kind"] == "CRITIQUE_KIND_SOCIAL_CRITICISM"
    assert case["status"] == "CASE_STATUS_AWAITING_ANSWER"
    assert case["title"] == "Phản biện dự thảo nghị quyết về phí chợ"


async def test_get_case_returns_its_points(deployment: Deployment, submitted: Submitted) -> None:
    case_id = (await listed_case(deployment, submitted))["case_id"]

    case = call(deployment, "GetCase", submitted.directory.agency_token, data={"case_id": case_id})

    assert case["case_id"] == case_id
    assert case["critique_id"] == submitted.critique_id
    assert [(p["number"], p["text"]) for p in case["points"]] == POINTS


def test_list_cases_without_a_token_is_unauthenticated(deployment: Deployment) -> None:
    refused = grpcurl(deployment.tracking_address, f"{SERVICE}/ListCases")

    assert refused.returncode == exit_code(UNAUTHENTICATED), refused.stderr
    assert refused.stdout == ""
    assert "Code: Unauthenticated" in refused.stderr


async def test_an_answer_to_a_point_not_in_the_case_names_the_field(
    deployment: Deployment, submitted: Submitted
) -> None:
    case_id = (await listed_case(deployment, submitted))["case_id"]
    answer = {
        "case_id": case_id,
        "request_id": "grpcurl-bad-point",
        "version": 1,
        "answers": [
            {"point_number": 1, "disposition": "DISPOSITION_ACCEPTED"},
            {"point_number": 2, "disposition": "DISPOSITION_ACCEPTED"},
            {"point_number": 7, "disposition": "DISPOSITION_ACCEPTED"},
        ],
    }
    token = submitted.directory.agency_token

    refused = grpcurl(
        deployment.tracking_address, f"{SERVICE}/SubmitAnswer", token=token, data=answer
    )
    # The default output: code and message, then each detail as indented JSON.
    assert refused.returncode == exit_code(INVALID_ARGUMENT), refused.stderr
    assert "Code: InvalidArgument" in refused.stderr
    assert '"@type": "type.googleapis.com/google.rpc.BadRequest"' in refused.stderr
    assert '"field": "answers[2].point_number"' in refused.stderr

    # -format-error: the whole google.rpc.Status as JSON on stderr, for scripts.
    formatted = grpcurl(
        deployment.tracking_address,
        f"{SERVICE}/SubmitAnswer",
        token=token,
        data=answer,
        flags=["-format-error"],
    )
    assert formatted.returncode == exit_code(INVALID_ARGUMENT), formatted.stderr
    status = json.loads(formatted.stderr)
    assert status["code"] == INVALID_ARGUMENT
    [bad_request] = status["details"]
    assert bad_request["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    violations = {v["field"]: v["description"] for v in bad_request["field_violations"]}
    assert list(violations) == ["answers[2].point_number"]
    assert "7" in violations["answers[2].point_number"]

    # Refused, so the case is still waiting for its answer.
    still_open = call(deployment, "GetCase", token, data={"case_id": case_id})
    assert still_open["status"] == "CASE_STATUS_AWAITING_ANSWER"


def test_a_draft_is_registered_and_its_version_sent_with_nothing_but_reflection(
    deployment: Deployment, submitted: Submitted
) -> None:
    """An integrator's first draft from a shell: the file goes base64-encoded, as proto3 JSON
    writes bytes; a file whose numbering skips is refused naming the line."""
    token = submitted.directory.agency_token
    draft = call(
        deployment,
        "RegisterDraft",
        token,
        {
            "request_id": "grpcurl-draft",
            "type": "DRAFT_TYPE_RESOLUTION",
            "title": "Dự thảo Nghị quyết quy định mức thu phí chợ",
            "issuing_authority": "Hội đồng nhân dân tỉnh",
        },
    )
    assert draft["type"] == "DRAFT_TYPE_RESOLUTION"
    text = "NGHỊ QUYẾT\nĐiều 1. Mức thu\n1. Chợ hạng 1.\na) Hộ cố định: 300.000 đồng.\n"
    planned = (datetime.now(VIETNAM).date() + timedelta(days=30)).isoformat()
    version = {
        "draft_id": draft["draft_id"],
        "request_id": "grpcurl-v1",
        "format": "DRAFT_FORMAT_TEXT",
        "file_name": "nghi-quyet.md",
        "file": base64.b64encode(text.encode()).decode(),
        "planned_submission_date": planned,
    }
    added = call(deployment, "AddDraftVersion", token, version)
    assert added["number"] == 1
    assert added["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert [p["id"] for p in added["parts"]] == [
        "dieu-1",
        "dieu-1.khoan-1",
        "dieu-1.khoan-1.diem-a",
    ]
    assert added["parts"][2]["citation"] == "điểm a khoản 1 Điều 1"
    assert added["window"]["days_given"] == 30

    skipping = text.replace("a) Hộ", "b) Hộ")
    refused = grpcurl(
        deployment.tracking_address,
        f"{SERVICE}/AddDraftVersion",
        token=token,
        data={
            **version,
            "request_id": "grpcurl-v2",
            "follows_version": 1,
            "file": base64.b64encode(skipping.encode()).decode(),
        },
        flags=["-format-error"],
    )
    assert refused.returncode == exit_code(INVALID_ARGUMENT), refused.stderr
    [bad_request] = json.loads(refused.stderr)["details"]
    [violation] = bad_request["field_violations"]
    assert violation["field"] == "file"
    assert "line 4" in violation["description"]
