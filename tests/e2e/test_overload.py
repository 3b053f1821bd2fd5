"""Overload is refused, not queued: with a low bound on the lag of the consumers downstream of
``submission.critiques``, and tracking's consumers paused (SIGUSR1: its lag grows while it
serves on), submission answers writes ``503`` problems with ``Retry-After`` and stores nothing
of them, serves reads on, says so at ``/readyz`` (still ready) and in its metrics; resumed,
tracking catches up, writes are accepted again (a refused Idempotency-Key creates its critique
then, as new), and every accepted critique opens its case. The agencies' answers count too:
disclosure paused, a few critiques under the bound whose cases are acknowledged and answered
put disclosure more than the bound behind on ``tracking.cases`` alone, and writes are refused
naming that topic until it catches up and publishes them; and one event waiting longer than the
bound in seconds is refused for as well. The SDK waits a refusal out as its
Retry-After says and makes the critique once."""

from __future__ import annotations

import asyncio
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from contracts.submission_api import CritiqueIn
from services.platform.http import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from services.submission.client import SubmissionClient
from tests.support.directory import Directory, register
from tests.support.engines import Engines
from tests.support.journeys import (
    agency_metadata,
    answer,
    case_of,
    critique_body,
    eventually,
    public_record,
    submit,
)
from tests.support.prometheus import scrape, total
from tests.support.services import Deployment, deployed

LAG_BOUND = 3
AGE_BOUND = 10
"""Seconds: longer than the other tests keep a consumer paused before they check what is shed."""
IN_FLIGHT_BOUND = 2
SHED = "supervision_requests_shed_total"
LAG = "supervision_consumer_lag"


@pytest.fixture(scope="module")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    async with deployed(
        engines,
        "overload",
        extra_env={
            "SUPERVISION_SUBMISSION_SHED_CONSUMER_LAG": str(LAG_BOUND),
            "SUPERVISION_SUBMISSION_SHED_CONSUMER_LAG_SECONDS": str(AGE_BOUND),
            "SUPERVISION_SUBMISSION_SHED_CHECK_INTERVAL_SECONDS": "0.2",
            "SUPERVISION_SUBMISSION_SHED_WRITES_IN_FLIGHT": str(IN_FLIGHT_BOUND),
        },
    ) as running:
        yield running


@contextmanager
def tracking_paused(deployment: Deployment) -> Iterator[None]:
    """Tracking's consumers take nothing (its gRPC API serves on) until the block ends."""
    with paused(deployment, "tracking"):
        yield


@contextmanager
def paused(deployment: Deployment, service: str) -> Iterator[None]:
    """The service's consumers take nothing (its APIs serve on) until the block ends."""
    process = deployment.processes[service].popen
    process.send_signal(signal.SIGUSR1)
    try:
        yield
    finally:
        resume(deployment, service)


def resume(deployment: Deployment, service: str = "tracking") -> None:
    deployment.processes[service].popen.send_signal(signal.SIGUSR2)


