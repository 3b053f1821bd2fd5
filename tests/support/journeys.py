"""Steps of a critique's journey through the running services, for end-to-end tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from contracts.vocabulary import VIETNAM
from services.platform import db
from services.tracking import commands, schedule, store
from services.tracking.domain import SchedulePolicy, Step
from tests.support.directory import Directory
from tests.support.services import Deployment

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 60) -> T:
    """The first result of ``check`` that is neither None nor False, polling."""
    async with asyncio.timeout(timeout):
        while (result := await check()) is None or result is False:
            await asyncio.sleep(0.2)
    return result


def critique_body(directory: Directory, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agency_id": directory.agency_id,
        "kind": "supervision_recommendation",
        "title": "Kiến nghị về quy hoạch khu dân cư mới",
        "points": [
            {"number": 1, "text": "Công khai bản đồ quy hoạch tại nhà văn hóa."},
            {"number": 2, "text": "Lấy ý kiến các hộ dân bị ảnh hưởng.", "citation": "Điều 5"},
        ],
    }
    body.update(changes)
    return body


async def submit(deployment: Deployment, directory: Directory, **changes: Any) -> str:
    async with deployment.http_client(base_url=deployment.submission_url) as http:
        created = await http.post(
            "/v1/critiques",
            json=critique_body(directory, **changes),
            headers={"Authorization": f"Bearer {directory.organisation_token}"},
        )
    assert created.status_code == 201, created.text
    critique_id: str = created.json()["id"]
    return critique_id


def agency_metadata(directory: Directory) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {directory.agency_token}"),)


async def case_of(deployment: Deployment, directory: Directory, critique_id: str) -> pb.Case:
    async with deployment.channel() as channel:
        agency = pb_grpc.AgencyServiceStub(channel)

        async def opened() -> pb.Case | None:
            listed = await agency.ListCases(
                pb.ListCasesRequest(page_size=500), metadata=agency_metadata(directory)
            )
            return next((c for c in listed.cases if c.critique_id == critique_id), None)

        return await eventually(opened)


async def answer(
    deployment: Deployment,
    directory: Directory,
    case: pb.Case,
    explanation: str = "Cơ quan tiếp thu một phần, sẽ công khai trong tháng tới.",
) -> pb.Case:
    """Every point accepted but the last, partly accepted with ``explanation``."""
    numbers = [p.number for p in case.points]
    async with deployment.channel() as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        reply = await agency.SubmitAnswer(
            pb.SubmitAnswerRequest(
                case_id=case.case_id,
                request_id=str(uuid.uuid4()),
                version=case.version,
                answers=[
                    pb.PointAnswer(point_number=n, disposition=pb.DISPOSITION_ACCEPTED)
                    for n in numbers[:-1]
                ]
                + [
                    pb.PointAnswer(
                        point_number=numbers[-1],
                        disposition=pb.DISPOSITION_PARTLY_ACCEPTED,
                        explanation=explanation,
                    )
                ],
            ),
            metadata=agency_metadata(directory),
        )
    answered: pb.Case = reply.case
    return answered


async def make_overdue(deployment: Deployment, case: pb.Case) -> date:
    """Let this case's due date pass: its due date becomes yesterday and the deadline scheduler
    fires its steps now (only its own: the other cases keep their dates). Returns the new due
    date."""
    yesterday = (schedule.system_clock().astimezone(VIETNAM) - timedelta(days=1)).date()
    case_id = uuid.UUID(case.case_id)
    pool = await db.create_pool(deployment.database_urls["tracking"], min_size=1, max_size=1)
    try:
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "UPDATE cases SET due_date = $2 WHERE id = $1", case_id, yesterday
            )
            await connection.execute(
                "DELETE FROM deadline_steps WHERE case_id = $1 AND fired_at IS NULL", case_id
            )
            await store.plan_steps(
                connection,
                case_id,
                yesterday,
                [
                    step
                    for step in SchedulePolicy().steps(
                        yesterday, after=datetime.combine(yesterday, time(0), VIETNAM)
                    )
                    if step.step is not Step.REMINDER
                ],
            )
        await commands.fire_due(pool, now=schedule.system_clock())
    finally:
        await pool.close()
    return yesterday


async def public_record(deployment: Deployment, critique_id: str) -> dict[str, Any] | None:
    async with deployment.http_client(base_url=deployment.disclosure_url) as http:
        reply = await http.get(f"/v1/records/{critique_id}")
    if reply.status_code == 404:
        return None
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body
