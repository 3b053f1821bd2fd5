"""The agency gRPC API's rules, through the running services: an agency answers its own cases,
once, completely, and gets precise errors otherwise."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.support.directory import Directory, register
from tests.support.services import Deployment


@pytest.fixture
async def agency(deployment: Deployment) -> AsyncIterator[pb_grpc.AgencyServiceStub]:
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        yield pb_grpc.AgencyServiceStub(channel)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def open_case(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub, directory: Directory
) -> pb.Case:
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
                "points": [
                    {"number": 1, "text": "Mức phí quá cao so với thu nhập của tiểu thương."},
                    {"number": 2, "text": "Cần lấy ý kiến tiểu thương trước khi ban hành."},
                ],
            },
            headers={"Authorization": f"Bearer {directory.organisation_token}"},
        )
    assert created.status_code == 201, created.text
    critique_id = created.json()["id"]
    async with asyncio.timeout(60):
        while True:
            listed = await agency.ListCases(
                pb.ListCasesRequest(), metadata=bearer(directory.agency_token)
            )
            found: list[pb.Case] = [c for c in listed.cases if c.critique_id == critique_id]
            if found:
                return found[0]
            await asyncio.sleep(0.2)


def full_answer(case: pb.Case, request_id: str) -> pb.SubmitAnswerRequest:
    return pb.SubmitAnswerRequest(
        case_id=case.case_id,
        request_id=request_id,
        version=case.version,
        answers=[
            pb.PointAnswer(point_number=1, disposition=pb.DISPOSITION_ACCEPTED),
            pb.PointAnswer(
                point_number=2,
                disposition=pb.DISPOSITION_PARTLY_ACCEPTED,
                explanation="Sẽ lấy ý kiến đại diện tiểu thương.",
            ),
        ],
    )


def field_violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    trailers: Any = error.trailing_metadata() or ()
    details = dict(trailers)["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(details)
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    return [(v.field, v.description) for v in bad_request.field_violations]


async def test_a_retried_answer_returns_the_first_result_and_a_second_answer_is_refused(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub
) -> None:
    directory = await register(deployment)
    case = await open_case(deployment, agency, directory)
    request_id = str(uuid.uuid4())
    metadata = bearer(directory.agency_token)

    first = await agency.SubmitAnswer(full_answer(case, request_id), metadata=metadata)
    retried = await agency.SubmitAnswer(full_answer(case, request_id), metadata=metadata)
    assert retried == first
    assert first.case.status == pb.CASE_STATUS_ANSWERED
    assert not first.case.answered_late

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await agency.SubmitAnswer(full_answer(case, str(uuid.uuid4())), metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_an_agency_cannot_see_or_answer_another_agencys_case(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub
) -> None:
    owner, other = await register(deployment), await register(deployment)
    case = await open_case(deployment, agency, owner)

    for call in (
        agency.GetCase(
            pb.GetCaseRequest(case_id=case.case_id), metadata=bearer(other.agency_token)
        ),
        agency.SubmitAnswer(full_answer(case, "x"), metadata=bearer(other.agency_token)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await agency.ListCases(pb.ListCasesRequest(), metadata=bearer(other.agency_token))
    assert list(listed.cases) == []


async def test_calls_without_a_valid_token_are_unauthenticated(
    agency: pb_grpc.AgencyServiceStub,
) -> None:
    for metadata in ((), bearer("sv_agency_forged"), (("authorization", "Basic abc"),)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await agency.ListCases(pb.ListCasesRequest(), metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_incomplete_answer_is_refused_naming_each_field(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub
) -> None:
    directory = await register(deployment)
    case = await open_case(deployment, agency, directory)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await agency.SubmitAnswer(
            pb.SubmitAnswerRequest(
                case_id=case.case_id,
                request_id="r1",
                version=case.version,
                answers=[
                    pb.PointAnswer(point_number=1, disposition=pb.DISPOSITION_NOT_ACCEPTED),
                    pb.PointAnswer(point_number=7, disposition=pb.DISPOSITION_ACCEPTED),
                    pb.PointAnswer(point_number=2, disposition=pb.DISPOSITION_UNSPECIFIED),
                ],
            ),
            metadata=bearer(directory.agency_token),
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == [
        ("answers[2].disposition", "accepted, partly or not"),
        ("answers[0].explanation", "an explanation is required unless the point is accepted"),
        ("answers[1].point_number", "the case has no point 7"),
        ("answers", "point 2 is not answered"),
    ]
    still_open = await agency.GetCase(
        pb.GetCaseRequest(case_id=case.case_id), metadata=bearer(directory.agency_token)
    )
    assert still_open.status == pb.CASE_STATUS_AWAITING_ANSWER


async def test_unknown_and_malformed_case_ids_get_precise_codes(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub
) -> None:
    directory = await register(deployment)
    metadata = bearer(directory.agency_token)
    for case_id, code in (
        (str(uuid.uuid4()), grpc.StatusCode.NOT_FOUND),
        ("42", grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await agency.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=metadata)
        assert refused.value.code() == code


async def test_cases_are_listed_newest_first_page_by_page(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub
) -> None:
    directory = await register(deployment)
    opened = [await open_case(deployment, agency, directory) for _ in range(3)]
    metadata = bearer(directory.agency_token)

    first = await agency.ListCases(pb.ListCasesRequest(page_size=2), metadata=metadata)
    second = await agency.ListCases(
        pb.ListCasesRequest(page_size=2, page_token=first.next_page_token), metadata=metadata
    )

    listed = [c.case_id for c in (*first.cases, *second.cases)]
    assert listed == [c.case_id for c in reversed(opened)]
    assert second.next_page_token == ""
