"""The trace backend operators look at: the three services, as `make run` configures them, export
to a real Zipkin server (`zipkin_json`) and to the OTLP/JSON files at once; one critique's journey
(submitted over HTTP, answered over gRPC, read from the public API) is then one trace in Zipkin's
own API and UI, Kafka hops included, found by the critique's id."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.platform.telemetry import ATTR_CRITIQUE_ID
from tests.support.directory import register
from tests.support.engines import Engines
from tests.support.services import Deployment, deployed
from tests.support.zipkin import Zipkin, ZipkinSpan

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SPAN_KIND_SERVER = 2  # OTLP/JSON writes enums as integers

CRITIQUE = {
    "kind": "supervision_recommendation",
    "title": "Kiến nghị về việc công khai kế hoạch sử dụng đất",
    "points": [
        {"number": 1, "text": "Niêm yết công khai kế hoạch tại trụ sở xã.", "citation": "Điều 48"}
    ],
}

# (service, span name, Zipkin kind or None for an internal span) the journey's trace must hold.
EXPECTED = {
    ("submission", "send submission.critiques", "PRODUCER"),
    ("tracking", "process submission.critiques", "CONSUMER"),
    ("disclosure", "process submission.critiques", "CONSUMER"),
    ("tracking", "answer case", None),
    ("tracking", "send tracking.cases", "PRODUCER"),
    ("disclosure", "process tracking.cases", "CONSUMER"),
}


async def eventually(check: Any, timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (result := await check()):
            await asyncio.sleep(0.3)
    return result


def shape(spans: list[ZipkinSpan]) -> set[tuple[str, str, str | None]]:
    return {(s["localEndpoint"]["serviceName"], s["name"], s.get("kind")) for s in spans}


@dataclass(frozen=True)
class Journey:
    critique_id: str
    trace_id: str
    spans: list[ZipkinSpan]


@pytest.fixture(scope="module")
async def traced(engines: Engines, zipkin: Zipkin) -> AsyncIterator[Deployment]:
    """The three services exporting to the test's Zipkin and to OTLP/JSON files."""
    async with deployed(engines, "e2e-zipkin", extra_env=zipkin.exporter_env()) as running:
        yield running


@pytest.fixture(scope="module")
async def journey(traced: Deployment, zipkin: Zipkin) -> Journey:
    """One critique submitted, answered and disclosed; its trace as Zipkin holds it once every
    expected span has arrived there (the services keep running: nothing is flushed by a stop)."""
    directory = await register(traced)
    async with httpx.AsyncClient() as http:
        created = await http.post(
            f"{traced.submission_url}/v1/critiques",
            json={**CRITIQUE, "agency_id": directory.agency_id},
            headers={"Authorization": f"Bearer {directory.organisation_token}"},
        )
        assert created.status_code == 201, created.text
        critique_id: str = created.json()["id"]

        metadata = (("authorization", f"Bearer {directory.agency_token}"),)
        async with grpc.aio.insecure_channel(traced.tracking_address) as channel:
            agency = pb_grpc.AgencyServiceStub(channel)

            async def case_arrived() -> pb.Case | None:
                listed = await agency.ListCases(pb.ListCasesRequest(), metadata=metadata)
                return next((c for c in listed.cases if c.critique_id == critique_id), None)

            case = await eventually(case_arrived)
            answered = await agency.SubmitAnswer(
                pb.SubmitAnswerRequest(
                    case_id=case.case_id,
                    request_id=str(uuid.uuid4()),
                    version=case.version,
                    answers=[pb.PointAnswer(point_number=1, disposition=pb.DISPOSITION_ACCEPTED)],
                ),
                metadata=metadata,
            )
            assert answered.case.status == pb.CASE_STATUS_ANSWERED

        async def disclosed() -> bool:
            reply = await http.get(f"{traced.disclosure_url}/v1/records/{critique_id}")
            return reply.status_code == 200 and reply.json()["status"] == "answered"

        await eventually(disclosed)

    # The trace id: that of the submission's HTTP server span, as the services also wrote it to
    # their OTLP/JSON files.
    async def written() -> dict[str, Any] | None:
        return next(
            (
                s
                for s in traced.spans()
                if s["service"] == "submission"
                and s.get("kind") == SPAN_KIND_SERVER
                and {"key": ATTR_CRITIQUE_ID, "value": {"stringValue": critique_id}}
                in s.get("attributes", [])
            ),
            None,
        )

    trace_id: str = (await eventually(written, timeout=30))["traceId"]

    async def complete() -> list[ZipkinSpan] | None:
        spans = await zipkin.trace(trace_id)
        return spans if shape(spans) >= EXPECTED else None

    try:
        spans = await eventually(complete, timeout=30)
    except TimeoutError:
        pytest.fail(
            f"Zipkin's trace {trace_id} lacks {EXPECTED - shape(await zipkin.trace(trace_id))}"
        )
    # Later steps (the answer's echo in submission and disclosure) may still be in flight: take
    # the trace once it has stopped growing.
    async with asyncio.timeout(30):
        while True:
            await asyncio.sleep(1.5)
            latest = await zipkin.trace(trace_id)
            if len(latest) == len(spans):
                break
            spans = latest
    return Journey(critique_id=critique_id, trace_id=trace_id, spans=spans)


