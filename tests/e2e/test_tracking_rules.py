"""Tracking's rules through the real gRPC server and the other services: due dates and how they
were computed, extensions decided by the submitting organisation, late answers, overdue cases
escalated one Front level up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

import grpc
import httpx
import pytest

from contracts.events import Level
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from contracts.submission_api import OrganisationKind
from contracts.vocabulary import VIETNAM
from services import admin
from services.platform import db, tokens
from services.submission import directory as submission_directory
from services.tracking import commands, schedule
from tests.support.directory import Directory, register
from tests.support.services import Deployment

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 60) -> T:
    async with asyncio.timeout(timeout):
        while (result := await check()) is None or result is False:
            await asyncio.sleep(0.2)
    return result


@pytest.fixture
async def agency(deployment: Deployment) -> AsyncIterator[pb_grpc.AgencyServiceStub]:
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        yield pb_grpc.AgencyServiceStub(channel)


@pytest.fixture
async def tracking_db(deployment: Deployment) -> AsyncIterator[db.Pool]:
    pool = await db.create_pool(deployment.database_urls["tracking"], min_size=1, max_size=2)
    yield pool
    await pool.close()


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


class Office:
    """A commune Front committee under a provincial one, both with tokens, and its agency."""

    def __init__(self, directory: Directory, parent_id: str, parent_token: str) -> None:
        self.directory = directory
        self.parent_id = parent_id
        self.parent_token = parent_token


@pytest.fixture
async def office(deployment: Deployment) -> Office:
    suffix = uuid.uuid4().hex[:6]
    parent_id, parent_token = f"mttq-tinh-{suffix}", tokens.issue("sv_org")
    url = deployment.database_urls["submission"]
    await admin.save_organisations(
        url,
        [
            admin.OrganisationEntry(
                id=parent_id,
                name="Ủy ban MTTQ Việt Nam tỉnh Thử Nghiệm",
                level=Level.PROVINCIAL,
                kind=OrganisationKind.FRONT_COMMITTEE,
            )
        ],
    )
    await admin.issue_token(url, submission_directory.TOKENS, parent_id, "e2e", parent_token)
    directory = await register(deployment)
    async with admin.pool(url) as pool:
        await pool.execute(
            "UPDATE organisations SET parent_id = $2 WHERE id = $1",
            directory.organisation_id,
            parent_id,
        )
    return Office(directory, parent_id, parent_token)


async def submit(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub, office: Office, **changes: Any
) -> tuple[str, pb.Case]:
    body = {
        "agency_id": office.directory.agency_id,
        "kind": "supervision_recommendation",
        "title": "Kiến nghị về việc sửa chữa trường tiểu học",
        "points": [
            {"number": 1, "text": "Sửa mái phòng học trước mùa mưa."},
            {"number": 2, "text": "Công khai kinh phí sửa chữa."},
        ],
        **changes,
    }
    async with httpx.AsyncClient(base_url=deployment.submission_url) as http:
        created = await http.post(
            "/v1/critiques",
            json=body,
            headers={"Authorization": f"Bearer {office.directory.organisation_token}"},
        )
    assert created.status_code == 201, created.text
    critique_id = created.json()["id"]
    metadata = bearer(office.directory.agency_token)

    async def opened() -> pb.Case | None:
        listed = await agency.ListCases(pb.ListCasesRequest(), metadata=metadata)
        return next((c for c in listed.cases if c.critique_id == critique_id), None)

    return critique_id, await eventually(opened)


async def critique(deployment: Deployment, office: Office, critique_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=deployment.submission_url) as http:
        reply = await http.get(
            f"/v1/critiques/{critique_id}",
            headers={"Authorization": f"Bearer {office.directory.organisation_token}"},
        )
    body: dict[str, Any] = reply.json()
    return body


async def test_a_case_says_how_its_due_date_was_computed_and_keeps_its_history(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub, office: Office
) -> None:
    _, case = await submit(deployment, agency, office)
    metadata = bearer(office.directory.agency_token)
    start = date.fromisoformat(case.due_rule.start)
    assert case.due_rule.days == 30
    assert case.due_rule.counting == "calendar"
    assert case.due_rule.source == "default"
    assert date.fromisoformat(case.due_date) >= start + timedelta(days=30)
    assert "30 ngày" in case.due_rule.explanation
    assert "30 calendar days" in case.due_rule.explanation

    await agency.AcknowledgeCase(pb.AcknowledgeCaseRequest(case_id=case.case_id), metadata=metadata)
    again = await agency.AcknowledgeCase(
        pb.AcknowledgeCaseRequest(case_id=case.case_id), metadata=metadata
    )
    assert again.status == pb.CASE_STATUS_ACKNOWLEDGED
    full = await agency.GetCase(pb.GetCaseRequest(case_id=case.case_id), metadata=metadata)
    assert [h.change for h in full.history] == [pb.CHANGE_KIND_OPENED, pb.CHANGE_KIND_ACKNOWLEDGED]


async def test_an_extension_granted_by_the_organisation_moves_the_due_date_everywhere(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub, office: Office
) -> None:
    critique_id, case = await submit(deployment, agency, office)
    metadata = bearer(office.directory.agency_token)
    wanted = (date.fromisoformat(case.due_date) + timedelta(days=20)).isoformat()
    request = pb.RequestExtensionRequest(
        case_id=case.case_id,
        request_id="gia-han-1",
        reason="Cần thêm thời gian khảo sát hiện trạng trường học.",
        requested_due_date=wanted,
    )
    requested = await agency.RequestExtension(request, metadata=metadata)
    retried = await agency.RequestExtension(request, metadata=metadata)
    assert [e.status for e in retried.extensions] == [pb.EXTENSION_STATUS_PENDING]
    assert retried.extensions == requested.extensions

    with pytest.raises(grpc.aio.AioRpcError) as second:
        await agency.RequestExtension(
            pb.RequestExtensionRequest(
                case_id=case.case_id,
                request_id="gia-han-2",
                reason="Thêm nữa",
                requested_due_date=wanted,
            ),
            metadata=metadata,
        )
    assert second.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    async with httpx.AsyncClient(
        base_url=deployment.submission_url,
        headers={"Authorization": f"Bearer {office.directory.organisation_token}"},
    ) as http:

        async def pending() -> list[dict[str, Any]] | None:
            found = (await http.get(f"/v1/critiques/{critique_id}/extensions")).json()
            return found or None

        extension = (await eventually(pending))[0]
        assert extension["requested_due_date"] == wanted
        assert extension["status"] == "pending"
        decided = await http.post(
            f"/v1/critiques/{critique_id}/extensions/{extension['id']}/decision",
            json={"grant": True, "note": "Đồng ý gia hạn."},
        )
        assert decided.status_code == 202, decided.text  # tracking applies it
        assert decided.json()["status"] == "pending"
        reversed_decision = await http.post(
            f"/v1/critiques/{critique_id}/extensions/{extension['id']}/decision",
            json={"grant": False},
        )
        assert reversed_decision.status_code == 409

        async def applied() -> dict[str, Any] | None:
            request = (await http.get(decided.headers["location"])).json()
            return request if request["status"] != "pending" else None

        assert (await eventually(applied))["status"] == "accepted"
        again = await http.post(
            f"/v1/critiques/{critique_id}/extensions/{extension['id']}/decision",
            json={"grant": True, "note": "Đồng ý gia hạn."},
        )
        assert (again.status_code, again.json()["id"]) == (200, decided.json()["id"])

    async def moved() -> pb.Case | None:
        current = await agency.GetCase(pb.GetCaseRequest(case_id=case.case_id), metadata=metadata)
        return current if current.due_date == wanted else None

    extended = await eventually(moved)
    assert extended.due_rule.source == "extension granted"
    assert extended.extensions[0].status == pb.EXTENSION_STATUS_GRANTED
    assert pb.CHANGE_KIND_EXTENSION_GRANTED in [h.change for h in extended.history]
    followed = await eventually(
        lambda: _when(critique(deployment, office, critique_id), lambda c: c["due_date"] == wanted)
    )
    assert followed["due_date"] == wanted


async def _when(
    fetch: Awaitable[dict[str, Any]], condition: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    value = await fetch
    return value if condition(value) else None


async def test_bad_extension_requests_are_refused_naming_the_field(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub, office: Office
) -> None:
    _, case = await submit(deployment, agency, office)
    metadata = bearer(office.directory.agency_token)
    for requested, reason, field in (
        (case.due_date, "Lý do", "requested_due_date"),
        ("30/02/2026", "Lý do", "requested_due_date"),
        ((date.fromisoformat(case.due_date) + timedelta(days=5)).isoformat(), " ", "reason"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await agency.RequestExtension(
                pb.RequestExtensionRequest(
                    case_id=case.case_id,
                    request_id=str(uuid.uuid4()),
                    reason=reason,
                    requested_due_date=requested,
                ),
                metadata=metadata,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in (refused.value.details() or "")


async def test_an_answer_after_the_due_date_is_recorded_and_shown_as_late(
    deployment: Deployment,
    agency: pb_grpc.AgencyServiceStub,
    office: Office,
    tracking_db: db.Pool,
) -> None:
    critique_id, case = await submit(deployment, agency, office)
    yesterday = (schedule.system_clock().astimezone(VIETNAM) - timedelta(days=1)).date()
    await tracking_db.execute(
        "UPDATE cases SET due_date = $2 WHERE id = $1", uuid.UUID(case.case_id), yesterday
    )
    answered = await agency.SubmitAnswer(
        pb.SubmitAnswerRequest(
            case_id=case.case_id,
            request_id="tra-loi",
            version=case.version,
            answers=[
                pb.PointAnswer(point_number=1, disposition=pb.DISPOSITION_ACCEPTED),
                pb.PointAnswer(
                    point_number=2,
                    disposition=pb.DISPOSITION_PARTLY_ACCEPTED,
                    explanation="Sẽ công khai sau khi quyết toán.",
                ),
            ],
        ),
        metadata=bearer(office.directory.agency_token),
    )
    assert answered.case.answered_late
    followed = await eventually(
        lambda: _when(critique(deployment, office, critique_id), lambda c: c["answered_late"])
    )
    assert followed["status"] == "answered"

    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as public:

        async def disclosed() -> dict[str, Any] | None:
            reply = await public.get(f"/v1/records/{critique_id}")
            return reply.json() if reply.status_code == 200 else None

        record = await eventually(disclosed)
    assert record["status"] == "answered_late"


async def test_an_overdue_case_is_listed_as_such_and_escalated_to_the_committee_above(
    deployment: Deployment,
    agency: pb_grpc.AgencyServiceStub,
    office: Office,
    tracking_db: db.Pool,
) -> None:
    critique_id, case = await submit(deployment, agency, office)
    metadata = bearer(office.directory.agency_token)
    after_due = date.fromisoformat(case.due_date) + timedelta(days=1)
    fired = await commands.fire_due(tracking_db, now=_hanoi_midnight(after_due))
    assert fired >= 3  # reminders, overdue and escalation of this case (and maybe others')

    overdue = await agency.ListCases(pb.ListCasesRequest(overdue_only=True), metadata=metadata)
    assert [c.case_id for c in overdue.cases] == [case.case_id]
    assert overdue.cases[0].overdue
    due_soon = await agency.ListCases(
        pb.ListCasesRequest(due_before=case.due_date, due_after=case.due_date), metadata=metadata
    )
    assert [c.case_id for c in due_soon.cases] == [case.case_id]
    none_yet = await agency.ListCases(
        pb.ListCasesRequest(kind=pb.CRITIQUE_KIND_SOCIAL_CRITICISM), metadata=metadata
    )
    assert list(none_yet.cases) == []

    async with httpx.AsyncClient(
        base_url=deployment.submission_url,
        headers={"Authorization": f"Bearer {office.parent_token}"},
    ) as parent:

        async def escalated() -> list[dict[str, Any]] | None:
            found = (await parent.get("/v1/escalations")).json()
            return [e for e in found if e["critique_id"] == critique_id] or None

        escalation = (await eventually(escalated))[0]
    assert escalation["organisation_id"] == office.directory.organisation_id
    assert escalation["due_date"] == case.due_date
    followed = await eventually(
        lambda: _when(critique(deployment, office, critique_id), lambda c: c["overdue"])
    )
    assert followed["overdue"]


async def test_a_withdrawn_case_can_be_neither_acknowledged_nor_answered(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub, office: Office
) -> None:
    critique_id, case = await submit(deployment, agency, office)
    async with httpx.AsyncClient(base_url=deployment.submission_url) as http:
        await http.post(
            f"/v1/critiques/{critique_id}/withdrawal",
            json={},
            headers={"Authorization": f"Bearer {office.directory.organisation_token}"},
        )
    metadata = bearer(office.directory.agency_token)

    async def withdrawn() -> bool:
        current: pb.Case = await agency.GetCase(
            pb.GetCaseRequest(case_id=case.case_id), metadata=metadata
        )
        return current.status == pb.CASE_STATUS_WITHDRAWN

    await eventually(withdrawn)
    for call in (
        agency.AcknowledgeCase(pb.AcknowledgeCaseRequest(case_id=case.case_id), metadata=metadata),
        agency.SubmitAnswer(
            pb.SubmitAnswerRequest(
                case_id=case.case_id,
                request_id="r",
                version=case.version,
                answers=[pb.PointAnswer(point_number=1, disposition=pb.DISPOSITION_ACCEPTED)],
            ),
            metadata=metadata,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def _hanoi_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 1), VIETNAM)