def headers(directory: Directory, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {directory.organisation_token}", "Idempotency-Key": key}


async def post(
    http: httpx.AsyncClient, directory: Directory, title: str, key: str
) -> httpx.Response:
    return await http.post(
        "/v1/critiques", json=critique_body(directory, title=title), headers=headers(directory, key)
    )


async def submit_until_refused(
    deployment: Deployment, http: httpx.AsyncClient, directory: Directory, refusals: int = 3
) -> tuple[list[str], list[tuple[str, httpx.Response]]]:
    """Submit one critique after another until ``refusals`` are refused: the ids accepted, and
    the keys and answers of the refused."""
    accepted: list[str] = []
    refused: list[tuple[str, httpx.Response]] = []
    try:
        async with asyncio.timeout(60):
            while len(refused) < refusals:
                key = str(uuid.uuid4())
                answer = await post(http, directory, f"Kiến nghị số {len(accepted) + 1}", key)
                if answer.status_code == 201:
                    accepted.append(answer.json()["id"])
                else:
                    assert answer.status_code == 503, answer.text
                    refused.append((key, answer))
                await asyncio.sleep(0.1)
    except TimeoutError:
        log = deployment.processes["submission"].log_tail()
        raise AssertionError(f"{len(accepted)} accepted, none refused:\n{log}") from None
    return accepted, refused


async def cases_opened(deployment: Deployment, directory: Directory) -> set[str]:
    async with deployment.channel() as channel:
        listed = await pb_grpc.AgencyServiceStub(channel).ListCases(
            pb.ListCasesRequest(page_size=500), metadata=agency_metadata(directory)
        )
    return {case.critique_id for case in listed.cases}


async def readiness(deployment: Deployment) -> httpx.Response:
    async with deployment.http_client(timeout=5) as http:
        return await http.get(f"{deployment.submission_url}/readyz")


async def not_shedding(deployment: Deployment) -> bool:
    ready = await readiness(deployment)
    return ready.status_code == 200 and "warnings" not in ready.json()


async def shedding(deployment: Deployment) -> dict[str, Any] | None:
    """The bound passed, as ``/readyz`` says, or None."""
    found: dict[str, Any] | None = (await readiness(deployment)).json().get("warnings")
    return found["shedding"] if found else None


async def caught_up(deployment: Deployment, service: str) -> bool:
    """The service's consumer group has consumed everything, and nothing is shed."""
    url = deployment.tracking_metrics_url if service == "tracking" else deployment.disclosure_url
    behind = total(await scrape(url), LAG, messaging_consumer_group_name=service)
    return behind == 0 and await not_shedding(deployment)


async def test_writes_are_refused_while_tracking_is_behind_and_nothing_accepted_is_lost(
    deployment: Deployment,
) -> None:
    directory = await register(deployment)
    async with deployment.http_client(base_url=deployment.submission_url, timeout=10) as http:
        with tracking_paused(deployment):
            accepted, refused = await submit_until_refused(deployment, http, directory)
            assert len(accepted) >= LAG_BOUND

            for _, answer in refused:
                problem: dict[str, Any] = answer.json()
                assert answer.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
                assert problem["type"] == PROBLEM_TYPE_BASE + "overloaded"
                assert problem["status"] == 503
                assert "consumer group tracking is" in problem["detail"]
                assert "Nothing was stored" in problem["detail"]
                assert 1 <= int(answer.headers["retry-after"]) <= 30

            # Nothing of the refused was stored; reads are served meanwhile.
            listed = await http.get("/v1/critiques", headers=headers(directory, "-"))
            assert listed.status_code == 200
            assert {item["id"] for item in listed.json()["items"]} == set(accepted)

            # Amending asks tracking for work too: refused as well.
            amend = await http.put(
                f"/v1/critiques/{accepted[0]}",
                json={"title": "Kiến nghị đã sửa", "points": [{"number": 1, "text": "Sửa."}]},
                headers=headers(directory, str(uuid.uuid4())),
            )
            assert amend.status_code == 503, amend.text
            assert amend.json()["type"] == PROBLEM_TYPE_BASE + "overloaded"

            # Still ready (load is not a failure), and saying why writes are refused.
            ready = await readiness(deployment)
            assert ready.status_code == 200
            shedding = ready.json()["warnings"]["shedding"]
            assert (shedding["bound"], shedding["group"]) == ("consumer_lag", "tracking")

            samples = await scrape(deployment.submission_url)
            assert total(samples, SHED, supervision_shed_bound="consumer_lag") >= len(refused) + 1

        # Tracking catches up: a refused key now creates its critique, as new.
        key, _ = refused[0]

        async def admitted() -> httpx.Response | None:
            answer = await post(http, directory, "Kiến nghị gửi lại", key)
            return answer if answer.status_code == 201 else None

        again = await eventually(admitted, timeout=60)
        assert "idempotent-replayed" not in again.headers
        accepted.append(again.json()["id"])
        replay = await post(http, directory, "Kiến nghị gửi lại", key)
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == again.json()["id"]

    async def every_case_opened() -> bool:
        return set(accepted) <= await cases_opened(deployment, directory)

    await eventually(every_case_opened, timeout=60)
    await eventually(lambda: not_shedding(deployment), timeout=30)


async def test_writes_are_refused_while_disclosure_is_behind_on_the_answers_alone(
    deployment: Deployment,
) -> None:
    """Two critiques keep disclosure under the bound on submission.critiques; their cases
    opened, acknowledged and answered are six events on tracking.cases, past it: the answers'
    lag alone refuses writes, and the refusal names it."""
    directory = await register(deployment)
    await eventually(lambda: caught_up(deployment, "disclosure"), timeout=30)
    with paused(deployment, "disclosure"):
        await asyncio.sleep(0.5)  # the batch in hand, if any, finished
        critiques = [await submit(deployment, directory, title=f"Kiến nghị {n}") for n in (1, 2)]
        async with deployment.channel() as channel:
            agency = pb_grpc.AgencyServiceStub(channel)
            for critique_id in critiques:
                case = await case_of(deployment, directory, critique_id)
                acknowledged = await agency.AcknowledgeCase(
                    pb.AcknowledgeCaseRequest(case_id=case.case_id),
                    metadata=agency_metadata(directory),
                )
                await answer(deployment, directory, acknowledged)

        reason = await eventually(lambda: shedding(deployment), timeout=15)
        assert (reason["bound"], reason["group"], reason["topic"]) == (
            "consumer_lag",
            "disclosure",
            "tracking.cases",
        )
        async with deployment.http_client(base_url=deployment.submission_url) as http:
            refused = await post(http, directory, "Kiến nghị bị từ chối", str(uuid.uuid4()))
        assert refused.status_code == 503, refused.text
        assert "consumer group disclosure is" in refused.json()["detail"]
        assert "events behind on tracking.cases (bound 3)" in refused.json()["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 30
        for critique_id in critiques:
            assert await public_record(deployment, critique_id) is None

    # Resumed, disclosure publishes the answered critiques and writes are accepted again.
    async def published() -> bool:
        records = [await public_record(deployment, c) for c in critiques]
        return all(record is not None for record in records)

    await eventually(published, timeout=30)
    await eventually(lambda: not_shedding(deployment), timeout=30)
    await submit(deployment, directory, title="Kiến nghị sau khi công bố")


async def test_writes_are_refused_once_an_event_has_waited_longer_than_the_age_bound(
    deployment: Deployment,
) -> None:
    """Tracking paused, one critique is under the lag bound in events, but it waits: once it
    has waited longer than the bound in seconds, writes are refused naming it."""
    directory = await register(deployment)
    await eventually(lambda: caught_up(deployment, "tracking"), timeout=30)
    with tracking_paused(deployment):
        await asyncio.sleep(0.5)  # the batch in hand, if any, finished
        await submit(deployment, directory, title="Kiến nghị chờ xử lý")
        accepted_at = time.monotonic()
        reason = await eventually(lambda: shedding(deployment), timeout=AGE_BOUND + 15)
        # Counted from when it reached Kafka (after the 201) as the watch saw it: never sooner.
        assert time.monotonic() - accepted_at > AGE_BOUND
        assert (reason["bound"], reason["group"], reason["topic"]) == (
            "consumer_lag_age",
            "tracking",
            "submission.critiques",
        )
        async with deployment.http_client(base_url=deployment.submission_url) as http:
            refused = await post(http, directory, "Kiến nghị bị từ chối", str(uuid.uuid4()))
        assert refused.status_code == 503, refused.text
        detail = refused.json()["detail"]
        waited = re.search(
            r"the oldest event consumer group tracking has not consumed on submission.critiques"
            rf" was published ([0-9.]+) s ago \(bound {AGE_BOUND} s\)",
            detail,
        )
        assert waited is not None, detail
        assert float(waited[1]) > AGE_BOUND
    await eventually(lambda: not_shedding(deployment), timeout=30)


async def test_the_sdk_waits_out_a_refusal_and_makes_the_critique_once(
    deployment: Deployment,
) -> None:
    directory = await register(deployment)
    title = f"Kiến nghị qua SDK {uuid.uuid4().hex[:6]}"
    waits: list[float] = []

    def wait_out(seconds: float) -> None:
        """The SDK's sleep: tracking resumes during the wait, which ends once admitted again."""
        waits.append(seconds)
        resume(deployment)
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=5) as http:
            while "warnings" in http.get(f"{deployment.submission_url}/readyz").json():
                assert time.monotonic() < deadline, "still shedding after tracking resumed"
                time.sleep(0.2)

    async with deployment.http_client(base_url=deployment.submission_url, timeout=10) as http:
        with tracking_paused(deployment):
            await submit_until_refused(deployment, http, directory, refusals=1)
            sdk = SubmissionClient(
                deployment.submission_url,
                directory.organisation_token,
                max_retry_wait=60,
                sleep=wait_out,
            )
            with sdk:
                critique = CritiqueIn.model_validate(critique_body(directory, title=title))
                created = await asyncio.to_thread(sdk.submit, critique)

        listed = await http.get("/v1/critiques", headers=headers(directory, "-"))
    # One wait, as a refusal's Retry-After said (whole seconds, 1 to 30; the SDK's own backoff
    # without one starts at 0.5 s), then the same key again: one critique.
    assert len(waits) == 1
    assert waits[0] == int(waits[0])
    assert 1 <= waits[0] <= 30
    assert [item["id"] for item in listed.json()["items"] if item["title"] == title] == [
        str(created.id)
    ]

    async def case_opened() -> bool:
        return str(created.id) in await cases_opened(deployment, directory)

    await eventually(case_opened, timeout=60)


async def test_writes_past_the_bound_in_flight_are_refused_at_once_not_queued(
    deployment: Deployment,
) -> None:
    """Many writes at once: those past the bound in flight are refused at once with a short
    Retry-After, instead of waiting inside the service; every one accepted is stored."""
    directory = await register(deployment)
    async with deployment.http_client(base_url=deployment.submission_url) as http:
        replies = await asyncio.gather(
            *(post(http, directory, f"Kiến nghị số {n}", str(uuid.uuid4())) for n in range(40))
        )
        statuses = [reply.status_code for reply in replies]
        refused = [reply for reply in replies if reply.status_code == 503]
        assert refused, statuses
        assert set(statuses) == {201, 503}
        for reply in refused:
            assert reply.headers["retry-after"] == "1"
            assert reply.json()["type"] == f"{PROBLEM_TYPE_BASE}overloaded"
            assert "writes are being handled already (bound 2)" in reply.json()["detail"]
        accepted = {reply.json()["id"] for reply in replies if reply.status_code == 201}
        listed = (
            await http.get(
                "/v1/critiques",
                params={"limit": 100},
                headers={"Authorization": f"Bearer {directory.organisation_token}"},
            )
        ).json()["items"]
        assert {item["id"] for item in listed} == accepted