async def test_the_journey_is_one_trace_in_zipkin_across_the_three_services(
    journey: Journey,
) -> None:
    spans = journey.spans
    assert {s["traceId"] for s in spans} == {journey.trace_id}
    assert {s["localEndpoint"]["serviceName"] for s in spans} == {
        "submission",
        "tracking",
        "disclosure",
    }
    assert shape(spans) >= EXPECTED
    # One tree: a single root (the submission's HTTP request) and every parent present.
    ids = {s["id"] for s in spans}
    roots = [s for s in spans if "parentId" not in s]
    assert len(roots) == 1, roots
    assert not [s for s in spans if "parentId" in s and s["parentId"] not in ids]
    root = roots[0]
    assert root["localEndpoint"]["serviceName"] == "submission"
    assert root["kind"] == "SERVER"
    assert root["name"] == "post /v1/critiques"
    assert root["tags"][ATTR_CRITIQUE_ID] == journey.critique_id
    # The Kafka hops: each producer span's child is a consumer span in another service.
    by_id = {s["id"]: s for s in spans}
    for consumer in (s for s in spans if s.get("kind") == "CONSUMER"):
        producer = by_id[consumer["parentId"]]
        assert producer.get("kind") == "PRODUCER", (consumer, producer)
        assert producer["name"] == consumer["name"].replace("process ", "send ", 1)
        assert producer["localEndpoint"] != consumer["localEndpoint"]


async def test_zipkin_finds_the_trace_by_critique_id(journey: Journey, zipkin: Zipkin) -> None:
    """What an operator types in the UI's search (or asks the API): the critique's id tag."""
    query = f"{ATTR_CRITIQUE_ID}={journey.critique_id}"
    by_tag = await zipkin.traces(serviceName="submission", annotationQuery=query)
    assert [t[0]["traceId"] for t in by_tag] == [journey.trace_id]
    by_name = await zipkin.traces(
        serviceName="submission", spanName="post /v1/critiques", annotationQuery=query
    )
    assert [t[0]["traceId"] for t in by_name] == [journey.trace_id]
    other = await zipkin.traces(annotationQuery=f"{ATTR_CRITIQUE_ID}={uuid.uuid4()}")
    assert other == []


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed (`make tools` installs Debian's, as root)")
    return found


async def run_chromium(*arguments: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        process = await asyncio.create_subprocess_exec(
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",  # the UI is a script: let it fetch and draw the trace
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(90):
            out, err = await process.communicate()
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out


async def test_zipkin_ui_shows_the_trace(journey: Journey, zipkin: Zipkin) -> None:
    """The UI's trace page, as an operator opens it: the waterfall of the three services. Its
    screenshot is test-artifacts/zipkin-trace.png (the README's docs/images/trace.png is one)."""
    url = zipkin.ui_trace_url(journey.trace_id)
    # Tall enough for the waterfall (it draws only the rows in view) to reach disclosure's
    # spans; scaled down so that the picture stays small and readable.
    window = ("--window-size=1400,1700", "--force-device-scale-factor=0.8")
    dom = (await run_chromium(*window, "--dump-dom", url)).decode()
    text = " ".join(re.sub(r"<[^>]+>", " ", dom.partition("<body")[2]).split())
    # The header counts the services and spans of the whole trace, as the UI loaded it.
    assert re.search(rf"Services 3 Total Spans \d+ Trace ID {journey.trace_id}", text), text
    waterfall = text.partition("Service name")[0]
    assert "submission: post /v1/critiques" in waterfall
    assert "submission: send submission.critiques" in waterfall
    for service in ("tracking", "disclosure"):
        assert f" {service}: process " in waterfall, waterfall
    assert f"supervision.critique.id {journey.critique_id}" in text  # the root span's tags
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "zipkin-trace.png"
    png.unlink(missing_ok=True)
    await run_chromium(*window, f"--screenshot={png}", url)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png.read_bytes()) < 300_000
