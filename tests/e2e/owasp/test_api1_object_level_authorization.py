"""API1:2023 Broken Object Level Authorization — an id is not a key.

Knowing the id of another organisation's critique (of its attachment, its request, its
agency's extension request) gets an organisation nothing on any route that takes one: the
answer is the 404 of an id that does not exist, word for word, and nothing changes. An agency
gets NOT_FOUND for another agency's case on every call that takes a case id, and lists and
watches its own cases only; over mutual TLS, its certificate reaches its own cases alone. The
public sees nothing that is not disclosed: no unpublished critique by any route of the public
site, and no attachment ever."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.e2e.owasp.calls import (
    GRPCURL_FAILED,
    agency_metadata,
    answer_all,
    assert_problem,
    attach,
    bearer,
    case_of,
    grpcurl_tls,
    issue_certificate,
    rpc_error,
    submit,
)
from tests.support.directory import register
from tests.support.journeys import eventually
from tests.support.services import Deployment, Tls


def _without_id(problem: dict[str, Any], *ids: str) -> dict[str, Any]:
    """The problem as it reads with the ids asked for blanked out."""
    detail = problem.get("detail") or ""
    for named in ids:
        detail = detail.replace(named, "<id>")
    return {**problem, "detail": detail}


async def test_another_organisation_finds_nothing_behind_its_ids(
    deployment: Deployment, submission_client: httpx.AsyncClient, agency: pb_grpc.AgencyServiceStub
) -> None:
    owner = await register(deployment)
    other = await register(deployment)
    http = submission_client
    critique = await submit(http, owner)
    critique_id = critique["id"]
    attachment = await attach(http, owner, critique_id)
    amendment = await http.put(
        f"/v1/critiques/{critique_id}",
        json={"title": "Kiến nghị đã sửa", "points": critique["points"][:1]},
        headers={**bearer(owner.organisation_token), "If-Match": '"1"'},
    )
    assert amendment.status_code == 202, amendment.text
    request_id = amendment.json()["id"]
    case = await case_of(agency, owner, critique_id)
    later = (date.fromisoformat(case.due_date) + timedelta(days=15)).isoformat()
    await agency.RequestExtension(
        pb.RequestExtensionRequest(
            case_id=case.case_id,
            request_id=str(uuid.uuid4()),
            reason="Cần thêm thời gian lấy ý kiến các phòng ban.",
            requested_due_date=later,
        ),
        metadata=agency_metadata(owner.agency_token),
    )

    async def extension_heard() -> str | None:
        found = await http.get(
            f"/v1/critiques/{critique_id}/extensions", headers=bearer(owner.organisation_token)
        )
        return found.json()[0]["id"] if found.json() else None

    extension_id = await eventually(extension_heard, timeout=30)

    async def amendment_decided() -> bool:
        found = await http.get(
            f"/v1/critiques/{critique_id}/requests/{request_id}",
            headers=bearer(owner.organisation_token),
        )
        return bool(found.json()["status"] != "pending")

    await eventually(amendment_decided, timeout=30)  # nothing of the owner's still moving
    theirs = await submit(http, other)
    owned_before = (
        await http.get(f"/v1/critiques/{critique_id}", headers=bearer(owner.organisation_token))
    ).json()

    content = {"title": "Sửa hộ", "points": [{"number": 1, "text": "Nội dung khác."}]}
    routes: dict[str, tuple[str, str, dict[str, Any]]] = {
        "read": ("GET", "/v1/critiques/{c}", {}),
        "amend": ("PUT", "/v1/critiques/{c}", {"json": content, "headers": {"If-Match": '"1"'}}),
        "withdraw": ("POST", "/v1/critiques/{c}/withdrawal", {"json": {"reason": "Rút."}}),
        "history": ("GET", "/v1/critiques/{c}/history", {}),
        "requests": ("GET", "/v1/critiques/{c}/requests", {}),
        "one request": ("GET", "/v1/critiques/{c}/requests/{r}", {}),
        "attachments": ("GET", "/v1/critiques/{c}/attachments", {}),
        "download": ("GET", "/v1/critiques/{c}/attachments/{a}", {}),
        "attach": (
            "POST",
            "/v1/critiques/{c}/attachments",
            {
                "params": {"filename": "x.pdf"},
                "content": b"%PDF-1.4\n%%EOF\n",
                "headers": {"Content-Type": "application/pdf"},
            },
        ),
        "extensions": ("GET", "/v1/critiques/{c}/extensions", {}),
        "decide": ("POST", "/v1/critiques/{c}/extensions/{e}/decision", {"json": {"grant": True}}),
    }
    real = {"c": critique_id, "r": request_id, "a": attachment["id"], "e": extension_id}
    # Under the other organisation's own critique, the owner's request, attachment and
    # extension ids: an id of one critique is nothing under another.
    mixed = {**real, "c": theirs["id"]}
    answered: dict[str, int] = {}
    for name, (method, template, given) in routes.items():
        headers = {**bearer(other.organisation_token), **given.get("headers", {})}
        options = {key: value for key, value in given.items() if key != "headers"}
        invented = {key: str(uuid.uuid4()) for key in real}
        tried = [("owner's ids", real)]
        if any(f"{{{key}}}" in template for key in "rae"):
            tried.append(("under its own critique", mixed))
        for label, ids in tried:
            refused = await http.request(method, template.format(**ids), headers=headers, **options)
            missing = await http.request(
                method, template.format(**invented), headers=headers, **options
            )
            answered[f"{name}, {label}"] = refused.status_code
            if refused.status_code == 404:
                problem = assert_problem(refused, 404, "not-found")
                assert refused.headers["cache-control"] == "no-store"
                # Word for word the answer for ids that exist nowhere.
                assert _without_id(problem, *ids.values()) == _without_id(
                    assert_problem(missing, 404, "not-found"), *invented.values()
                ), name
    assert answered == dict.fromkeys(answered, 404)

    listed = await http.get("/v1/critiques", headers=bearer(other.organisation_token))
    assert [c["id"] for c in listed.json()["items"]] == [theirs["id"]]
    escalated = await http.get("/v1/escalations", headers=bearer(other.organisation_token))
    assert escalated.json() == []

    # Nothing changed on the owner's side.
    owned = await http.get(f"/v1/critiques/{critique_id}", headers=bearer(owner.organisation_token))
    assert owned.json() == owned_before
    files = await http.get(
        f"/v1/critiques/{critique_id}/attachments", headers=bearer(owner.organisation_token)
    )
    assert [a["id"] for a in files.json()] == [attachment["id"]]
    extensions = await http.get(
        f"/v1/critiques/{critique_id}/extensions", headers=bearer(owner.organisation_token)
    )
    assert [(e["id"], e["status"], e["decision_request"]) for e in extensions.json()] == [
        (extension_id, "pending", None)
    ]


async def test_another_agency_finds_no_case_behind_its_id(
    deployment: Deployment, submission_client: httpx.AsyncClient, agency: pb_grpc.AgencyServiceStub
) -> None:
    owner = await register(deployment)
    other = await register(deployment)
    case = await case_of(agency, owner, (await submit(submission_client, owner))["id"])
    own = await case_of(agency, other, (await submit(submission_client, other))["id"])
    later = (date.fromisoformat(case.due_date) + timedelta(days=15)).isoformat()
    theirs = agency_metadata(other.agency_token)

    def calls(case_id: str) -> dict[str, Any]:
        return {
            "GetCase": agency.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=theirs),
            "AcknowledgeCase": agency.AcknowledgeCase(
                pb.AcknowledgeCaseRequest(case_id=case_id), metadata=theirs
            ),
            "RequestExtension": agency.RequestExtension(
                pb.RequestExtensionRequest(
                    case_id=case_id,
                    request_id=str(uuid.uuid4()),
                    reason="Xin gia hạn.",
                    requested_due_date=later,
                ),
                metadata=theirs,
            ),
            "SubmitAnswer": agency.SubmitAnswer(
                pb.SubmitAnswerRequest(
                    case_id=case_id,
                    request_id=str(uuid.uuid4()),
                    version=case.version,
                    answers=[
                        pb.PointAnswer(point_number=p.number, disposition=pb.DISPOSITION_ACCEPTED)
                        for p in case.points
                    ],
                ),
                metadata=theirs,
            ),
        }

    invented = str(uuid.uuid4())
    for (name, call), missing in zip(
        calls(case.case_id).items(), calls(invented).values(), strict=True
    ):
        refused = await rpc_error(call)
        unknown = await rpc_error(missing)
        assert refused.code() == grpc.StatusCode.NOT_FOUND, (name, refused.details())
        assert unknown.code() == grpc.StatusCode.NOT_FOUND, name
        assert refused.details().replace(case.case_id, "<id>") == unknown.details().replace(
            invented, "<id>"
        ), name

    listed = await agency.ListCases(pb.ListCasesRequest(page_size=100), metadata=theirs)
    assert [c.case_id for c in listed.cases] == [own.case_id]
    watch = agency.WatchCases(pb.WatchCasesRequest(from_beginning=True), metadata=theirs)
    try:
        first = await watch.read()
    finally:
        watch.cancel()
    assert isinstance(first, pb.CaseChange)
    assert first.case.case_id == own.case_id  # its own first change: nothing of another before

    untouched = await agency.GetCase(
        pb.GetCaseRequest(case_id=case.case_id), metadata=agency_metadata(owner.agency_token)
    )
    assert untouched.status == pb.CASE_STATUS_AWAITING_ANSWER
    assert not untouched.HasField("acknowledged_at")
    assert list(untouched.extensions) == []
    assert list(untouched.answers) == []


async def test_another_agencys_certificate_reaches_none_of_its_cases(
    deployment: Deployment,
    submission_client: httpx.AsyncClient,
    agency: pb_grpc.AgencyServiceStub,
    tls: Tls,
    mutual_tracking: str,
    tmp_path: Path,
) -> None:
    """Over mutual TLS, with grpcurl: the certificate acts for its own agency only."""
    owner = await register(deployment)
    other = await register(deployment)
    case = await case_of(agency, owner, (await submit(submission_client, owner))["id"])
    mine = issue_certificate(deployment, tls, owner.agency_id, tmp_path)
    theirs = issue_certificate(deployment, tls, other.agency_id, tmp_path)
    get_case = "supervision.agency.v1.AgencyService/GetCase"
    foreign = await asyncio.to_thread(
        grpcurl_tls, mutual_tracking, tls, get_case, cert=theirs, data={"case_id": case.case_id}
    )
    assert foreign.returncode == GRPCURL_FAILED + grpc.StatusCode.NOT_FOUND.value[0]
    assert case.title not in foreign.stdout + foreign.stderr
    own = await asyncio.to_thread(
        grpcurl_tls, mutual_tracking, tls, get_case, cert=mine, data={"case_id": case.case_id}
    )
    assert own.returncode == 0, own.stderr
    assert case.case_id in own.stdout


async def test_the_public_sees_no_undisclosed_critique_and_no_attachment(
    deployment: Deployment,
    submission_client: httpx.AsyncClient,
    disclosure_client: httpx.AsyncClient,
    agency: pb_grpc.AgencyServiceStub,
) -> None:
    office = await register(deployment)
    marker = uuid.uuid4().hex
    hidden = await submit(
        submission_client, office, title=f"Kiến nghị chưa công bố {marker}"
    )  # awaiting an answer: not disclosed
    published = await submit(submission_client, office, title=f"Kiến nghị đã trả lời {marker}")
    attachment = await attach(submission_client, office, published["id"])
    await answer_all(agency, office, await case_of(agency, office, published["id"]))
    public = disclosure_client

    async def disclosed() -> dict[str, Any] | None:
        reply = await public.get(f"/v1/records/{published['id']}")
        return reply.json() if reply.status_code == 200 else None

    record = await eventually(disclosed, timeout=30)
    # Disclosure holds the undisclosed critique too: what follows is a refusal to show it, not
    # its absence.
    connection = await asyncpg.connect(deployment.database_urls["disclosure"])
    try:

        async def held() -> bool | None:
            unpublished: bool | None = await connection.fetchval(
                "SELECT published_at IS NULL FROM records WHERE critique_id = $1",
                uuid.UUID(hidden["id"]),
            )
            return unpublished

        assert await eventually(held, timeout=30) is True
    finally:
        await connection.close()

    refused = await public.get(f"/v1/records/{hidden['id']}")
    missing = await public.get(f"/v1/records/{uuid.uuid4()}")
    assert assert_problem(refused, 404, "not-found") == assert_problem(missing, 404, "not-found")
    page = await public.get(f"/records/{hidden['id']}")
    assert page.status_code == 404
    assert marker not in page.text
    log = await public.get(f"/v1/log/critiques/{hidden['id']}")
    assert_problem(log, 404, "not-found")

    everywhere = {
        "records": await public.get("/v1/records", params={"organisation": office.organisation_id}),
        "search": await public.get("/v1/records", params={"q": marker}),
        "changes": await public.get("/v1/changes", params={"since": 0}),
        "search page": await public.get("/search", params={"q": marker}),
        "home": await public.get("/"),
        "feed": await public.get("/feeds/records.atom"),
        "organisation feed": await public.get(
            f"/feeds/organisations/{office.organisation_id}.atom"
        ),
        "agency feed": await public.get(f"/feeds/agencies/{office.agency_id}.atom"),
        "agency page": await public.get(f"/agencies/{office.agency_id}"),
        "csv": await public.get("/exports/records.csv"),
        "jsonl": await public.get("/exports/records.jsonl"),
        "record": await public.get(f"/v1/records/{published['id']}"),
        "record page": await public.get(f"/records/{published['id']}"),
    }
    assert {name: reply.status_code for name, reply in everywhere.items()} == dict.fromkeys(
        everywhere, 200
    )
    assert published["id"] in everywhere["records"].text  # the search does find what is public
    for name, reply in everywhere.items():
        assert hidden["id"] not in reply.text, name
        assert f"chưa công bố {marker}" not in reply.text, name
        for told in (attachment["id"], attachment["sha256"], "biên bản.pdf"):
            assert told not in reply.text, (name, told)
    assert "attachments" not in record
    # The file itself is the organisation's: no public route serves it, and submission's wants
    # the organisation's token.
    for url in (
        f"/v1/records/{published['id']}/attachments",
        f"/v1/records/{published['id']}/attachments/{attachment['id']}",
    ):
        assert_problem(await public.get(url), 404, "http-404")
    download = await submission_client.get(
        f"/v1/critiques/{published['id']}/attachments/{attachment['id']}"
    )
    assert_problem(download, 401, "unauthenticated")
