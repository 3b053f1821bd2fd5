"""The agency SDK (services/tracking/agency_client.py) and the demo agency built on it, against the
running services: the change feed in order and resumable, answers, precise errors, and the demo
acknowledging and answering cases, across a restart of the tracking service too."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from grpc import StatusCode

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from services.tracking.agency_client import AgencyApiError, AgencyClient, Answer, Disposition
from tests.support.directory import Directory, register
from tests.support.engines import ROOT, Engines, Process, start
from tests.support.services import Deployment, wait_ready

CRITIQUE: dict[str, Any] = {
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
        {"number": 3, "text": "Cần lộ trình tăng phí hợp lý."},
    ],
}
ANSWERS = [
    Answer(1, Disposition.ACCEPTED),
    Answer(2, Disposition.ACCEPTED),
    Answer(3, Disposition.PARTLY_ACCEPTED, "Sẽ áp dụng lộ trình hai năm."),
]


async def submit(deployment: Deployment, directory: Directory) -> str:
    async with httpx.AsyncClient() as http:
        created = await http.post(
            f"{deployment.submission_url}/v1/critiques",
            json={**CRITIQUE, "agency_id": directory.agency_id},
            headers={"Authorization": f"Bearer {directory.organisation_token}"},
        )
    assert created.status_code == 201, created.text
    critique_id: str = created.json()["id"]
    return critique_id


async def critique(deployment: Deployment, directory: Directory, critique_id: str) -> Any:
    async with httpx.AsyncClient() as http:
        found = await http.get(
            f"{deployment.submission_url}/v1/critiques/{critique_id}",
            headers={"Authorization": f"Bearer {directory.organisation_token}"},
        )
    assert found.status_code == 200, found.text
    return found.json()


async def next_change(changes: AsyncIterator[pb.CaseChange], timeout: float = 60) -> pb.CaseChange:
    return await asyncio.wait_for(anext(changes), timeout)


async def opened_case(api: AgencyClient, critique_id: str) -> pb.Case:
    async with asyncio.timeout(60):
        while True:
            found = [c async for c in api.list_cases() if c.critique_id == critique_id]
            if found:
                return found[0]
            await asyncio.sleep(0.2)


async def test_the_watch_yields_each_change_once_in_order_and_resumes_after_a_cursor(
    deployment: Deployment,
) -> None:
    directory = await register(deployment)
    critique_id = await submit(deployment, directory)
    async with AgencyClient(deployment.tracking_address, directory.agency_token) as api:
        changes = api.watch(from_beginning=True)
        opened = await next_change(changes)
        assert opened.change == pb.CHANGE_KIND_OPENED
        assert opened.case.critique_id == critique_id
        case_id = opened.case.case_id

        acknowledged = await api.acknowledge(case_id)
        assert acknowledged.status == pb.CASE_STATUS_ACKNOWLEDGED
        answered = await api.answer(case_id, ANSWERS, version=1, request_id="answer-1")
        assert answered.status == pb.CASE_STATUS_ANSWERED
        assert [(a.point_number, a.disposition) for a in answered.answers] == [
            (1, pb.DISPOSITION_ACCEPTED),
            (2, pb.DISPOSITION_ACCEPTED),
            (3, pb.DISPOSITION_PARTLY_ACCEPTED),
        ]
        # The same request id again: the first result, not a refusal.
        assert (await api.answer(case_id, ANSWERS, version=1, request_id="answer-1")).answers == (
            answered.answers
        )

        later = [await next_change(changes), await next_change(changes)]
        assert [c.change for c in later] == [pb.CHANGE_KIND_ACKNOWLEDGED, pb.CHANGE_KIND_ANSWERED]
        cursors = [int(c.cursor) for c in (opened, *later)]
        assert cursors == sorted(set(cursors))

        resumed = api.watch(cursor=opened.cursor)
        again = [await next_change(resumed), await next_change(resumed)]
        assert [(c.cursor, c.change) for c in again] == [(c.cursor, c.change) for c in later]
        with pytest.raises(TimeoutError):  # nothing repeated after them
            await next_change(resumed, timeout=1.5)
        with pytest.raises(TimeoutError):
            await next_change(changes, timeout=0.5)


async def test_refusals_raise_agency_api_errors_with_the_field_violations(
    deployment: Deployment,
) -> None:
    directory = await register(deployment)
    critique_ids = [await submit(deployment, directory) for _ in range(3)]
    async with AgencyClient(deployment.tracking_address, directory.agency_token) as api:
        case, *_ = [await opened_case(api, critique_id) for critique_id in critique_ids]
        listed = [c async for c in api.list_cases(page_size=2)]  # two pages
        assert sorted(c.critique_id for c in listed) == sorted(critique_ids)
        opened_at = [c.opened_at.ToDatetime() for c in listed]
        assert opened_at == sorted(opened_at, reverse=True)  # newest first

        with pytest.raises(AgencyApiError) as refused:
            await api.answer(
                case.case_id,
                [Answer(1, Disposition.NOT_ACCEPTED), Answer(7, Disposition.ACCEPTED)],
                version=case.version,
            )
        assert refused.value.code == StatusCode.INVALID_ARGUMENT
        assert refused.value.violations == [
            ("answers[0].explanation", "an explanation is required unless the point is accepted"),
            ("answers[1].point_number", "the case has no point 7"),
            ("answers", "point 2 is not answered"),
            ("answers", "point 3 is not answered"),
        ]
        assert (await api.get_case(case.case_id)).status == pb.CASE_STATUS_AWAITING_ANSWER

        with pytest.raises(AgencyApiError) as refused:
            await api.get_case("3f1c3c55-0000-4000-8000-000000000000")
        assert (refused.value.code, refused.value.violations) == (StatusCode.NOT_FOUND, [])

    async with AgencyClient(deployment.tracking_address, "sv_agency_forged") as forged:
        with pytest.raises(AgencyApiError) as refused:
            await forged.get_case(case.case_id)
        assert refused.value.code == StatusCode.UNAUTHENTICATED


async def agency_cli(address: str, token: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPERVISION_", "OTEL_"))}
    env |= {"SUPERVISION_TRACKING_ADDRESS": address, "SUPERVISION_AGENCY_TOKEN": token}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services.cli", "agency", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**env, "COLUMNS": "200"},
        cwd=ROOT,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    run = (process.returncode or 0, stdout.decode(), stderr.decode())
    print(f"$ supervision agency {' '.join(args)}  # exit {run[0]}\n{run[1]}{run[2]}")
    assert "Traceback" not in run[1] + run[2]
    return run


async def test_the_agency_commands_list_show_acknowledge_and_answer_a_case(
    deployment: Deployment, tmp_path: Path
) -> None:
    directory = await register(deployment)
    critique_id = await submit(deployment, directory)
    async with AgencyClient(deployment.tracking_address, directory.agency_token) as api:
        case_id = (await opened_case(api, critique_id)).case_id

    async def run(*args: str) -> tuple[int, str, str]:
        return await agency_cli(deployment.tracking_address, directory.agency_token, *args)

    code, listed, _ = await run("cases")
    assert code == 0
    assert case_id[:8] in listed
    assert "Chờ trả lời / Awaiting answer" in listed
    code, shown, _ = await run("show", case_id[:8])
    assert code == 0
    assert "Cần lộ trình tăng phí hợp lý." in shown
    assert "Mở hồ sơ / Opened" in shown
    code, acknowledged, _ = await run("ack", case_id[:8])
    assert (code, acknowledged.startswith(f"Acknowledged {case_id}")) == (0, True)

    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("- {point_number: 1, disposition: maybe}\n")
    code, _, error = await run("answer", case_id, str(invalid), "--version", "1")
    assert code == 1
    assert "[0].disposition: one of accepted, partly_accepted, not_accepted" in error
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text('[{"point_number": 1, "disposition": "not_accepted"}]')
    code, _, error = await run("answer", case_id, str(incomplete), "--version", "1")
    assert code == 1
    assert "answers[0].explanation: an explanation is required" in error
    assert "answers: point 3 is not answered" in error
    complete = tmp_path / "answers.yaml"
    complete.write_text(
        yaml.safe_dump(
            {
                "answers": [
                    {"point_number": a.point_number, "disposition": a.disposition.value}
                    | ({"explanation": a.explanation} if a.explanation else {})
                    for a in ANSWERS
                ]
            },
            allow_unicode=True,
        )
    )
    code, answered, _ = await run("answer", case_id[:8], str(complete), "--version", "1")
    assert code == 0
    assert "Sẽ áp dụng lộ trình hai năm." in answered

    code, _, error = await agency_cli(deployment.tracking_address, "", "cases")
    assert code == 2
    assert "SUPERVISION_AGENCY_TOKEN" in error


def start_demo(deployment: Deployment, directory: Directory, workdir: Path) -> Process:
    env = {"PYTHONUNBUFFERED": "1", "SUPERVISION_AGENCY_TOKEN": "", "SUPERVISION_RUN_DIR": ""}
    argv = [sys.executable, "-m", "services.cli", "agency", "demo", "--answer-after", "1"]
    argv += ["--address", deployment.tracking_address, "--token", directory.agency_token]
    return start(f"agency-demo-{directory.agency_id}", argv, env, workdir)


async def answered_by_demo(
    deployment: Deployment, directory: Directory, critique_id: str, demo: Process
) -> Any:
    async with asyncio.timeout(90):
        while (found := await critique(deployment, directory, critique_id))["status"] != "answered":
            assert demo.popen.poll() is None, demo.log_tail()
            await asyncio.sleep(0.3)
    assert [a["disposition"] for a in found["answers"]] == [
        "accepted",
        "accepted",
        "partly_accepted",
    ]
    assert "trân trọng cảm ơn" in found["answers"][-1]["explanation"]
    return found


def stop_demo(demo: Process) -> str:
    """SIGINT, as Ctrl-C sends: the demo ends its watch and exits 0, a normal end for it (like
    the services, which also exit 0 when asked to stop), rather than 130, "killed by SIGINT"."""
    assert demo.stop(signal.SIGINT, timeout=15) == 0, demo.log_tail()
    output = demo.log_path.read_text()
    print(f"$ supervision agency demo  # exit 0\n{output}")  # shown when a test fails
    assert "Traceback" not in output
    return output


async def test_the_demo_agency_acknowledges_and_answers_a_new_case(
    deployment: Deployment, tmp_path: Path
) -> None:
    directory = await register(deployment)
    async with AgencyClient(deployment.tracking_address, directory.agency_token) as api:
        earlier = await opened_case(api, await submit(deployment, directory))
        await api.answer(earlier.case_id, ANSWERS, version=earlier.version)
    demo = start_demo(deployment, directory, tmp_path)
    try:
        critique_id = await submit(deployment, directory)
        found = await answered_by_demo(deployment, directory, critique_id, demo)
        assert found["acknowledged_at"] is not None
    finally:
        output = stop_demo(demo)
    assert f"skipped {earlier.case_id[:8]}" in output
    assert "already answered" in output
    assert f"critique {critique_id[:8]}" in output
    assert "acknowledged" in output
    assert "answered" in output


@pytest.fixture(scope="module")
def replacements() -> Iterator[list[Process]]:
    """Services restarted by a test: stopped at the end of the module, like the first ones."""
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def restart_tracking(
    deployment: Deployment, engines: Engines, replacements: list[Process]
) -> float:
    """Stop tracking (SIGTERM, as on a deployment) and start it again on the same port; returns
    how long the old one took to stop."""
    began = time.monotonic()
    assert deployment.processes["tracking"].stop() == 0
    stopped_after = time.monotonic() - began
    env = {
        "SUPERVISION_KAFKA_BOOTSTRAP_SERVERS": engines.kafka_bootstrap,
        "SUPERVISION_TRACKING_DATABASE_URL": deployment.database_urls["tracking"],
        "SUPERVISION_TRACKING_GRPC_PORT": deployment.tracking_address.rsplit(":", 1)[1],
        "SUPERVISION_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
        "OTEL_TRACES_EXPORTER": "otlp_json_file",
        "SUPERVISION_OTEL_JSON_FILE": str(deployment.traces_dir / "{service}.jsonl"),
        "OTEL_SERVICE_NAME": "tracking",
        "PYTHONUNBUFFERED": "1",
    }
    argv = [sys.executable, "-m", "services.cli", "serve", "tracking"]
    process = start("tracking", argv, env, deployment.traces_dir.parent)
    replacements.append(process)
    deployment.processes["tracking"] = process
    return stopped_after


async def test_the_watch_and_the_demo_agency_carry_on_after_tracking_restarts(
    deployment: Deployment, engines: Engines, replacements: list[Process], tmp_path: Path
) -> None:
    directory = await register(deployment)
    demo = start_demo(deployment, directory, tmp_path)
    try:
        async with AgencyClient(deployment.tracking_address, directory.agency_token) as api:
            changes = api.watch(from_beginning=True)
            first = await submit(deployment, directory)
            await answered_by_demo(deployment, directory, first, demo)
            seen = [await next_change(changes) for _ in range(3)]
            assert [c.change for c in seen] == [
                pb.CHANGE_KIND_OPENED,
                pb.CHANGE_KIND_ACKNOWLEDGED,
                pb.CHANGE_KIND_ANSWERED,
            ]

            # Open watches end when the server stops, rather than hold it for its 10 s grace.
            stopped_after = await asyncio.to_thread(
                restart_tracking, deployment, engines, replacements
            )
            assert stopped_after < 9, f"tracking took {stopped_after:.1f} s to stop"
            await wait_ready(deployment)
            second = await submit(deployment, directory)
            await answered_by_demo(deployment, directory, second, demo)

            after = [await next_change(changes, timeout=90) for _ in range(3)]
            assert [(c.change, c.case.critique_id) for c in after] == [
                (pb.CHANGE_KIND_OPENED, second),
                (pb.CHANGE_KIND_ACKNOWLEDGED, second),
                (pb.CHANGE_KIND_ANSWERED, second),
            ]
            assert int(after[0].cursor) > int(seen[-1].cursor)
    finally:
        output = stop_demo(demo)
    assert "reconnecting" in output
