"""`supervision critique`, run as a Front officer runs it (a process, with its token in the
environment) against the running services: what it prints, and its exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import yaml

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.support import drafts
from tests.support.directory import Directory, register
from tests.support.engines import ROOT
from tests.support.services import Deployment

EXAMPLE = ROOT / "infra/examples/critique.yaml"
_BOX_DRAWING = re.compile("[\u2500-\u257f]")


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def seen(self) -> str:
        """Stdout as read: without table borders, and with wrapped lines joined again."""
        return " ".join(_BOX_DRAWING.sub(" ", self.stdout).split())


async def cli(url: str, token: str, *args: str, stdin: str = "") -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPERVISION_", "OTEL_"))}
    env |= {"SUPERVISION_API_URL": url, "SUPERVISION_TOKEN": token, "COLUMNS": "200"}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services.cli", "critique", *args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin.encode()), 60)
    run = Run(process.returncode or 0, stdout.decode(), stderr.decode())
    # Captured by pytest, and shown when a test fails: the session as the officer saw it.
    print(f"$ supervision critique {' '.join(args)}  # exit {run.code}\n{run.stdout}{run.stderr}")
    assert "Traceback" not in run.stdout + run.stderr
    return run


def as_officer(deployment: Deployment, directory: Directory) -> Callable[..., Awaitable[Run]]:
    async def run(*args: str, stdin: str = "") -> Run:
        return await cli(
            deployment.submission_url, directory.organisation_token, *args, stdin=stdin
        )

    return run


def minimal_pdf() -> bytes:
    """One empty A4 page, with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    pdf, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(pdf)


def submitted_id(run: Run) -> str:
    assert run.code == 0, run
    found = re.search(r"Submitted critique ([0-9a-f-]{36})", run.stdout)
    assert found, run.stdout
    return found.group(1)


async def test_an_officer_submits_follows_amends_and_withdraws_a_critique(
    deployment: Deployment, tmp_path: Path
) -> None:
    directory = await register(deployment)
    officer = as_officer(deployment, directory)
    critique = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    critique["agency_id"] = directory.agency_id
    title = critique["title"]
    # Typed on a system that writes Vietnamese decomposed: stored and shown composed (NFC).
    critique["title"] = unicodedata.normalize("NFD", title)
    assert critique["title"] != title
    file = tmp_path / "phản-biện.yaml"
    file.write_text(yaml.safe_dump(critique, allow_unicode=True), encoding="utf-8")
    pdf = tmp_path / "biên-bản-phản-biện.pdf"
    pdf.write_bytes(minimal_pdf())

    submitted = await officer("submit", str(file), "--attach", str(pdf))
    critique_id = submitted_id(submitted)
    assert title in submitted.seen
    assert f"Attached biên-bản-phản-biện.pdf ({len(minimal_pdf())} B" in submitted.stdout

    listed = await officer("list")
    assert listed.code == 0, listed
    assert critique_id[:8] in listed.stdout
    assert title[:40] in listed.stdout
    assert "Ủy ban nhân dân xã Hòa Bình" in listed.stdout
    assert "Đã gửi / Submitted" in listed.stdout or "Chờ trả lời" in listed.stdout

    shown = await officer("show", critique_id[:8])
    assert shown.code == 0, shown
    assert title in shown.seen
    assert unicodedata.normalize("NFD", title) not in shown.stdout
    for point in critique["points"]:
        assert f"{point['number']} {point['text']} {point['citation']}" in shown.seen
    assert "Dự thảo lần 2" in shown.seen
    assert "biên-bản-phản-biện.pdf" in shown.seen

    critique["points"][1]["text"] = (
        "Đề nghị bỏ yêu cầu xác nhận của Chủ tịch Ủy ban nhân dân cấp xã."
    )
    file.write_text(yaml.safe_dump(critique, allow_unicode=True), encoding="utf-8")
    amended = await officer("amend", critique_id, str(file))
    assert amended.code == 0, amended
    assert "Sửa đổi / Amendment: Chờ hệ thống theo dõi quyết định" in amended.seen  # asked
    assert f"Amended critique {critique_id}: version 2" in amended.stdout  # then decided
    assert critique["points"][1]["text"] in (await officer("show", critique_id)).seen
    requests = await officer("requests", critique_id)
    assert requests.code == 0, requests
    assert "Đã chấp nhận / Accepted" in requests.seen
    assert "version 2" in requests.seen

    history = await officer("history", critique_id)
    assert history.code == 0, history
    rows = [history.stdout.index(step) for step in ("Submitted", "Attachment added", "Amended")]
    assert rows == sorted(rows)

    reason = "Đã thống nhất với cơ quan soạn thảo"
    withdrawn = await officer("withdraw", critique_id, "--yes", "--reason", reason)
    assert withdrawn.code == 0, withdrawn
    assert "Đã rút / Withdrawn" in withdrawn.stdout
    assert "Đã rút / Withdrawn" in (await officer("show", critique_id)).stdout
    assert reason in (await officer("history", critique_id)).seen

    refused = await officer("amend", critique_id, str(file))
    assert refused.code == 1
    assert "The critique can no longer be changed" in refused.stderr
    assert "it was withdrawn" in refused.stderr


