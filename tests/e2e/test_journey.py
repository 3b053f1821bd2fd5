"""One critique's whole journey through the three services, as separate processes on the real
engines: submitted over HTTP, answered over gRPC, read back from the public API, in one trace."""

from __future__ import annotations

import asyncio
import uuid
from signal import SIGTERM
from typing import Any

import grpc
import httpx

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.support.directory import register
from tests.support.services import Deployment

SPAN_KIND_SERVER = 2  # OTLP/JSON writes enums as integers

CRITIQUE = {
    "kind": "supervision_recommendation",
    "title": "Kiến nghị về việc công khai quy hoạch sử dụng đất",
    "points": [
        {"number": 1, "text": "Niêm yết công khai quy hoạch tại trụ sở xã.", "citation": "Điều 48"},
        {"number": 2, "text": "Tổ chức đối thoại với người dân bị ảnh hưởng."},
    ],
}


async def eventually(check: Any, timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (result := await check()):
            await asyncio.sleep(0.2)
    return result


async def test_a_critique_is_submitted_answered_and_disclosed_in_one_trace(
    deployment: Deployment,
) -> None:
    directory = await register(deployment)
    agency_id, organisation_token, agency_token = (
        directory.agency_id,
        directory.organisation_token,
        directory.agency_token,
    )
    async with httpx.AsyncClient() as http:
        created = await http.post(
            f"{deployment.submission_url}/v1/critiques",
            json={**CRITIQUE, "agency_id": agency_id},
            headers={"Authorization": f"Bearer {organisation_token}"},
        )
        assert created.status_code == 201, created.text
        critique_id = created.json()["id"]

        metadata = (("authorization", f"Bearer {agency_token}"),)
        async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
            agency = pb_grpc.AgencyServiceStub(channel)

            async def case_arrived() -> pb.Case | None:
                listed = await agency.ListCases(pb.ListCasesRequest(), metadata=metadata)
                return next((c for c in listed.cases if c.critique_id == critique_id), None)

            case = await eventually(case_arrived)
            assert case.title == CRITIQUE["title"]
            assert [p.number for p in case.points] == [1, 2]
            assert case.due_rule.days == 30

            # The agency's own system traces its call; the context travels in gRPC metadata.
            agency_trace = "00-" + uuid.uuid4().hex + "-" + uuid.uuid4().hex[:16] + "-01"
            answered = await agency.SubmitAnswer(
                pb.SubmitAnswerRequest(
                    case_id=case.case_id,
                    request_id=str(uuid.uuid4()),
                    version=case.version,
                    answers=[
                        pb.PointAnswer(point_number=1, disposition=pb.DISPOSITION_ACCEPTED),
                        pb.PointAnswer(
                            point_number=2,
                            disposition=pb.DISPOSITION_NOT_ACCEPTED,
                            explanation="Đã tổ chức đối thoại vào tháng trước.",
                        ),
                    ],
                ),
                metadata=(*metadata, ("traceparent", agency_trace)),
            )
            assert answered.case.status == pb.CASE_STATUS_ANSWERED

        async def disclosed() -> dict[str, Any] | None:
            reply = await http.get(f"{deployment.disclosure_url}/v1/records/{critique_id}")
            return reply.json() if reply.status_code == 200 else None

        record = await eventually(disclosed)

    assert record["title"] == CRITIQUE["title"]
    assert record["status"] == "answered"
    assert [(p["number"], p["disposition"]) for p in record["points"]] == [
        (1, "accepted"),
        (2, "not_accepted"),
    ]
    assert record["points"][1]["explanation"] == "Đã tổ chức đối thoại vào tháng trước."
    assert [step["step"] for step in record["timeline"]] == ["submitted", "case_opened", "answered"]

    # Spans are flushed when the services stop; uvicorn re-raises SIGTERM after a clean stop.
    assert deployment.stop() == {"submission": -SIGTERM, "tracking": 0, "disclosure": -SIGTERM}
    spans = deployment.spans()
    journey = next(
        s
        for s in spans
        if s["service"] == "submission"
        and s.get("kind") == SPAN_KIND_SERVER
        and any(
            a["key"] == "supervision.critique.id" and a["value"]["stringValue"] == critique_id
            for a in s.get("attributes", [])
        )
    )
    in_trace = [s for s in spans if s["traceId"] == journey["traceId"]]
    assert {s["service"] for s in in_trace} == {"submission", "tracking", "disclosure"}
    names = {(s["service"], s["name"]) for s in in_trace}
    assert ("submission", "send submission.critiques") in names
    assert ("tracking", "process submission.critiques") in names
    assert ("tracking", "send tracking.cases") in names
    assert ("disclosure", "process tracking.cases") in names
    assert ("disclosure", "process submission.critiques") in names
    assert ("tracking", "answer case") in names
    # The agency's gRPC call stays in the agency's trace, linked both ways to the journey.
    call = next(s for s in spans if s["name"].endswith("/SubmitAnswer"))
    assert call["traceId"] == agency_trace.split("-")[1]
    answer = next(s for s in in_trace if s["name"] == "answer case")
    assert [link["traceId"] for link in answer.get("links", [])] == [call["traceId"]]
    assert journey["traceId"] in [link["traceId"] for link in call.get("links", [])]
