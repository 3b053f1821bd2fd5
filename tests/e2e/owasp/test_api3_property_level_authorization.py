"""API3:2023 Broken Object Property Level Authorization — no mass assignment, no excess data.

What a client may set is what the request models name (contracts/submission_api.py, every one
``extra="forbid"``): a body that also names a property the server decides — the critique's id,
its organisation, status, version or dates, an agency's disposition — is refused whole, 422
naming that property, and nothing is stored or changed; it is never silently dropped, so a
client cannot believe it set what it did not. What a response carries is what its OpenAPI
schema names, no more: no token or token hash, no other organisation's data, and in the public
record none of the names the organisation asked to hide."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx

from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.e2e.owasp.calls import (
    answer_all,
    assert_problem,
    attach,
    bearer,
    case_of,
    response_schema,
    submit,
    undocumented,
)
from tests.support.directory import register
from tests.support.journeys import critique_body, eventually
from tests.support.services import Deployment

SET_BY_THE_SERVER: dict[str, Any] = {
    "id": str(uuid.uuid4()),
    "organisation_id": "mttq-tinh-bac-ninh",
    "status": "answered",
    "status_label": "Đã trả lời",
    "version": 7,
    "submitted_at": "2020-01-01T00:00:00Z",
    "created_at": "2020-01-01T00:00:00Z",
    "due_date": "2099-12-31",
    "acknowledged_at": "2020-01-02T00:00:00Z",
    "answered_at": "2020-01-02T00:00:00Z",
    "answered_late": False,
    "changeable": True,
    "overdue": False,
    "answers": [{"point_number": 1, "disposition": "accepted"}],
    "pending_requests": [],
}
"""Properties of a critique the server decides, each of which a client might try to set."""

NESTED = {
    "points[0].disposition": ("points", 0, "disposition", "accepted"),
    "points[0].explanation": ("points", 0, "explanation", "Đã tiếp thu."),
    "draft.status": ("draft", None, "status", "approved"),
}


def _with_nested(
    body: dict[str, Any], container: str, index: int | None, key: str, value: Any
) -> None:
    target = body[container] if index is None else body[container][index]
    target[key] = value


async def test_a_submission_naming_what_the_server_decides_is_refused_and_not_stored(
    deployment: Deployment, submission_client: httpx.AsyncClient
) -> None:
    office = await register(deployment)
    headers = bearer(office.organisation_token)
    attempts: dict[str, dict[str, Any]] = {
        field: critique_body(office, **{field: value}) for field, value in SET_BY_THE_SERVER.items()
    }
    for field, (container, index, key, value) in NESTED.items():
        body = critique_body(
            office,
            kind="social_criticism",
            draft={"title": "Dự thảo Luật Đất đai (sửa đổi)", "drafting_agency": "Bộ TN&MT"},
        )
        _with_nested(body, container, index, key, value)
        attempts[field] = body
    for field, body in attempts.items():
        refused = await submission_client.post("/v1/critiques", json=body, headers=headers)
        problem = assert_problem(refused, 422, "invalid-request")
        assert [e["field"] for e in problem["errors"]] == [field], problem
        assert refused.headers["cache-control"] == "no-store"
    stored = await submission_client.get("/v1/critiques", headers=headers)
    assert stored.json()["items"] == []


async def test_an_amendment_withdrawal_or_decision_naming_more_is_refused_and_changes_nothing(
    deployment: Deployment, submission_client: httpx.AsyncClient
) -> None:
    office = await register(deployment)
    headers = bearer(office.organisation_token)
    critique = await submit(submission_client, office)
    url = f"/v1/critiques/{critique['id']}"
    content = {"title": "Kiến nghị đã sửa", "points": critique["points"]}
    refusals = {
        # Moving the critique to another agency, kind or organisation, or past its version.
        "agency_id": ("PUT", url, {**content, "agency_id": "bo-tu-phap"}),
        "kind": ("PUT", url, {**content, "kind": "social_criticism"}),
        "organisation_id": ("PUT", url, {**content, "organisation_id": "mttq-tinh-bac-ninh"}),
        "version": ("PUT", url, {**content, "version": 9}),
        "status": ("POST", f"{url}/withdrawal", {"reason": "Rút.", "status": "withdrawn"}),
        "decided_at": (
            "POST",
            f"{url}/withdrawal",
            {"reason": "Rút.", "decided_at": "2020-01-01T00:00:00Z"},
        ),
        "requested_due_date": (
            "POST",
            f"{url}/extensions/{uuid.uuid4()}/decision",
            {"grant": True, "requested_due_date": "2099-12-31"},
        ),
    }
    for field, (method, path, body) in refusals.items():
        reply = await submission_client.request(
            method, path, json=body, headers={**headers, "If-Match": '"1"'}
        )
        problem = assert_problem(reply, 422, "invalid-request")
        assert [e["field"] for e in problem["errors"]] == [field], problem
    after = (await submission_client.get(url, headers=headers)).json()
    unchanged = ("agency_id", "kind", "organisation_id", "version", "title", "points")
    assert {key: after[key] for key in unchanged} == {key: critique[key] for key in unchanged}
    assert after["pending_requests"] == []
    assert after["withdrawn_at"] is None
    requests = await submission_client.get(f"{url}/requests", headers=headers)
    assert requests.json() == []


async def test_responses_carry_what_their_schema_names_and_no_secret(
    deployment: Deployment,
    submission_client: httpx.AsyncClient,
    disclosure_client: httpx.AsyncClient,
    agency: pb_grpc.AgencyServiceStub,
) -> None:
    office = await register(deployment)
    headers = bearer(office.organisation_token)
    hidden_name = f"Nguyễn Văn {uuid.uuid4().hex[:6]}"
    critique = await submit(
        submission_client,
        office,
        points=[{"number": 1, "text": f"Ông {hidden_name} phản ánh việc chậm cấp sổ đỏ."}],
        redact_names=[hidden_name],
    )
    critique_id = critique["id"]
    attachment = await attach(submission_client, office, critique_id)
    await answer_all(agency, office, await case_of(agency, office, critique_id))

    async def answered() -> dict[str, Any] | None:
        reply = await submission_client.get(f"/v1/critiques/{critique_id}", headers=headers)
        return reply.json() if reply.json()["status"] == "answered" else None

    await eventually(answered, timeout=30)
    private = (await submission_client.get("/openapi.json")).json()
    served = {
        ("/v1/me", "get", 200): await submission_client.get("/v1/me", headers=headers),
        ("/v1/agencies", "get", 200): await submission_client.get("/v1/agencies"),
        ("/v1/agencies/{agency_id}", "get", 200): await submission_client.get(
            f"/v1/agencies/{office.agency_id}"
        ),
        ("/v1/critiques", "get", 200): await submission_client.get(
            "/v1/critiques", headers=headers
        ),
        ("/v1/critiques/{critique_id}", "get", 200): await submission_client.get(
            f"/v1/critiques/{critique_id}", headers=headers
        ),
        ("/v1/critiques/{critique_id}/history", "get", 200): await submission_client.get(
            f"/v1/critiques/{critique_id}/history", headers=headers
        ),
        ("/v1/critiques/{critique_id}/attachments", "get", 200): await submission_client.get(
            f"/v1/critiques/{critique_id}/attachments", headers=headers
        ),
        ("/v1/critiques/{critique_id}/requests", "get", 200): await submission_client.get(
            f"/v1/critiques/{critique_id}/requests", headers=headers
        ),
        ("/v1/critiques/{critique_id}/extensions", "get", 200): await submission_client.get(
            f"/v1/critiques/{critique_id}/extensions", headers=headers
        ),
        ("/v1/escalations", "get", 200): await submission_client.get(
            "/v1/escalations", headers=headers
        ),
    }
    submitted = {("/v1/critiques", "post", 201): critique}
    submitted[("/v1/critiques/{critique_id}/attachments", "post", 201)] = attachment
    bodies = {key: reply.json() for key, reply in served.items()} | submitted
    for (path, method, status), body in bodies.items():
        schema = response_schema(private, path, method, status)
        assert undocumented(private, schema, body) == [], (method, path)

    secrets = [
        office.organisation_token,
        hashlib.sha256(office.organisation_token.encode()).hexdigest(),
        office.agency_token,
    ]
    texts = [reply.text for reply in served.values()]
    assert not [s for s in secrets for text in texts if s in text]
    # Only the organisation's own, and only what an agency's directory entry says.
    listed = bodies[("/v1/critiques", "get", 200)]["items"]
    assert {c["organisation_id"] for c in listed} == {office.organisation_id}

    public = (await disclosure_client.get("/openapi.json")).json()

    async def disclosed() -> httpx.Response | None:
        reply = await disclosure_client.get(f"/v1/records/{critique_id}")
        return reply if reply.status_code == 200 else None

    record = await eventually(disclosed, timeout=30)
    published = {
        ("/v1/records/{critique_id}", "get", 200): record,
        ("/v1/records", "get", 200): await disclosure_client.get(
            "/v1/records", params={"organisation": office.organisation_id}
        ),
        ("/v1/changes", "get", 200): await disclosure_client.get("/v1/changes"),
        ("/v1/agencies/{agency_id}", "get", 200): await disclosure_client.get(
            f"/v1/agencies/{office.agency_id}"
        ),
        ("/v1/log/critiques/{critique_id}", "get", 200): await disclosure_client.get(
            f"/v1/log/critiques/{critique_id}"
        ),
    }
    for (path, method, status), reply in published.items():
        assert reply.status_code == status, (path, reply.text)
        schema = response_schema(public, path, method, status)
        assert undocumented(public, schema, reply.json()) == [], path
        # Nothing of the organisation's private side: its token, the names it hid, its file.
        for told in (*secrets, hidden_name, attachment["id"], attachment["sha256"]):
            assert told not in reply.text, (path, told)
    assert [r["kind"] for r in record.json()["redactions"]] == ["name"]