async def test_an_officer_submits_by_answering_prompts(deployment: Deployment) -> None:
    directory = await register(deployment)
    officer = as_officer(deployment, directory)
    title = "Phản biện dự thảo Nghị quyết về phí chợ"
    points = ["Mức phí quá cao so với thu nhập của tiểu thương.", "Cần lấy ý kiến tiểu thương."]
    answers = [
        "khong-co-co-quan-nay",  # refused: asked again
        directory.agency_id,
        "1",  # social criticism
        title,
        "",  # not a registered draft: named in words below
        points[0],
        "Điều 5, khoản 2",
        points[1],
        "",  # no citation
        "",  # no more points
        "Nghị quyết quy định mức thu phí chợ",
        "Sở Tài chính",
        "Dự thảo lần 3",
        "",  # no legal basis
        "y",
    ]

    submitted = await officer("submit", "--interactive", stdin="\n".join(answers) + "\n")
    critique_id = submitted_id(submitted)
    assert directory.agency_id in submitted.stdout  # the agencies to choose from
    assert "give a number from the list or one of the ids" in submitted.stdout + submitted.stderr

    shown = await officer("show", critique_id)
    assert title in shown.seen
    assert f"1 {points[0]} Điều 5, khoản 2" in shown.seen
    assert f"2 {points[1]}" in shown.seen
    assert "Nghị quyết quy định mức thu phí chợ, Sở Tài chính, Dự thảo lần 3" in shown.seen


async def test_an_officer_cites_the_clauses_of_a_registered_draft_and_reads_them_back(
    deployment: Deployment,
) -> None:
    directory = await register(deployment)
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        draft = await drafts.registered(agency, directory)
        await agency.AddDraftVersion(
            drafts.first_version(draft, request_id="v1", planned_in=20),
            metadata=drafts.bearer(directory.agency_token),
        )
    officer = as_officer(deployment, directory)
    answers = [
        directory.agency_id,
        "1",  # social criticism
        "Phản biện dự thảo Nghị định về phí chợ",
        draft.draft_id,
        "1",
        "Mức thu chợ hạng 1 quá cao.",
        "dieu-2.khoan-1.diem-a",
        "",  # no more points
        "",  # no legal basis
        "y",
    ]
    async with asyncio.timeout(60):
        while True:  # until submission has heard of the version from tracking
            submitted = await officer("submit", "--interactive", stdin="\n".join(answers) + "\n")
            if "draft_version" not in submitted.stderr:
                break
            await asyncio.sleep(0.5)
    critique_id = submitted_id(submitted)
    shown = await officer("show", critique_id)
    assert shown.code == 0, shown
    assert "điểm a khoản 1 Điều 2: Chợ hạng 1: 300.000 đồng/tháng;" in shown.seen
    assert "Dự thảo Nghị định quy định mức thu phí sử dụng chợ" in shown.seen

    answers[6] = "dieu-7"
    refused = await officer("submit", "--interactive", stdin="\n".join(answers) + "\n")
    assert refused.code == 1, refused
    assert "points[0].cites" in refused.stderr
    assert "dieu-7" in refused.stderr


async def test_refusals_are_explained_field_by_field_without_a_traceback(
    deployment: Deployment, tmp_path: Path
) -> None:
    directory = await register(deployment)
    officer = as_officer(deployment, directory)
    file = tmp_path / "critique.json"
    critique = {
        "agency_id": directory.agency_id,
        "kind": "social_criticism",
        "title": "Thiếu dự thảo",
        "points": [{"number": 1, "text": "Một"}, {"number": 1, "text": "Hai"}],
    }
    file.write_text(json.dumps(critique, ensure_ascii=False), encoding="utf-8")
    refused = await officer("submit", str(file))
    assert refused.code == 1
    assert "The critique breaks a rule (HTTP 422)" in refused.stderr
    assert "points[1].number: this number is used twice" in refused.stderr
    assert "draft: social criticism must name the draft" in refused.stderr

    file.write_text("title: Không có điểm nào\n", encoding="utf-8")
    invalid = await officer("submit", str(file))
    assert invalid.code == 1
    assert "points: Field required" in invalid.stderr

    unknown = await officer("show", str(uuid.uuid4()))
    assert (unknown.code, "No such critique" in unknown.stderr) == (1, True)

    forged = await cli(deployment.submission_url, "sv_org_forged", "whoami")
    assert forged.code == 1
    assert "An organisation's bearer token is required" in forged.stderr

    no_token = await cli(deployment.submission_url, "", "list")
    assert no_token.code == 2
    assert "SUPERVISION_TOKEN" in no_token.stderr

    whoami = await officer("whoami")
    assert whoami.code == 0
    assert "Ủy ban MTTQ Việt Nam xã Hòa Bình" in whoami.stdout


async def answer_as_agency(deployment: Deployment, directory: Directory, critique_id: str) -> None:
    """The agency answers over gRPC; returns once submission has heard of the answer."""
    metadata = (("authorization", f"Bearer {directory.agency_token}"),)
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        async with asyncio.timeout(60):
            while True:
                listed = await agency.ListCases(pb.ListCasesRequest(), metadata=metadata)
                cases = [c for c in listed.cases if c.critique_id == critique_id]
                if cases:
                    break
                await asyncio.sleep(0.2)
        await agency.SubmitAnswer(
            pb.SubmitAnswerRequest(
                case_id=cases[0].case_id,
                request_id=str(uuid.uuid4()),
                version=cases[0].version,
                answers=[
                    pb.PointAnswer(point_number=1, disposition=pb.DISPOSITION_ACCEPTED),
                    pb.PointAnswer(
                        point_number=2,
                        disposition=pb.DISPOSITION_NOT_ACCEPTED,
                        explanation="Đã tổ chức đối thoại tại hội nghị tiếp xúc cử tri.",
                    ),
                ],
            ),
            metadata=metadata,
        )
    headers = {"Authorization": f"Bearer {directory.organisation_token}"}
    async with asyncio.timeout(60), httpx.AsyncClient(headers=headers) as http:
        url = f"{deployment.submission_url}/v1/critiques/{critique_id}"
        while (await http.get(url)).json()["status"] != "answered":
            await asyncio.sleep(0.2)


async def test_show_gives_the_agencys_answer_to_each_point(
    deployment: Deployment, tmp_path: Path
) -> None:
    directory = await register(deployment)
    officer = as_officer(deployment, directory)
    file = tmp_path / "kiến-nghị.yaml"
    file.write_text(
        f"""agency_id: {directory.agency_id}
kind: supervision_recommendation
title: Kiến nghị về việc công khai quy hoạch sử dụng đất
points:
  - number: 1
    text: Niêm yết công khai quy hoạch tại trụ sở xã.
    citation: Điều 48
  - number: 2
    text: Tổ chức đối thoại với người dân bị ảnh hưởng.
""",
        encoding="utf-8",
    )
    critique_id = submitted_id(await officer("submit", str(file)))

    await answer_as_agency(deployment, directory, critique_id)

    shown = await officer("show", critique_id)
    assert shown.code == 0, shown
    assert "Đã trả lời / Answered" in shown.stdout
    assert "(on time / đúng hạn)" in shown.stdout
    lines = shown.stdout.splitlines()
    first = next(line for line in lines if "Niêm yết công khai quy hoạch" in line)
    second = next(line for line in lines if "Tổ chức đối thoại với người dân" in line)
    assert "Tiếp thu / Accepted" in first
    assert "Không tiếp thu / Not accepted" in second
    assert "Đã tổ chức đối thoại tại hội nghị tiếp xúc cử tri." in shown.stdout
